"""Runs started by the ``reproduce`` driver end when the driver ends, however it ends (SIGKILL included).

The driver puts its pid in ``$PLASTICBENCH_DRIVER_PID`` for launchers that run cells on this machine; every
process that trains a cell (the hydra multirun process and its joblib workers) watches that pid from a daemon
thread and exits as soon as it is gone. A signal handler in the driver alone could not do this: SIGKILL cannot
be caught, and joblib's workers are grandchildren that a killed parent leaves running.
"""
from __future__ import annotations

import os
import select
import signal
import sys
import threading
import time
from pathlib import Path

ENV = "PLASTICBENCH_DRIVER_PID"
EXIT_DRIVER_GONE = 3
_started = threading.Event()


def watch_driver() -> None:
    """Start (once per process) the thread that ends this process when the driver in ``$ENV`` is gone."""
    pid = os.environ.get(ENV)
    if not pid or _started.is_set():
        return
    _started.set()
    threading.Thread(target=_end_with, args=(int(pid),), name="driver-lifeline", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _end_with(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)  # Linux >= 5.3 only
    except ProcessLookupError:
        fd = None  # gone already
    except (OSError, AttributeError, NotImplementedError):  # no pidfd on this kernel or OS: poll
        while _alive(pid):
            time.sleep(1.0)
        fd = None
    if fd is not None:
        select.select([fd], [], [])  # a pidfd turns readable when its process exits
    print(f"[run pid {os.getpid()}] the reproduce driver (pid {pid}) has ended: stopping this run",
          file=sys.stderr, flush=True)
    for child in descendants(os.getpid()):  # idle pool workers never started a watcher of their own
        try:
            os.kill(child, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    os._exit(EXIT_DRIVER_GONE)


def descendants(root: int) -> list[int]:
    """Every process below ``root`` (from /proc; empty where there is none)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
