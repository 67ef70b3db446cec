"""Compose a cell's config the way ``python -m benchmarks.run <overrides>`` does, without the trainer: the
reporter and the scripts read configs through this module, so they never import ``benchmarks.run``."""
from __future__ import annotations

from hydra import compose, initialize_config_module
from omegaconf import DictConfig, open_dict

from benchmarks import schema

schema.register()


def compose_config(overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """The config ``python -m benchmarks.run <overrides>`` would run, composed without starting a run."""
    with initialize_config_module(version_base="1.3", config_module="benchmarks.conf"):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    schema.check_choices(cfg, cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg

