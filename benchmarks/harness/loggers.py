"""Per-run metric logs people open while a run trains: ``logger=csv`` (default) or ``logger=tensorboard``.

Every training update logs the training metrics, the learning rate, the update's peak memory and the training
wall time; every held-out evaluation logs the evaluation metrics. The run record stays the source of the report;
these files are for watching and inspecting one run. They go to the hydra job's output folder
(``outputs/hydra/...``), or ``log_dir`` when given, never into the published ``results/``.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

CSV_COLUMNS = ("split", "episode", "wall_time_s", "name", "value")
CSV_NAME = "metrics.csv"
TENSORBOARD_DIR = "tensorboard"


def log_folder(log_dir: str | None, record_path: Path) -> Path:
    """``log_dir`` if set; else the hydra job's output folder when hydra launched this run; else a folder beside
    the record (``<record>.logs``) for runs started from Python."""
    if log_dir:
        return Path(log_dir)
    from hydra.core.hydra_config import HydraConfig
    if HydraConfig.initialized():
        output_dir = HydraConfig.get().runtime.output_dir
        if output_dir:
            return Path(output_dir)
    return record_path.with_suffix(".logs")


class CsvLogger:
    """A tidy CSV (one value per row: split, episode, wall_time_s, name, value), appended in blocks."""

    def __init__(self, folder: Path, flush_every: int, resume: bool) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / CSV_NAME
        self.flush_every, self.rows, self.calls = flush_every, [], 0
        # a fresh run starts a fresh file; a resumed one continues it when it writes to the same folder (log_dir
        # set, or run() from Python: a hydra job folder is new each time)
        if not (resume and self.path.exists()):
            with self.path.open("w", newline="") as handle:
                csv.writer(handle).writerow(CSV_COLUMNS)

    def log(self, split: str, episode: int, wall_time_s: float, values: dict[str, float]) -> None:
        self.rows += [(split, episode, f"{wall_time_s:.3f}", name, repr(float(v))) for name, v in values.items()]
        self.calls += 1
        if self.calls % self.flush_every == 0:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            with self.path.open("a", newline="") as handle:
                csv.writer(handle).writerows(self.rows)
            self.rows = []

    def close(self) -> None:
        self.flush()


class TensorboardLogger:
    """Scalars ``<split>/<name>`` against the episode count, plus the resolved config as text."""

    def __init__(self, folder: Path, flush_every: int, config: dict[str, Any]) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:  # tensorboard is a dependency; this names the fix if an env lacks it
            raise ImportError("logger=tensorboard needs the tensorboard package: pip install -c constraints.txt "
                              "tensorboard (or use logger=csv)") from err
        self.path = folder / TENSORBOARD_DIR
        self.writer = SummaryWriter(log_dir=str(self.path), flush_secs=30, max_queue=flush_every * 8)
        self.writer.add_text("config", "```\n" + json.dumps(config, indent=1, sort_keys=True) + "\n```")

    def log(self, split: str, episode: int, wall_time_s: float, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.writer.add_scalar(f"{split}/{name}", float(value), global_step=episode)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def open_logger(logger_cfg: Any, folder: Path, config: dict[str, Any], resume: bool) -> CsvLogger | TensorboardLogger:
    if logger_cfg["name"] == "tensorboard":
        return TensorboardLogger(folder, logger_cfg["flush_every"], config)
    return CsvLogger(folder, logger_cfg["flush_every"], resume)
