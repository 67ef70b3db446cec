"""Train one (task, model, budget, seed) cell and write its run record.

    python -m benchmarks.run task=binary_patterns_50 model=plastic budget=smoke seed=0

``run(cfg) -> RunRecord`` resolves the composed config into its cell (``benchmarks.harness.config``) and trains
it (``benchmarks.harness.train``); the hydra entry point below only composes the config and calls it.
"""
from __future__ import annotations

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from benchmarks.harness.config import check_choices, resolve_cell
from benchmarks.harness.errors import command_errors
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


if __name__ == "__main__":
    watch_driver()
    main()
