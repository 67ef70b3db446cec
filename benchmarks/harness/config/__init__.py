"""The config of one cell: compose it (as ``python -m benchmarks.run <overrides>`` does), validate it, resolve the
learning rate, and resolve it all once into a ``Cell`` that the trainer, checkpoints, records, reproduce and the
reporter take. The typed schemas behind the YAML files are in ``schema`` (registered in hydra's ConfigStore on
import), the value checks in ``checks``. Nothing here imports the trainer, so the reporter and the scripts read
configs through this package."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_module
from omegaconf import DictConfig, OmegaConf, open_dict

from benchmarks.harness.config.checks import (check_choices, model_families, support_table,  # noqa: F401
                                              supported_families, task_kinds, validate)
from benchmarks.harness.config.schema import CONF, TASK_HARNESS_FIELDS, learning_rate, register  # noqa: F401
from benchmarks.harness.records import config_hash, record_path
from benchmarks.harness.seeding import run_streams

register()


def compose_config(overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """The config ``python -m benchmarks.run <overrides>`` would run, composed without starting a run."""
    with initialize_config_module(version_base="1.3", config_module="benchmarks.conf"):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    check_choices(cfg, cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


@dataclass(frozen=True)
class Cell:
    """One (task, model, budget, seed) cell, resolved once: ``config`` is the validated, resolved config (with
    only this task's budget entry) that the record stores, ``config_hash`` its hash, and the paths, learning rate
    and random streams follow from them. Run settings (device, threads, progress, ...) are read from ``config``."""
    task: str
    model: str
    budget: str
    seed: int
    budget_entry: dict[str, Any]  # config["budget"]["tasks"][task]: episodes, batch sizes, evaluation, seeds
    config: dict[str, Any]
    config_hash: str
    lr: float
    streams: dict[str, int]  # init / train / eval seeds (benchmarks.harness.seeding)
    out_dir: str
    record_path: Path
    checkpoint_path: Path

    @property
    def label(self) -> str:
        return f"{self.task}/{self.model} seed {self.seed}"


def resolve_cell(cfg: DictConfig) -> Cell:
    """Validate ``cfg`` and resolve it into its cell (the hash is computed here, once)."""
    config = _resolved_config(cfg)
    task, model, budget, seed = cfg.task.name, cfg.model.name, cfg.budget.name, cfg.seed
    digest = config_hash(config)
    path = record_path(cfg.out_dir, task, model, budget, seed, digest)
    checkpoint = Path(cfg.out_dir) / ".checkpoints" / path.relative_to(cfg.out_dir).with_suffix(".pt")
    return Cell(task=task, model=model, budget=budget, seed=seed, budget_entry=config["budget"]["tasks"][task],
                config=config, config_hash=digest, lr=learning_rate(cfg), streams=run_streams(task, model, seed),
                out_dir=cfg.out_dir, record_path=path, checkpoint_path=checkpoint)


def _resolved_config(cfg: DictConfig) -> dict[str, Any]:
    """The validated, resolved config of one cell, with only this task's entry of the budget."""
    validate(cfg)
    config = OmegaConf.to_container(cfg, resolve=True)
    config["budget"] = {"name": cfg.budget.name, "tasks": {cfg.task.name: config["budget"]["tasks"][cfg.task.name]}}
    return config
