"""Atomic file writes: write to a temporary file beside the target, then rename it over the target.

A reader sees the old file or the new one, never a partial one (a full disk or a crash mid-write leaves the
target as it was). A writer killed mid-write (SIGKILL, power loss) leaves its temporary file, named
``.<target name>.<random>.tmp``; ``leftover_temps`` finds them for the owner of the target to remove.

The written file gets the mode a plain ``open(path, "w")`` would give (0666 minus the user's umask), not
``mkstemp``'s private 0600: records, reports and caches are meant to be shared.
"""
from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Callable

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask (reading it means setting it: done under a lock and restored at once)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def shared_mode(directory: bool = False) -> int:
    """The mode a new file (0666) or folder (0777) gets under the user's umask."""
    return (0o777 if directory else 0o666) & ~current_umask()


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """``write(tmp_path)`` fills the temporary file; it is then renamed to ``path`` (removed if ``write`` fails)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            os.fchmod(fd, shared_mode())
        finally:
            os.close(fd)
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


def atomic_savefig(fig: object, path: Path, **kwargs: object) -> None:
    """``fig.savefig`` (matplotlib) to ``path`` atomically; the format comes from ``path``'s suffix."""
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=path.suffix.lstrip("."), **kwargs))


def leftover_temps(path: Path) -> list[Path]:
    """Temporary files of ``path``'s atomic writes; one outlives its writer only if that was killed."""
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))
