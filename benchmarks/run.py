"""Train one (task, model, budget, seed) cell and write its run record.

    python -m benchmarks.run task=binary_patterns_50 model=plastic budget=smoke seed=0

``run(cfg) -> RunRecord`` resolves the composed config into its cell (``benchmarks.harness.config``) and trains
it (``benchmarks.harness.train``); the hydra entry point below only composes the config and calls it.
"""
from __future__ import annotations

import os
import sys
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from benchmarks.harness.config import check_choices, resolve_cell
from benchmarks.harness.errors import EXIT_USER_ERROR, command_errors
from benchmarks.harness.lifeline import watch_driver
from benchmarks.harness.records import RunRecord
from benchmarks.harness.train import train_cell


def run(cfg: DictConfig) -> RunRecord:
    """Train and evaluate the cell of ``cfg``; returns its record (also written to ``cfg.out_dir``)."""
    return train_cell(resolve_cell(cfg))


def outside_experiment(cfg: DictConfig) -> bool:
    """A job of an ``experiment=<name>`` sweep whose (task, model) is not in the experiment's grid: the sweep is a
    product of tasks and models, the grid need not be."""
    grid = cfg.experiment.grid if cfg.experiment is not None else None
    if grid is None or cfg.model.name in grid.get(cfg.task.name, []):
        return False
    if cfg.progress:
        print(f"[{cfg.task.name}/{cfg.model.name}] not in experiment {cfg.experiment.name!r}: nothing to run",
              flush=True)
    return True


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    watch_driver()
    if outside_experiment(cfg):
        return float("nan")
    with command_errors("run"):
        check_choices(cfg, HydraConfig.get().runtime.choices)
        record = run(cfg)
    return record.final.get(record.primary_metric, float("nan"))


def one_line_errors(func: Any) -> Any:
    """hydra's own errors (an unknown group option, an override it cannot parse) as the harness reports every user
    error: one line on stderr naming it, exit status 2 (hydra prints several lines and exits 1).
    HYDRA_FULL_ERROR=1 or PLASTICBENCH_TRACEBACK=1 keep the traceback."""
    try:
        return func()
    except Exception as err:
        if os.environ.get("HYDRA_FULL_ERROR") or os.environ.get("PLASTICBENCH_TRACEBACK"):
            raise
        lines = [line.strip() for line in f"{err} {err.__cause__ or ''}".splitlines()
                 if line.strip() and not line.strip().startswith(("base_", "See https://hydra.cc"))]
        text = " ".join(lines).split(" Config search path:")[0]  # hydra's search path: noise for a user
        print(f"[run] error: {text}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_USER_ERROR) from None


def cli() -> None:
    """``plasticbench-run`` / ``python -m benchmarks.run``: hydra's app, with its errors on one line."""
    import hydra._internal.utils as hydra_utils  # hydra calls this module's run_and_report around everything
    hydra_utils.run_and_report = one_line_errors
    watch_driver()
    main()


if __name__ == "__main__":
    cli()
