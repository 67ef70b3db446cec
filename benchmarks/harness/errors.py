"""Mistakes a user can make and fix, and how the command-line entry points report them.

A bad value, a bad path or a full disk ends a command with one line naming the key or file and the fix, and a
non-zero exit status, never a traceback (``PLASTICBENCH_TRACEBACK=1`` shows it for debugging). Bugs keep their
traceback.
"""
from __future__ import annotations

import errno
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

EXIT_USER_ERROR = 2
MIN_FREE_BYTES = 1 << 20  # a folder with less free space cannot take a checkpoint or a report: refuse it up front
_FIX = {errno.ENOSPC: "the disk is full: free space or write elsewhere",
        errno.EDQUOT: "the disk quota is exceeded: free space or write elsewhere",
        errno.EROFS: "the file system is read-only: choose a writable folder",
        errno.EACCES: "permission denied: choose a folder you can write to",
        errno.EPERM: "operation not permitted: choose a folder you can write to",
        errno.ELOOP: "the path goes round a loop of symbolic links: fix or remove the links",
        errno.ENOTDIR: "a component of the path is a file, not a folder: choose another path",
        errno.EEXIST: "a file of that name is in the way: choose another path or move the file",
        errno.ENOENT: "no such file or folder"}


class UserError(ValueError):
    """A mistake in the input (config value, path, data file) that the user can fix; the message says how."""


def describe(err: OSError) -> str:
    """An OSError as '<file>: <what went wrong and what to do>'."""
    where = f"{err.filename}" + (f" -> {err.filename2}" if err.filename2 else "")
    what = _FIX.get(err.errno, err.strerror or str(err))
    return f"{where}: {what}" if err.filename else what


def writable_dir(path: str | os.PathLike, key: str) -> Path:
    """Create ``path`` if needed and prove it takes a file, so a long run cannot fail at its last step for
    want of a place to write; raises UserError naming ``key`` otherwise."""
    if not str(path).strip():
        raise UserError(f"{key} is empty; give the folder to write to (e.g. {key}=/tmp/runs)")
    folder = Path(path).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except FileExistsError:
        what = "is a symbolic link that leads nowhere or round a loop" if folder.is_symlink() else \
            "exists but is not a folder"
        raise UserError(f"{key}={path} {what}: choose another path") from None
    except RuntimeError as err:  # Path.mkdir on a symlink loop (Python < 3.13)
        raise UserError(f"{key}={path}: {err}: fix or remove the links") from None
    except OSError as err:
        raise UserError(f"{key}={path} is not a writable folder ({describe(err)})") from None
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        raise UserError(f"{key}={path}: only {free} bytes free on its disk (at least {MIN_FREE_BYTES} needed); free "
                        "space or write elsewhere")
    return folder


@contextmanager
def command_errors(command: str) -> Iterator[None]:
    """Turn user errors (UserError, ValueError, OSError, config composition errors) into one line on stderr and
    exit status 2."""
    try:
        yield
    except KeyboardInterrupt:
        print(f"[{command}] interrupted: every file is written whole or not at all (temporary file + rename), so "
              "nothing is half-written; run the same command again to resume", file=sys.stderr, flush=True)
        raise SystemExit(130) from None
    except (ValueError, OSError, HydraException, OmegaConfBaseException) as err:
        if os.environ.get("PLASTICBENCH_TRACEBACK"):
            raise
        text = describe(err) if isinstance(err, OSError) and err.filename else str(err)
        if isinstance(err, HydraException) and err.__cause__ is not None:
            text += f" ({err.__cause__})"
        print(f"[{command}] error: {' '.join(text.split())}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_USER_ERROR) from None
