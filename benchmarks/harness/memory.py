"""Peak memory of one training update (sample, forward, backward, optimizer step), not of the whole process.

``ru_maxrss`` only ever grows: in a worker that already ran a bigger cell (joblib reuses processes) it reports
that cell's peak. The RSS also holds heap pages the allocator kept after earlier work (glibc does not hand freed
memory back at once), so a peak read alone overstates what an update needs. On Linux the kernel's high-water mark ``VmHWM`` can be reset to the current RSS by writing
``5`` to ``/proc/self/clear_refs``; reset before an update and read after it, it is that update's own peak.
Where the reset is refused (not Linux, or a locked-down /proc) the meter falls back to ``ru_maxrss`` and says so
in ``method``, so a record never passes a process peak off as a per-update one. On CUDA the allocator's own
peak (``max_memory_allocated``, reset per update) is recorded beside it. The reset also resets what
``ru_maxrss`` reports, so the meter keeps the process peak itself (``process_peak_rss_mb``).

``update_need_mb``: on sampled updates (the first two, then every ``sample_every``-th) the meter first returns
the allocator's free pages to the system (glibc ``malloc_trim``), so that update's growth above its starting RSS
is the memory the update itself allocates. Sampled only because the update then page-faults its buffers in
again (a few percent of that update's time).

``every`` (the run setting ``memory_every``): only the first two updates and every ``every``-th are measured, for
cells whose update is so short (Omniglot at one episode per update: ~10 ms) that three /proc reads per update show.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import re
import resource
import statistics
from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_mb(field: str) -> float | None:
    try:
        match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) / 1024 if match else None


def _reset_hwm() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    """The C library, loaded once (``find_library`` runs external tools)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def _malloc_trim() -> bool:
    """Hand the C heap's free pages back to the system (glibc); False where there is no malloc_trim."""
    libc = _libc()
    if libc is None or not hasattr(libc, "malloc_trim"):
        return False
    libc.malloc_trim(0)  # returns whether anything was released: either way the heap is trimmed now
    return True


def rss_mb() -> float | None:
    """Resident set size now (``VmRSS``), or None where /proc is not readable."""
    return _status_mb("VmRSS")


def process_peak_mb() -> float:
    """Peak RSS since the process started or since the last reset (``VmHWM``; ``ru_maxrss`` where absent)."""
    hwm = _status_mb("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class UpdateMemory:
    """Per-update peaks: ``start()`` before an update, ``stop()`` after it; ``summary()`` for the record."""

    def __init__(self, device: torch.device, sample_every: int = 50, every: int = 1) -> None:
        """``every``: measure the first two updates and then every ``every``-th one (the run setting
        ``memory_every``); the others run unprobed. ``sample_every`` counts measured updates."""
        self.cuda = device.type == "cuda"
        self.sample_every, self.every = sample_every, every
        self.updates = 0  # every update started, measured or not
        self._probing = False
        self.needs_mb: list[float] = []  # growth of the sampled updates, measured from a trimmed heap
        self._sampled = False
        self.device = device
        self.process_peak_mb = process_peak_mb()  # read before the first reset erases it
        self.per_update = _reset_hwm() and _status_mb("VmHWM") is not None
        self.method = "VmHWM reset per update" if self.per_update \
            else "ru_maxrss (process peak: no per-update reset on this system)"
        self.peaks_mb: list[float] = []  # RSS peak of each update
        self.before_mb: list[float] = []  # RSS when each update started
        self.cuda_peaks_mb: list[float] = []

    def start(self) -> None:
        self._probing = self.updates < 2 or self.updates % self.every == 0
        self.updates += 1
        if not self._probing:
            return
        if self.per_update:
            self.process_peak_mb = max(self.process_peak_mb, process_peak_mb())  # e.g. evaluation's peak
            n = len(self.peaks_mb)
            self._sampled = (n < 2 or n % self.sample_every == 0) and _malloc_trim()
            _reset_hwm()
            self.before_mb.append(rss_mb() or 0.0)
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(self.device)

    def stop(self) -> None:
        if not self._probing:
            return
        self.peaks_mb.append(process_peak_mb())  # since the last reset: this update's peak
        self.process_peak_mb = max(self.process_peak_mb, self.peaks_mb[-1])
        if self._sampled:
            self.needs_mb.append(self.peaks_mb[-1] - self.before_mb[-1])
        if self.cuda:
            self.cuda_peaks_mb.append(torch.cuda.max_memory_allocated(self.device) / 2**20)

    def last_update(self) -> dict[str, float]:
        """The last update's peaks, for the per-update log (benchmarks.harness.loggers); empty when that update
        was not measured."""
        if not self._probing:
            return {}
        last = {"update_peak_mb": self.peaks_mb[-1]}
        if self.cuda:
            last["update_cuda_peak_mb"] = self.cuda_peaks_mb[-1]
        return last

    def summary(self) -> dict[str, object]:
        """Max and median over this run's updates (of the updates run in this process, after a resume)."""
        out: dict[str, object] = {"method": self.method, "updates": len(self.peaks_mb),
                                  "process_peak_rss_mb": self.process_peak_mb}
        if self.every > 1:  # "updates" counts the measured ones
            out.update(measured_every=self.every, updates_run=self.updates)
        if self.peaks_mb:
            out["update_peak_rss_mb"] = {"max": max(self.peaks_mb), "median": statistics.median(self.peaks_mb)}
        if self.before_mb:
            growth = [p - b for p, b in zip(self.peaks_mb, self.before_mb)]
            out["update_growth_mb"] = {"max": max(growth), "median": statistics.median(growth)}
        if self.needs_mb:
            out["update_need_mb"] = {"max": max(self.needs_mb), "median": statistics.median(self.needs_mb),
                                     "sampled_updates": len(self.needs_mb)}
        if self.cuda_peaks_mb:
            out["update_cuda_max_allocated_mb"] = {"max": max(self.cuda_peaks_mb),
                                                   "median": statistics.median(self.cuda_peaks_mb)}
        return out
