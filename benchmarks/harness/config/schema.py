"""Typed config schemas behind the YAML files, registered in hydra's ConfigStore.

Each ``conf/<group>/<name>.yaml`` starts from one of these schemas (``defaults: [base_..., _self_]``), so an
unknown key or a wrong type fails when hydra composes the config, naming the key. Value ranges are checked by
``checks.validate`` before a run starts. Each field's comment is where that setting is explained.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
import textwrap
from typing import Any, Dict, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from benchmarks.harness.models import FAMILIES, family_schema
from benchmarks.tasks import TASKS

OPTIMIZERS = ("adam", "adamw")
OPTIMIZER_IMPLS = ("fused", "foreach", "for_loop")
LOGGERS = ("csv", "tensorboard")


@dataclass
class OptimConf:
    name: str = "adam"  # adam | adamw
    lr: Optional[float] = None  # learning rate; None = the budget's for the task, else the task's (learning_rate)
    eps: float = 1e-8  # Adam epsilon
    weight_decay: float = 0.0  # (decoupled for adamw) weight decay
    amsgrad: bool = False  # AMSGrad variant
    grad_clip: Optional[float] = None  # max global gradient norm; None = no clipping (Miconi's code clips nothing)
    # torch's Adam kernels: fused (one kernel over all parameters; 1.2 ms vs 5.8 ms per step for the 2M-parameter
    # 1000-bit network on this CPU) | foreach | for_loop (torch's CPU default). Same update up to rounding.
    impl: str = "fused"


def learning_rate(cfg: Any) -> float:
    """optim.lr if set, else the budget's lr for the task if set, else the task's lr."""
    if cfg.optim.lr is not None:
        return cfg.optim.lr
    budget_lr = cfg.budget.tasks[cfg.task.name].get("lr")
    return budget_lr if budget_lr is not None else cfg.task.lr


@dataclass
class TaskBudget:
    episodes: int = MISSING  # training episodes; identical for every model of the task
    batch_size: int = 1  # episodes per optimizer update
    eval_episodes: int = 100  # held-out evaluation pool size (same episodes for every model of a seed; one pool per seed)
    eval_every: int = 0  # evaluate on the pool every this many training episodes (0 = only at the end)
    eval_batch_size: int = 50  # episodes per forward pass during evaluation (memory only; results unaffected)
    seeds: int = 3  # seeds per (task, model) that the reproduce grid runs
    # learning rate at this budget; None = the task's (task.lr). For short budgets where the papers' rate,
    # tuned for 10^4-10^6 episodes, learns almost nothing. optim.lr on the command line overrides both.
    lr: Optional[float] = None


@dataclass
class BudgetConf:
    name: str = MISSING  # public budget name: smoke | ci | quick | overnight | paper | pilot | parity
    tasks: Dict[str, TaskBudget] = field(default_factory=dict)  # per-task budget, keyed by task name


@dataclass
class LoggerConf:
    name: str = "csv"  # csv (metrics.csv) | tensorboard (event files for `tensorboard --logdir`)
    flush_every: int = 50  # write buffered rows to disk every this many updates (and at the end)
    every: int = 1  # log the training metrics of every this many updates (held-out evaluations always)


@dataclass
class ExperimentConf:
    name: str = MISSING  # experiment name
    grid: Dict[str, Any] = field(default_factory=dict)  # task name -> list of model names


@dataclass
class RunConf:
    task: Any = MISSING
    model: Any = MISSING
    budget: BudgetConf = MISSING
    optim: OptimConf = field(default_factory=OptimConf)
    seed: int = 0  # run seed: selects the init and training-episode streams (never the evaluation pool)
    out_dir: str = "outputs/runs"  # where run records are written (results/runs is what reproduce publishes)
    # where logger files go; None = the hydra job's output folder (outputs/hydra/...), or beside the record when
    # run() is called without hydra
    log_dir: Optional[str] = None
    logger: LoggerConf = field(default_factory=LoggerConf)
    experiment: Optional[ExperimentConf] = None  # set by experiment=<name>: the grid a sweep runs
    data_dir: str = "data"  # where real data sets live (env PLASTICBENCH_DATA)
    device: str = "cpu"  # cpu | cuda | cuda:N | auto (cuda when available)
    threads: int = 0  # torch intra-op threads; 0 = 1 thread (fastest for these small, sequential matmuls)
    progress: bool = True  # print progress and ETA to stderr
    skip_existing: bool = False  # if this cell's record already exists in out_dir, return it instead of training
    checkpoint_every: int = 0  # save a resumable checkpoint every this many episodes (0 = never)
    # train through torch.compile (the task loss and its backward as compiled graphs; evaluation stays eager): the
    # same values up to rounding (tests/test_speed_paths.py), less per-op overhead for small batch-1 models; the first
    # update compiles (about a minute). Not part of the cell: a run setting, like device
    compile: bool = False
    # measure the update's peak memory on the first two updates and then every this many (1 = every update); the
    # probe reads /proc three times per update, which a 10 ms update notices
    memory_every: int = 1
    curve_points: int = 2000  # at most this many points per training curve in the record (binned means)


def task_schema(kind: str, config_cls: type) -> type:
    """Harness fields (name, kind, variant, lr) + the task module's own config fields, unfrozen for hydra."""
    own = [(f.name, f.type, dataclasses.field(default=f.default) if f.default is not dataclasses.MISSING
            else dataclasses.field(default_factory=f.default_factory)) for f in dataclasses.fields(config_cls)]
    harness = [("name", str, dataclasses.field(default=MISSING)),
               ("kind", str, dataclasses.field(default=kind)),
               ("variant", str, dataclasses.field(default="code")),  # which protocol: code | paper
               ("lr", float, dataclasses.field(default=3e-4))]  # default learning rate for this task
    return dataclasses.make_dataclass(f"{config_cls.__name__}Task", harness + own)


CONF = Path(__file__).parents[2] / "conf"  # benchmarks/conf
# Groups a user picks from; the typed schemas (base_*) and the per-(task, model) and per-(budget, task, model)
# settings (task_model, budget_model, selected automatically) are plumbing and stay out of --help.
PUBLIC_GROUPS = ("task", "model", "budget", "experiment", "logger", "hydra/launcher")


def public_groups() -> str:
    """The --help listing: each public group with its YAML names (never the schemas registered in code)."""
    lines = []
    for group in PUBLIC_GROUPS:
        names = ", ".join(sorted(p.stem for p in (CONF / group).glob("*.yaml")))
        lines.append(textwrap.fill(names, 110, initial_indent=f"{group}: ", subsequent_indent=" " * 4))
    return "\n".join(lines)


def path_part(value: Any) -> str:
    """A value as one safe folder-name component: hydra names job folders after task/model names and sweep
    overrides, before any check of ours runs, so "/", "\\", ".." and control characters never reach a path."""
    text = "".join(ch if ch.isprintable() and ch not in "/\\" else "_" for ch in str(value))
    return text.replace("..", "__") or "_"


def register() -> None:
    if not OmegaConf.has_resolver("plasticbench_groups"):
        OmegaConf.register_new_resolver("plasticbench_groups", public_groups)
    if not OmegaConf.has_resolver("plasticbench_path"):
        OmegaConf.register_new_resolver("plasticbench_path", path_part)
    cs = ConfigStore.instance()
    cs.store(name="base_run", node=RunConf)
    cs.store(group="budget", name="base_budget", node=BudgetConf)
    cs.store(group="logger", name="base_logger", node=LoggerConf)
    for kind, (_, config_cls) in TASKS.items():
        cs.store(group="task", name=f"base_{kind}", node=task_schema(kind, config_cls))
    for family in FAMILIES:
        cs.store(group="model", name=f"base_{family}", node=family_schema(family))


TASK_HARNESS_FIELDS = ("name", "kind", "variant", "lr")
