"""Atomic file writes: write to a temporary file beside the target, then rename it over the target.

A reader sees the old file or the new one, never a partial one. A writer killed mid-write (SIGKILL, power loss)
leaves its temporary file, named ``.<target name>.<random>.tmp``; ``leftover_temps`` finds them for the owner of
the target to remove.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """``write(tmp_path)`` fills the temporary file; it is then renamed to ``path`` (removed if ``write`` fails)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    atomic_write(path, write)


def atomic_torch_save(obj: object, path: Path) -> None:
    import torch
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def leftover_temps(path: Path) -> list[Path]:
    """Temporary files of ``path``'s atomic writes; one outlives its writer only if that was killed."""
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))
