"""Train one (task, model, budget, seed) cell and write its run record.

    python -m benchmarks.run task=binary_patterns_50 model=plastic budget=smoke seed=0

``run(cfg) -> RunRecord`` is a pure function of the composed config (and the data it names); the hydra entry
point below only composes the config and calls it.
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from benchmarks import schema
from benchmarks.checkpoint import Checkpointer, TrainState
from benchmarks.compose import compose_config  # noqa: F401 - the trainer's callers compose through it
from benchmarks.data import DataUnavailable
from benchmarks.devices import resolve_device, to_device
from benchmarks.environment import describe
from benchmarks.loggers import log_folder, open_logger
from benchmarks.errors import command_errors, writable_dir
from benchmarks.lifeline import watch_driver
from benchmarks.memory import UpdateMemory
from benchmarks.model_extra import model_extra
from benchmarks.models import count_parameters
from benchmarks.progress import Progress
from benchmarks.records import RunRecord, config_hash, git_commit, load_record, record_path, write_record
from benchmarks.seeding import run_streams
from benchmarks.tasks import Task, lookup


def build_task(task_cfg: dict[str, Any], data_dir: str | None = None) -> Task:
    """The task of a resolved task config (its ``kind`` names the registry entry)."""
    task_cls, config_cls = lookup(task_cfg["kind"])
    own = {k: v for k, v in task_cfg.items() if k not in schema.TASK_HARNESS_FIELDS}
    return task_cls(config_cls(**own), name=task_cfg["name"], data_dir=data_dir)


def make_optimizer(model: torch.nn.Module, optim: dict[str, Any], lr: float) -> torch.optim.Optimizer:
    cls = torch.optim.Adam if optim["name"] == "adam" else torch.optim.AdamW
    kernels = {"fused": {"fused": True}, "foreach": {"foreach": True}, "for_loop": {"foreach": False}}[optim["impl"]]
    return cls(model.parameters(), lr=lr, eps=optim["eps"], weight_decay=optim["weight_decay"],
               amsgrad=optim["amsgrad"], **kernels)


def batch_sizes(episodes: int, batch_size: int) -> list[int]:
    """Episodes per update: full batches, then the remainder, so exactly ``episodes`` are trained on."""
    full, rest = divmod(episodes, batch_size)
    return [batch_size] * full + ([rest] if rest else [])


def evaluate(task: Task, model: torch.nn.Module, pool: list[Any]) -> dict[str, float]:
    """Episode-weighted mean of each metric over the fixed evaluation pool."""
    totals: dict[str, float] = {}
    count = 0
    model.eval()
    with torch.no_grad():
        for batch in pool:
            _, metrics = task.episode_loss(model, batch)
            n = batch.batch_size
            for key, value in metrics.items():
                totals[key] = totals.get(key, 0.0) + value * n
            count += n
    model.train()
    return {key: value / count for key, value in totals.items()}


def bin_curve(points: list[dict[str, float]], max_points: int) -> dict[str, list[float]]:
    """Means over consecutive bins of updates so a curve has at most ``max_points`` points."""
    if not points:
        return {}
    size = max(1, math.ceil(len(points) / max_points))
    curve: dict[str, list[float]] = {key: [] for key in points[0]}
    for start in range(0, len(points), size):
        chunk = points[start: start + size]
        for key in curve:
            curve[key].append(chunk[-1][key] if key == "episode" else sum(p[key] for p in chunk) / len(chunk))
    return curve


def _eval_pool(task: Task, budget: Any, eval_seed: int) -> list[Any]:
    """The fixed held-out episodes (``task.sample_eval``)."""
    generator = torch.Generator().manual_seed(eval_seed)
    return [task.sample_eval(n, generator) for n in batch_sizes(budget["eval_episodes"], budget["eval_batch_size"])]


def resolved_config(cfg: DictConfig) -> dict[str, Any]:
    """The validated, resolved config of one cell, with only this task's entry of the budget."""
    schema.validate(cfg)
    config = OmegaConf.to_container(cfg, resolve=True)
    config["budget"] = {"name": cfg.budget.name, "tasks": {cfg.task.name: config["budget"]["tasks"][cfg.task.name]}}
    return config


def cell_path(cfg: DictConfig, config: dict[str, Any] | None = None) -> Path:
    """Where this cell's record goes."""
    config = config if config is not None else resolved_config(cfg)
    return record_path(cfg.out_dir, cfg.task.name, cfg.model.name, cfg.budget.name, cfg.seed, config_hash(config))


def existing_record(cfg: DictConfig, config: dict[str, Any]) -> RunRecord | None:
    path = cell_path(cfg, config)
    if not (cfg.skip_existing and path.exists()):
        return None
    record = load_record(path)
    if record.status == "skipped":  # the data may be there now: try again
        return None
    if cfg.progress:
        print(f"[{cfg.task.name}/{cfg.model.name} seed {cfg.seed}] record exists, skipped: {path}", flush=True)
    return record


def checkpoint_path(cfg: DictConfig, config: dict[str, Any]) -> Path:
    return Path(cfg.out_dir) / ".checkpoints" / cell_path(cfg, config).relative_to(cfg.out_dir).with_suffix(".pt")


def apply_update(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor,
                 grad_clip: float | None) -> None:
    """One training update from ``loss``: backward, gradient-norm clipping (unless None), optimizer step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()


def train(cfg: DictConfig, task: Task, model: torch.nn.Module, optimizer: torch.optim.Optimizer, pool: list[Any],
          budget: dict[str, Any], train_gen: torch.Generator, state: TrainState, ckpt: Checkpointer,
          memory: UpdateMemory, log: Any) -> TrainState:
    """The training loop from ``state`` on (a fresh state, or one restored from a checkpoint). ``memory``
    measures each update's own peak (evaluation and checkpointing excluded); ``log`` gets every update's
    metrics and every evaluation (benchmarks.loggers)."""
    device = next(model.parameters()).device
    label = f"{cfg.task.name}/{cfg.model.name} seed {cfg.seed}"
    progress = Progress(label, budget["episodes"], enabled=cfg.progress, done_before=state.seen)
    every = budget["eval_every"]
    for n in batch_sizes(budget["episodes"], budget["batch_size"])[len(state.points):]:
        start = time.perf_counter()
        memory.start()
        loss, metrics = task.episode_loss(model, to_device(task.sample(n, train_gen), device))
        if not math.isfinite(loss.item()):
            state.diverged_at = state.seen + n
            print(f"[{label}] loss is {loss.item()} at episode {state.diverged_at}: run stopped, recorded as "
                  "diverged", file=sys.stderr, flush=True)
            break
        apply_update(model, optimizer, loss, cfg.optim.grad_clip)
        memory.stop()
        state.seen += n
        state.points.append({"episode": state.seen, **metrics})
        log.log("train", state.seen, state.elapsed_s + time.perf_counter() - start,
                {**metrics, "lr": optimizer.param_groups[0]["lr"], **memory.last_update()})
        if every and state.seen // every > (state.seen - n) // every and state.seen < budget["episodes"]:
            held_out = evaluate(task, model, pool)
            _append(state.eval_curve, state.seen, held_out)
            log.log("eval", state.seen, state.elapsed_s + time.perf_counter() - start, held_out)
        state.elapsed_s += time.perf_counter() - start
        if ckpt.due(state.seen, n) and state.seen < budget["episodes"]:
            ckpt.save(model, optimizer, train_gen, state)
        progress.update(state.seen, **{k: v for k, v in metrics.items() if k in ("loss", task.primary_metric)})
    return state


def run(cfg: DictConfig) -> RunRecord:
    """Train and evaluate one cell; returns its record (also written to ``cfg.out_dir``)."""
    config = resolved_config(cfg)
    task_name, model_name, seed = cfg.task.name, cfg.model.name, cfg.seed
    budget = config["budget"]["tasks"][task_name]
    existing = existing_record(cfg, config)
    if existing is not None:
        return existing
    writable_dir(cfg.out_dir, "out_dir")  # before hours of training, not at the last step
    device = resolve_device(cfg.device)
    threads = cfg.threads or 1
    torch.set_num_threads(threads)
    streams = run_streams(task_name, model_name, seed)
    try:
        task = build_task(config["task"], cfg.data_dir)
    except DataUnavailable as err:
        return skipped_record(cfg, config, streams, str(err))
    with torch.random.fork_rng():
        torch.manual_seed(streams["init"])
        model = task.build_model(config["model"])
    model.to(device)
    lr = schema.learning_rate(cfg)
    optimizer = make_optimizer(model, config["optim"], lr)
    pool = to_device(_eval_pool(task, budget, streams["eval"]), device)
    train_gen = torch.Generator().manual_seed(streams["train"])
    ckpt = Checkpointer(checkpoint_path(cfg, config), cfg.checkpoint_every, run_inputs(config, task, device))
    state = ckpt.restore(model, optimizer, train_gen) or TrainState()
    memory = UpdateMemory(device)
    log = open_logger(cfg.logger, log_folder(cfg.log_dir, cell_path(cfg, config)), config, resume=state.seen > 0)
    try:  # a run that raises or is interrupted still writes its buffered log rows
        state = train(cfg, task, model, optimizer, pool, budget, train_gen, state, ckpt, memory, log)
        if state.diverged_at is None:
            final = evaluate(task, model, pool)
            _append(state.eval_curve, state.seen, final)
            log.log("eval", state.seen, state.elapsed_s, final)
        else:
            final = {task.primary_metric: float("nan")}
    finally:
        log.close()
    record = RunRecord(
        task=task_name, model=model_name, budget=cfg.budget.name, seed=seed,
        status="ok" if state.diverged_at is None else "diverged", config=config, config_hash=config_hash(config),
        git_commit=git_commit(), data_digest=task.data_digest(), seeds=streams, episodes=state.seen,
        optimizer_steps=len(state.points), batch_size=budget["batch_size"], n_params=count_parameters(model),
        wall_time_s=state.elapsed_s, threads=threads, torch_version=torch.__version__,
        primary_metric=task.primary_metric, lower_is_better=task.lower_is_better, final=final,
        curves=bin_curve(state.points, cfg.curve_points), eval_curve=state.eval_curve,
        diverged_at=state.diverged_at, environment=describe(device),
        extra={"lr": lr, "device": str(device), "memory": memory.summary(),
               "seconds_per_episode": state.elapsed_s / max(state.seen, 1),
               **({"resumed": ckpt.resumed} if ckpt.resumed and ckpt.resumed["differences"] else {}),
               **task.record_extra(model), **model_extra(model, batch_sizes(budget["episodes"], budget["batch_size"]))},
    )
    path = write_record(cfg.out_dir, record)
    ckpt.clear()
    if cfg.progress:
        print(f"[{task_name}/{model_name} seed {seed}] {record.status}: {task.primary_metric} "
              f"{final.get(task.primary_metric, float('nan')):.4g} -> {path}", flush=True)
    return record


def skipped_record(cfg: DictConfig, config: dict[str, Any], streams: dict[str, int], reason: str) -> RunRecord:
    """A task whose data is missing: a record with status "skipped" and the reason, so reports show the gap."""
    task_cls, _ = lookup(config["task"]["kind"])
    record = RunRecord(
        task=cfg.task.name, model=cfg.model.name, budget=cfg.budget.name, seed=cfg.seed, status="skipped",
        config=config, config_hash=config_hash(config), git_commit=git_commit(), data_digest=None, seeds=streams,
        episodes=0, optimizer_steps=0, batch_size=config["budget"]["tasks"][cfg.task.name]["batch_size"],
        n_params=0, wall_time_s=0.0, threads=cfg.threads or 1, torch_version=torch.__version__,
        primary_metric=task_cls.primary_metric, lower_is_better=task_cls.lower_is_better, final={}, curves={},
        eval_curve={}, extra={"reason": reason}, environment=describe())
    path = write_record(cfg.out_dir, record)
    if cfg.progress:
        print(f"[{cfg.task.name}/{cfg.model.name} seed {cfg.seed}] skipped: {reason} -> {path}", flush=True)
    return record


def _append(curve: dict[str, list[float]], episode: int, metrics: dict[str, float]) -> None:
    curve.setdefault("episode", []).append(episode)
    for key, value in metrics.items():
        curve.setdefault(key, []).append(value)


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


def run_inputs(config: dict[str, Any], task: Any, device: torch.device) -> dict[str, Any]:
    """What a checkpoint must share with the run resuming from it: the config and the data (refused when they
    differ), and the code, torch and device (the record notes when they differ)."""
    return {"config_hash": config_hash(config), "data_digest": task.data_digest(), "git_commit": git_commit(),
            "torch_version": torch.__version__, "device": str(device)}


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    watch_driver()
    if outside_experiment(cfg):
        return float("nan")
    with command_errors("run"):
        schema.check_choices(cfg, HydraConfig.get().runtime.choices)
        record = run(cfg)
    return record.final.get(record.primary_metric, float("nan"))


if __name__ == "__main__":
    watch_driver()
    main()
