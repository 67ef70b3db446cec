"""Checks of a composed config that types cannot express (value ranges, required values, the task/model pair),
each raising ValueError that names the key and the fix; and the supported task/model pairs they follow."""
from __future__ import annotations

import dataclasses
import difflib
import math
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from benchmarks.harness.config.schema import (CONF, LOGGERS, OPTIMIZER_IMPLS, OPTIMIZERS, BudgetConf, ExperimentConf,
                                              LoggerConf, OptimConf, RunConf, TaskBudget, learning_rate, task_schema)
from benchmarks.harness.devices import check_device
from benchmarks.harness.models import FAMILIES, family_schema, how_to_provide, unread_width
from benchmarks.harness.records import record_path
from benchmarks.tasks import TASKS
from plastic.conv import BACKBONE_INITS


def validate(cfg: Any) -> None:
    """Range checks that types cannot express; raises ValueError naming the key and the allowed range."""
    check_support(cfg.task, cfg.model)
    check_known_keys(cfg)
    check_required(cfg)
    check_finite(cfg)
    check_paths(cfg)
    check_budget(cfg)
    check_optim(cfg)
    check_run_settings(cfg)


def _schemas(cfg: Any) -> dict[str, type]:
    """Every config node and the dataclass whose fields are the only keys it may hold."""
    nodes = {"": RunConf, "optim": OptimConf, "logger": LoggerConf, "budget": BudgetConf,
             "task": task_schema(cfg.task.kind, TASKS[cfg.task.kind][1]), "model": family_schema(cfg.model.family)}
    nodes.update({f"budget.tasks.{name}": TaskBudget for name in cfg.budget.tasks})
    if cfg.get("experiment") is not None:
        nodes["experiment"] = ExperimentConf
    return nodes


def check_known_keys(cfg: Any) -> None:
    """A key that nothing reads (a typo such as ``+optim.lrr=0.5``) would be stored in the record and change its
    config hash while the run silently used the default: refused, naming the key and the closest known one."""
    for where, schema in _schemas(cfg).items():
        node = OmegaConf.select(cfg, where) if where else cfg
        known = {f.name for f in dataclasses.fields(schema)}
        for key in node.keys():
            if key not in known:
                name = f"{where}.{key}" if where else str(key)
                close = difflib.get_close_matches(str(key), sorted(known), n=1)
                hint = f"did you mean {where + '.' if where else ''}{close[0]}? " if close else ""
                raise ValueError(f"{name} is not a setting that anything reads; {hint}known keys of "
                                 f"{where or 'the run'}: {', '.join(sorted(known))}")


def check_required(cfg: Any) -> None:
    """Settings without a default (e.g. an LSTM's width) must be given for this task and model."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ValueError(f"{', '.join(missing)} has no value for task={cfg.task.name} model={cfg.model.name}; set "
                         f"it on the command line ({missing[0]}=...) or in "
                         f"benchmarks/conf/task_model/{cfg.task.name}_{cfg.model.name}.yaml")


def check_choices(cfg: Any, choices: Any) -> None:
    """task.name, model.name and budget.name label the record and pick the budget entry: they must be the names
    of the files hydra composed (an override like task.name=other would file a 50-bit run as another task)."""
    for group in ("task", "model", "budget"):
        chosen = choices.get(group)
        if chosen is not None and cfg[group].name != chosen:
            raise ValueError(f"{group}.name={cfg[group].name!r} disagrees with the {group} file {group}={chosen} "
                             f"(benchmarks/conf/{group}/{chosen}.yaml); drop the {group}.name override, or add a "
                             f"{group} file of that name")


def check_finite(cfg: Any, prefix: str = "") -> None:
    """NaN or infinity is never a meaningful setting (an infinite learning rate "diverges", an infinite eps
    silently stops learning): every float in the config must be finite."""
    items = cfg.items_ex(resolve=True) if isinstance(cfg, DictConfig) else enumerate(cfg)
    for key, value in items:
        name = f"{prefix}{key}" if isinstance(cfg, DictConfig) else f"{prefix.rstrip('.')}[{key}]"
        if isinstance(value, (DictConfig, ListConfig)):
            check_finite(value, f"{name}.")
        elif isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{name}={value} is not a finite number; give a finite value")


def check_paths(cfg: Any) -> None:
    """Names and the seed become parts of the record's path (``records.record_path`` refuses any that would
    leave out_dir); the output folder must be named."""
    if cfg.seed < 0:
        raise ValueError(f"seed={cfg.seed} must be >= 0")
    if not str(cfg.out_dir).strip():
        raise ValueError("out_dir is empty; give the folder for the records (e.g. out_dir=/tmp/runs)")
    record_path("out", cfg.task.name, cfg.model.name, cfg.budget.name, cfg.seed, "")


def check_budget(cfg: Any) -> None:
    if cfg.task.name not in cfg.budget.tasks:
        raise ValueError(f"budget '{cfg.budget.name}' has no entry for task '{cfg.task.name}'; add one under "
                         f"tasks: in benchmarks/conf/budget/{cfg.budget.name}.yaml")
    tb = cfg.budget.tasks[cfg.task.name]
    for key in ("episodes", "batch_size", "eval_episodes", "eval_batch_size", "seeds"):
        if tb[key] < 1:
            raise ValueError(f"budget.tasks.{cfg.task.name}.{key}={tb[key]} must be >= 1")
    key = f"budget.tasks.{cfg.task.name}"
    if not 0 <= tb.eval_every <= tb.episodes:
        raise ValueError(f"{key}.eval_every={tb.eval_every} must lie in [0, episodes={tb.episodes}] (0 = only at "
                         "the end)")
    if tb.batch_size > tb.episodes:
        raise ValueError(f"{key}.batch_size={tb.batch_size} exceeds {key}.episodes={tb.episodes}: no update "
                         "would see a full batch; lower the batch or raise the episodes")
    if tb.eval_batch_size > tb.eval_episodes:
        raise ValueError(f"{key}.eval_batch_size={tb.eval_batch_size} exceeds the evaluation pool "
                         f"{key}.eval_episodes={tb.eval_episodes}; lower it")


def check_optim(cfg: Any) -> None:
    if cfg.optim.name not in OPTIMIZERS:
        raise ValueError(f"optim.name={cfg.optim.name!r} is not one of {OPTIMIZERS}")
    if cfg.optim.impl not in OPTIMIZER_IMPLS:
        raise ValueError(f"optim.impl={cfg.optim.impl!r} is not one of {OPTIMIZER_IMPLS}")
    lr = learning_rate(cfg)
    if not lr > 0:
        raise ValueError(f"optim.lr={lr} must be > 0" if cfg.optim.lr is not None else
                         f"learning rate lr={lr} must be > 0 (from budget.tasks.{cfg.task.name}.lr or task.lr)")
    if cfg.optim.grad_clip is not None and not cfg.optim.grad_clip > 0:
        raise ValueError(f"optim.grad_clip={cfg.optim.grad_clip} must be > 0 or null")
    if not cfg.optim.eps > 0:
        raise ValueError(f"optim.eps={cfg.optim.eps} must be > 0 (Adam divides by sqrt(v) + eps)")
    if not cfg.optim.weight_decay >= 0:
        raise ValueError(f"optim.weight_decay={cfg.optim.weight_decay} must be >= 0")


def check_run_settings(cfg: Any) -> None:
    if cfg.checkpoint_every < 0:
        raise ValueError(f"checkpoint_every={cfg.checkpoint_every} must be >= 0 (0 = no checkpoints)")
    if cfg.threads < 0:
        raise ValueError(f"threads={cfg.threads} must be >= 0 (0 = one thread)")
    if cfg.logger.name not in LOGGERS:
        raise ValueError(f"logger.name={cfg.logger.name!r} is not one of {LOGGERS}; pick logger=csv or logger=tensorboard")
    if cfg.logger.flush_every < 1:
        raise ValueError(f"logger.flush_every={cfg.logger.flush_every} must be >= 1")
    if cfg.logger.every < 1:
        raise ValueError(f"logger.every={cfg.logger.every} must be >= 1 (1 = log every update)")
    if cfg.memory_every < 1:
        raise ValueError(f"memory_every={cfg.memory_every} must be >= 1 (1 = measure every update)")
    if cfg.curve_points < 1:
        raise ValueError(f"curve_points={cfg.curve_points} must be >= 1")
    check_device(cfg.device)


def check_support(task: Any, model: Any) -> None:
    """The model family must be one the task can run (``supported_families``, README's matrix)."""
    families = supported_families(task.kind)
    if model.family not in families:
        fitting = sorted(name for name, family in model_families().items() if family in families)
        kinds = TASKS[task.kind][0].model_kinds
        own = FAMILIES[model.family].kind if model.family in FAMILIES else "unknown"
        raise ValueError(f"model={model.name} (family {model.family}, a {own} model) does not fit task={task.name} "
                         f"(kind {task.kind}, which takes {' or '.join(kinds)} models); models that do: {fitting} "
                         f"(README: supported task/model pairs). {how_to_provide(kinds)}")
    width = model.get("adapter_width")
    adapted = TASKS[task.kind][0].reads_adapter_width and FAMILIES[model.family].kind == "sequence"
    if width is not None and not adapted:
        raise ValueError(unread_width(width, f"task={task.name}", model.name))
    if width is not None and width < 1:
        raise ValueError(f"model.adapter_width={width} must be >= 1 (features of the adapter's input projection)")
    init = model.get("backbone_init")
    if init is not None:
        readers = sorted(kind for kind, (cls, _) in TASKS.items() if cls.reads_backbone_init)
        if not (task.kind in readers and FAMILIES[model.family].kind in ("head", "sequence")):
            raise ValueError(f"model.backbone_init={init!r} is read only by task kind {' or '.join(readers)} for "
                             f"head and sequence models (on the task's conv backbone), not by model={model.name} on "
                             f"task={task.name}; remove it")
        if init not in BACKBONE_INITS:
            raise ValueError(f"model.backbone_init={init!r} is not one of {list(BACKBONE_INITS)} "
                             "(glorot: the harness's default; torch: torch's default conv init, the authors' script's)")


def supported_families(kind: str) -> tuple[str, ...]:
    """The model families a task kind runs: those whose kind is one of the task's ``model_kinds``."""
    if kind not in TASKS:
        raise ValueError(f"task.kind={kind!r} is unknown; known task kinds: {sorted(TASKS)}")
    kinds = TASKS[kind][0].model_kinds
    return tuple(name for name, family in FAMILIES.items() if family.kind in kinds)


def model_families() -> dict[str, str]:
    """Model config name -> family, from benchmarks/conf/model/*.yaml."""
    return _bases("model")


def task_kinds() -> dict[str, str]:
    """Task config name -> kind, from benchmarks/conf/task/*.yaml."""
    return _bases("task")


def _bases(group: str) -> dict[str, str]:
    """Config name -> the X of the ``base_X`` schema its YAML starts from."""
    found = {}
    for path in sorted((CONF / group).glob("*.yaml")):
        defaults = OmegaConf.load(path).get("defaults", [])
        base = next((d for d in defaults if isinstance(d, str) and d.startswith("base_")), None)
        if base:
            found[path.stem] = base.removeprefix("base_")
    return found


def support_table() -> str:
    """README's table of supported task/model pairs, from the tasks' model_kinds."""
    kinds, families = task_kinds(), model_families()
    lines = ["| task kind | tasks | model family: models |", "|---|---|---|"]
    for kind in sorted(set(kinds.values())):
        tasks = ", ".join(f"`{t}`" for t, k in kinds.items() if k == kind)
        models = "; ".join(f"{family}: " + ", ".join(f"`{m}`" for m, f in families.items() if f == family)
                           for family in supported_families(kind))
        lines.append(f"| {kind} | {tasks} | {models} |")
    return "\n".join(lines) + "\n"
