"""Peak memory of one training update (sample, forward, backward, optimizer step), not of the whole process.

``ru_maxrss`` only ever grows: in a worker that already ran a bigger cell (joblib reuses processes) it reports
that cell's peak. On Linux the kernel's high-water mark ``VmHWM`` can be reset to the current RSS by writing
``5`` to ``/proc/self/clear_refs``; reset before an update and read after it, it is that update's own peak.
Where the reset is refused (not Linux, or a locked-down /proc) the meter falls back to ``ru_maxrss`` and says so
in ``method``, so a record never passes a process peak off as a per-update one. On CUDA the allocator's own
peak (``max_memory_allocated``, reset per update) is recorded beside it. The reset also resets what
``ru_maxrss`` reports, so the meter keeps the process peak itself (``process_peak_rss_mb``).
"""
from __future__ import annotations

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


def _process_peak_mb() -> float:
    """Peak RSS since the process started or since the last reset (``VmHWM``; ``ru_maxrss`` where absent)."""
    hwm = _status_mb("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class UpdateMemory:
    """Per-update peaks: ``start()`` before an update, ``stop()`` after it; ``summary()`` for the record."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.device = device
        self.process_peak_mb = _process_peak_mb()  # read before the first reset erases it
        self.method = "VmHWM reset per update" if _reset_hwm() and _status_mb("VmHWM") is not None \
            else "ru_maxrss (process peak: no per-update reset on this system)"
        self.per_update = self.method.startswith("VmHWM")
        self.peaks_mb: list[float] = []  # RSS peak of each update
        self.before_mb: list[float] = []  # RSS when each update started
        self.cuda_peaks_mb: list[float] = []

    def start(self) -> None:
        if self.per_update:
            self.process_peak_mb = max(self.process_peak_mb, _process_peak_mb())  # e.g. evaluation's peak
            _reset_hwm()
            self.before_mb.append(_status_mb("VmRSS") or 0.0)
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(self.device)

    def stop(self) -> None:
        self.peaks_mb.append(_process_peak_mb())  # since the last reset: this update's peak
        self.process_peak_mb = max(self.process_peak_mb, self.peaks_mb[-1])
        if self.cuda:
            self.cuda_peaks_mb.append(torch.cuda.max_memory_allocated(self.device) / 2**20)

    def summary(self) -> dict[str, object]:
        """Max and median over this run's updates (of the updates run in this process, after a resume)."""
        out: dict[str, object] = {"method": self.method, "updates": len(self.peaks_mb),
                                  "process_peak_rss_mb": self.process_peak_mb}
        if self.peaks_mb:
            out["update_peak_rss_mb"] = {"max": max(self.peaks_mb), "median": statistics.median(self.peaks_mb)}
        if self.before_mb:
            growth = [p - b for p, b in zip(self.peaks_mb, self.before_mb)]
            out["update_growth_mb"] = {"max": max(growth), "median": statistics.median(growth)}
        if self.cuda_peaks_mb:
            out["update_cuda_max_allocated_mb"] = {"max": max(self.cuda_peaks_mb),
                                                   "median": statistics.median(self.cuda_peaks_mb)}
        return out
