"""Train and evaluate one resolved cell (``benchmarks.harness.config.Cell``) and write its run record.

``train_cell(cell) -> RunRecord`` is a pure function of the cell (and the data it names); ``python -m
benchmarks.run`` composes the config, resolves the cell and calls it.
"""
from __future__ import annotations

import math
import sys
import time
from typing import Any, Callable, Iterator

import torch

from benchmarks.data import DataUnavailable
from benchmarks.harness.checkpoint import Checkpointer, Points, TrainState
from benchmarks.harness.config import TASK_HARNESS_FIELDS, Cell
from benchmarks.harness.devices import resolve_device, to_device
from benchmarks.harness.environment import describe
from benchmarks.harness.errors import writable_dir
from benchmarks.harness.loggers import log_folder, open_logger
from benchmarks.harness.memory import UpdateMemory
from benchmarks.harness.model_extra import model_extra
from benchmarks.harness.models import count_parameters
from benchmarks.harness.progress import Progress
from benchmarks.harness.records import RunRecord, existing_record, git_commit, write_record
from benchmarks.tasks import Task, lookup


def build_task(task_cfg: dict[str, Any], data_dir: str | None = None) -> Task:
    """The task of a resolved task config (its ``kind`` names the registry entry)."""
    task_cls, config_cls = lookup(task_cfg["kind"])
    own = {k: v for k, v in task_cfg.items() if k not in TASK_HARNESS_FIELDS}
    return task_cls(config_cls(**own), name=task_cfg["name"], data_dir=data_dir)


def make_optimizer(model: torch.nn.Module, optim: dict[str, Any], lr: float) -> torch.optim.Optimizer:
    cls = torch.optim.Adam if optim["name"] == "adam" else torch.optim.AdamW
    kernels = {"fused": {"fused": True}, "foreach": {"foreach": True}, "for_loop": {"foreach": False}}[optim["impl"]]
    return cls(model.parameters(), lr=lr, eps=optim["eps"], weight_decay=optim["weight_decay"],
               amsgrad=optim["amsgrad"], **kernels)


def batch_sizes(episodes: int, batch_size: int, skip: int = 0) -> Iterator[int]:
    """Episodes per update, planned lazily (a budget of 10^12 episodes never builds a list): full batches, then
    the remainder, so exactly ``episodes`` are trained on; ``skip``: updates already done (a resumed run)."""
    full, rest = divmod(episodes, batch_size)
    for _ in range(skip, full):
        yield batch_size
    if rest and skip <= full:
        yield rest


def distinct_batch_sizes(episodes: int, batch_size: int) -> list[int]:
    full, rest = divmod(episodes, batch_size)
    return ([batch_size] if full else []) + ([rest] if rest else [])


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


def bin_curve(points: Points, max_points: int) -> dict[str, list[float]]:
    """Means over consecutive bins of updates so a curve has at most ``max_points`` points (``episode``: the
    bin's last)."""
    if not len(points):
        return {}
    total = len(points)
    size = max(1, math.ceil(total / max_points))
    curve: dict[str, list[float]] = {key: [] for key in points.keys()}
    for start in range(0, total, size):
        stop = min(start + size, total)
        for key in curve:
            curve[key].append(points.columns[key][stop - 1] if key == "episode"
                              else points.sums(key, start, stop) / (stop - start))
    return curve


def eval_pool(task: Task, budget: dict[str, Any], eval_seed: int) -> list[Any]:
    """The fixed held-out episodes (``task.sample_eval``)."""
    generator = torch.Generator().manual_seed(eval_seed)
    return [task.sample_eval(n, generator) for n in batch_sizes(budget["eval_episodes"], budget["eval_batch_size"])]


def training_loss(task: Task, compiled: bool) -> Callable[[torch.nn.Module, Any], tuple[torch.Tensor, dict[str, float]]]:
    """``task.episode_loss``, or (run setting ``compile``) the same function through ``torch.compile``: the loss
    and its backward run as compiled graphs (the metrics' ``.item()`` calls end the graph), equal to the plain path
    up to rounding. One compiled function per task object, so a second training call reuses its graphs."""
    if not compiled:
        return task.episode_loss
    if COMPILED_ATTR not in vars(task):
        setattr(task, COMPILED_ATTR, torch.compile(task.episode_loss, dynamic=False))
    return getattr(task, COMPILED_ATTR)


COMPILED_ATTR = "_compiled_episode_loss"


def apply_update(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor,
                 grad_clip: float | None) -> None:
    """One training update from ``loss``: backward, gradient-norm clipping (unless None), optimizer step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()


def train(cell: Cell, task: Task, model: torch.nn.Module, optimizer: torch.optim.Optimizer, pool: list[Any],
          train_gen: torch.Generator, state: TrainState, ckpt: Checkpointer, memory: UpdateMemory,
          log: Any) -> TrainState:
    """The training loop from ``state`` on (a fresh state, or one restored from a checkpoint). ``memory``
    measures each update's own peak (evaluation and checkpointing excluded); ``log`` gets every update's
    metrics and every evaluation (benchmarks.harness.loggers)."""
    device = next(model.parameters()).device
    budget = cell.budget_entry
    progress = Progress(cell.label, budget["episodes"], enabled=cell.config["progress"], done_before=state.seen)
    every, log_every = budget["eval_every"], cell.config["logger"]["every"]
    episode_loss = training_loss(task, cell.config["compile"])
    for n in batch_sizes(budget["episodes"], budget["batch_size"], skip=len(state.points)):
        start = time.perf_counter()
        memory.start()
        loss, metrics = episode_loss(model, to_device(task.sample(n, train_gen), device))
        value = loss.item()
        if not math.isfinite(value):
            state.diverged_at = state.seen + n
            print(f"[{cell.label}] loss is {value} at episode {state.diverged_at}: run stopped, recorded as "
                  "diverged", file=sys.stderr, flush=True)
            break
        apply_update(model, optimizer, loss, cell.config["optim"]["grad_clip"])
        memory.stop()
        state.seen += n
        state.points.append({"episode": state.seen, **metrics})
        if (len(state.points) - 1) % log_every == 0:
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


def train_cell(cell: Cell) -> RunRecord:
    """Train and evaluate one cell; returns its record (also written to ``cell.record_path``)."""
    existing = existing_record(cell)
    if existing is not None:
        return existing
    settings = cell.config
    writable_dir(cell.out_dir, "out_dir")  # before hours of training, not at the last step
    device = resolve_device(settings["device"])
    torch.set_num_threads(settings["threads"] or 1)
    try:
        task = build_task(settings["task"], settings["data_dir"])
    except DataUnavailable as err:
        return skipped_record(cell, str(err))
    with torch.random.fork_rng():
        torch.manual_seed(cell.streams["init"])
        model = task.build_model(settings["model"])
    model.to(device)
    optimizer = make_optimizer(model, settings["optim"], cell.lr)
    pool = to_device(eval_pool(task, cell.budget_entry, cell.streams["eval"]), device)
    train_gen = torch.Generator().manual_seed(cell.streams["train"])
    ckpt = Checkpointer(cell.checkpoint_path, settings["checkpoint_every"], run_inputs(cell, task, device))
    state = ckpt.restore(model, optimizer, train_gen) or TrainState()
    memory = UpdateMemory(device, every=settings["memory_every"])
    log = open_logger(settings["logger"], log_folder(settings["log_dir"], cell.record_path), settings,
                      resume=state.seen > 0)
    try:  # a run that raises or is interrupted still writes its buffered log rows
        state = train(cell, task, model, optimizer, pool, train_gen, state, ckpt, memory, log)
        final = _final(task, model, pool, state, log)
    finally:
        log.close()
    record = _record(cell, task, model, state, final, device, memory, ckpt)
    path = write_record(cell.out_dir, record)
    ckpt.clear()
    if settings["progress"]:
        print(f"[{cell.label}] {record.status}: {task.primary_metric} "
              f"{final.get(task.primary_metric, float('nan')):.4g} -> {path}", flush=True)
    return record


def _final(task: Task, model: torch.nn.Module, pool: list[Any], state: TrainState, log: Any) -> dict[str, float]:
    """The held-out metrics at the end (NaN for a diverged run), appended to the evaluation curve."""
    if state.diverged_at is not None:
        return {task.primary_metric: float("nan")}
    final = evaluate(task, model, pool)
    _append(state.eval_curve, state.seen, final)
    log.log("eval", state.seen, state.elapsed_s, final)
    return final


def _record(cell: Cell, task: Task, model: torch.nn.Module, state: TrainState, final: dict[str, float],
            device: torch.device, memory: UpdateMemory, ckpt: Checkpointer) -> RunRecord:
    budget = cell.budget_entry
    return RunRecord(
        task=cell.task, model=cell.model, budget=cell.budget, seed=cell.seed,
        status="ok" if state.diverged_at is None else "diverged", config=cell.config, config_hash=cell.config_hash,
        git_commit=git_commit(), data_digest=task.data_digest(), seeds=cell.streams, episodes=state.seen,
        optimizer_steps=len(state.points), batch_size=budget["batch_size"], n_params=count_parameters(model),
        wall_time_s=state.elapsed_s, threads=cell.config["threads"] or 1, torch_version=torch.__version__,
        primary_metric=task.primary_metric, lower_is_better=task.lower_is_better, final=final,
        curves=bin_curve(state.points, cell.config["curve_points"]), eval_curve=state.eval_curve,
        diverged_at=state.diverged_at, environment=describe(device),
        extra={"lr": cell.lr, "device": str(device), "memory": memory.summary(),
               "seconds_per_episode": state.elapsed_s / max(state.seen, 1),
               **({"resumed": state.resumes} if state.resumes else {}),
               **task.record_extra(model), **model_extra(model, distinct_batch_sizes(budget["episodes"], budget["batch_size"]))},
    )


def skipped_record(cell: Cell, reason: str) -> RunRecord:
    """A task whose data is missing: a record with status "skipped" and the reason, so reports show the gap."""
    task_cls, _ = lookup(cell.config["task"]["kind"])
    record = RunRecord(
        task=cell.task, model=cell.model, budget=cell.budget, seed=cell.seed, status="skipped",
        config=cell.config, config_hash=cell.config_hash, git_commit=git_commit(), data_digest=None,
        seeds=cell.streams, episodes=0, optimizer_steps=0, batch_size=cell.budget_entry["batch_size"], n_params=0,
        wall_time_s=0.0, threads=cell.config["threads"] or 1, torch_version=torch.__version__,
        primary_metric=task_cls.primary_metric, lower_is_better=task_cls.lower_is_better, final={}, curves={},
        eval_curve={}, extra={"reason": reason}, environment=describe())
    path = write_record(cell.out_dir, record)
    if cell.config["progress"]:
        print(f"[{cell.label}] skipped: {reason} -> {path}", flush=True)
    return record


def _append(curve: dict[str, list[float]], episode: int, metrics: dict[str, float]) -> None:
    curve.setdefault("episode", []).append(episode)
    for key, value in metrics.items():
        curve.setdefault(key, []).append(value)


def run_inputs(cell: Cell, task: Task, device: torch.device) -> dict[str, Any]:
    """What a checkpoint must share with the run resuming from it: the config and the data (refused when they
    differ), and the code, torch and device (the record notes when they differ)."""
    return {"config_hash": cell.config_hash, "data_digest": task.data_digest(), "git_commit": git_commit(),
            "torch_version": torch.__version__, "device": str(device)}
