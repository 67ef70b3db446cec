"""A small progress line with ETA, throttled so that parallel runs stay readable."""
from __future__ import annotations

import sys
import time


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class Progress:
    def __init__(self, label: str, total: int, enabled: bool = True, interval_s: float = 10.0,
                 done_before: int = 0) -> None:
        self.label, self.total, self.enabled, self.interval_s = label, total, enabled, interval_s
        self.done_before = done_before  # episodes done by an earlier, resumed part of the run
        self.start = time.perf_counter()
        self.last = -float("inf")

    def update(self, done: int, **metrics: float) -> None:
        now = time.perf_counter()
        if not self.enabled or (now - self.last < self.interval_s and done < self.total):
            return
        self.last = now
        elapsed = now - self.start
        rate_done = done - self.done_before
        eta_text = format_seconds(elapsed / rate_done * (self.total - done)) if rate_done > 0 else "?"
        shown = " ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        print(f"[{self.label}] {done}/{self.total} episodes ({100 * done / self.total:.0f}%) {shown} | "
              f"elapsed {format_seconds(elapsed)}, ETA {eta_text}", file=sys.stderr, flush=True)
