"""One measurement of ``benchmarks.perf``, run in a fresh process so peak memory is its own.

    python -m benchmarks.perf.worker SPEC_JSON OUT_JSON

SPEC is a row (task, model, batch, overrides, timing settings) or ``{"machine": true}``. A row's training update
is the harness's (``benchmarks.harness.train.train`` without evaluation and checkpoints): sample a batch, task loss,
backward, gradient clipping, optimizer step. Episodes/s = the median over timed windows after warm-up.
"""
from __future__ import annotations

import json
import math
import statistics
import sys
import time
from typing import Any, Callable

import torch

from benchmarks.data import DataUnavailable
from benchmarks.harness import memory
from benchmarks.harness.config import compose_config, resolve_cell
from benchmarks.harness.devices import resolve_device, to_device
from benchmarks.harness.train import apply_update, build_task, make_optimizer
from benchmarks.perf.counts import profile_counts
from benchmarks.tasks import TASKS
from benchmarks.tasks.base import Episode, SequenceTask


class SyntheticImages(SequenceTask):
    """Stand-in with the CIFAR task's shapes (1024 pixels, 3 images x 3 presentations x (20 + 2) + 3 = 201
    steps, half-zeroed probe, final-step squared error) and random pixels in [-1, 1], for when the real task or
    its data is missing. Same cost per episode; no learning claims."""

    name, primary_metric = "synthetic_images", "loss"

    def model_io(self) -> dict[str, Any]:
        return {"input_size": 1024, "output_size": 1024}

    def sample(self, batch_size: int, generator: torch.Generator) -> Episode:
        images = torch.rand(batch_size, 3, 1024, generator=generator) * 2 - 1  # (B, 3, 1024)
        inputs = torch.zeros(201, batch_size, 1024)
        for block in range(9):
            inputs[block * 22: block * 22 + 20] = images[:, block % 3]
        target = images[:, 0]
        inputs[198:] = target * (torch.arange(1024) >= 512)  # top half zeroed
        return Episode(inputs=inputs, targets=target)

    def loss(self, outputs, episode):
        return ((outputs[-1] - episode.targets) ** 2).sum(dim=-1).mean()

    def metrics(self, outputs, episode):
        return {}


def build(spec: dict[str, Any]) -> tuple[Any, torch.nn.Module, Any, Any, dict[str, Any], str]:
    """(task, model, optimizer, hydra config, model config, note) for a row, as ``harness.train.train_cell``."""
    overrides = [f"task={spec['task']}", f"model={spec['model']}", f"budget={spec.get('budget', 'quick')}",
                 "progress=false", *spec["overrides"]]
    note = ""
    cfg = compose_config(overrides)  # the row's own task, model and budget: composing reads no data
    cell = resolve_cell(cfg)
    config, lr = cell.config, cell.lr
    try:
        task = build_task(config["task"], cfg.data_dir)
    except DataUnavailable as err:
        if not spec.get("synthetic_fallback"):
            raise
        # only the images are stood in for: the model, optimizer and run settings stay the row's own
        task = SyntheticImages(config["task"], name=config["task"]["name"])
        note = f"synthetic stand-in (same shapes): {err}"
    torch.manual_seed(0)
    model = task.build_model(config["model"])
    return task, model, make_optimizer(model, config["optim"], lr), cfg, config["model"], note


def time_windows(update: Callable[[], None], sync: Callable[[], None], warmup: int, windows: int,
                 min_window_s: float) -> list[float]:
    """Seconds per update in each timed window; a window holds enough updates to last ``min_window_s``, sized
    from the last warm-up update (the first may compile or allocate for much longer)."""
    per_update = 0.0
    for _ in range(max(warmup, 1)):
        start = time.perf_counter()
        update()
        sync()
        per_update = time.perf_counter() - start
    count = max(1, math.ceil(min_window_s / max(per_update, 1e-6)))
    result = []
    for _ in range(windows):
        start = time.perf_counter()
        for _ in range(count):
            update()
        sync()
        result.append((time.perf_counter() - start) / count)
    return result


def run_row(spec: dict[str, Any]) -> dict[str, Any]:
    torch.set_num_threads(spec["threads"])
    device = resolve_device(spec["device"])
    task, model, optimizer, cfg, model_cfg, note = build(spec)
    model.to(device)
    generator = torch.Generator().manual_seed(0)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def update() -> None:
        loss, _ = task.episode_loss(model, to_device(task.sample(spec["batch"], generator), device))
        apply_update(model, optimizer, loss, cfg.optim.grad_clip)

    if spec.get("loop"):
        update = loop_update(cfg, task, model, optimizer, generator, device, spec["batch"])

    base_rss = memory.rss_mb()
    windows = time_windows(update, sync, spec["warmup"], spec["windows"], spec["min_window_s"])
    s_per_update = statistics.median(windows)
    result = {"status": "ok", "note": note, "batch": spec["batch"], "s_per_update": s_per_update,
              "episodes_per_s": spec["batch"] / s_per_update,
              "window_episodes_per_s": [spec["batch"] / w for w in windows],
              "n_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
              "base_rss_mb": base_rss, "peak_rss_mb": memory.process_peak_mb(), "device": str(device),
              "threads": torch.get_num_threads(), "model_config": model_cfg}
    if device.type == "cuda":
        result["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated(device) / 2 ** 20
    if spec.get("core"):
        batch = to_device(task.sample(spec["batch"], generator), device)
        result["core"] = core_step(lambda: task.episode_loss(model, batch)[0].backward(), sync, spec)
    return result


def loop_update(cfg: Any, task: Any, model: torch.nn.Module, optimizer: Any, generator: torch.Generator,
                device: torch.device, batch: int) -> Callable[[], None]:
    """One update through the harness's own training loop (``benchmarks.harness.train.train``: its memory probe,
    metrics log, curve and progress, with the row's run settings such as compile, memory_every, logger.every), one
    loop call per update; the log goes to a temporary folder."""
    import dataclasses
    import tempfile
    from pathlib import Path

    from benchmarks.harness.checkpoint import Checkpointer, TrainState
    from benchmarks.harness.loggers import open_logger
    from benchmarks.harness.memory import UpdateMemory
    from benchmarks.harness.train import train

    cell = resolve_cell(cfg)
    cell = dataclasses.replace(cell, budget_entry={**cell.budget_entry, "episodes": batch, "batch_size": batch,
                                                   "eval_every": 0})
    folder = tempfile.mkdtemp(prefix="perf-loop-")
    log = open_logger(cell.config["logger"], Path(folder), cell.config, resume=False)
    memory_meter = UpdateMemory(device, every=cell.config["memory_every"])  # one meter: it counts every update
    ckpt = Checkpointer(Path(folder) / "unused.pt", 0, {})  # checkpoint_every 0: never saves

    def update() -> None:
        train(cell, task, model, optimizer, [], generator, TrainState(), ckpt, memory_meter, log)

    return update


def core_step(step: Callable[[], None], sync: Callable[[], None], spec: dict[str, Any]) -> dict[str, float]:
    """The model's forward + backward on one fixed batch: median seconds, and its FLOPs and bytes counted by
    the profiler (``benchmarks.perf.counts``)."""
    times = time_windows(step, sync, 1, max(spec["windows"], 2), 0.0)
    counts = profile_counts(step)
    seconds = statistics.median(times)
    return {"s": seconds, "gflop": counts["flop"] / 1e9, "gbytes": counts["bytes"] / 1e9,
            "gflop_per_s": counts["flop"] / 1e9 / seconds, "gbytes_per_s": counts["bytes"] / 1e9 / seconds,
            "top_ops": counts["top_ops"]}


def measure_machine(quick: bool, threads: int) -> dict[str, float]:
    """This machine's matmul peak and memory bandwidths, with the run's torch thread count."""
    torch.set_num_threads(threads)
    n = 1024 if quick else 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    gemm = _median_s(lambda: a @ b, 5)
    big = torch.ones((16 if quick else 64) * 2 ** 20)  # 64 or 256 MB: beyond the caches
    out = torch.empty_like(big)
    read, copy = _median_s(big.sum, 5), _median_s(lambda: out.copy_(big), 5)
    mats = [torch.randn(1001, 1001) for _ in range(8 if quick else 32)]  # 4 MB each, as the 1000-bit trace
    vec = torch.randn(1, 1001)
    gemv = _median_s(lambda: [vec @ m for m in mats], 3)
    fresh = _median_s(lambda: [m * 2.0 for m in mats], 3)
    mat_bytes = 4 * 1001 * 1001 * len(mats)
    return {"matmul_gflop_per_s": 2 * n ** 3 / gemm / 1e9, "matmul_size": n,
            "read_gbytes_per_s": 4 * big.numel() / read / 1e9,
            "copy_gbytes_per_s": 8 * big.numel() / copy / 1e9,
            "gemv_gbytes_per_s": mat_bytes / gemv / 1e9,
            "fresh_write_gbytes_per_s": 2 * mat_bytes / fresh / 1e9, "threads": torch.get_num_threads()}


def _median_s(fn: Callable[[], Any], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)



def available(spec: dict[str, Any]) -> str | None:
    """Why a row cannot run here (its task is not in this checkout), or None."""
    if spec.get("synthetic_fallback"):
        return None
    try:
        kind = compose_config([f"task={spec['task']}"]).task.kind
    except Exception as err:  # noqa: BLE001 - hydra raises several types for a missing config
        return f"task config {spec['task']!r} not found ({type(err).__name__})"
    return None if kind in TASKS else f"task kind {kind!r} not implemented"


def main(argv: list[str]) -> None:
    spec, out_path = json.loads(argv[0]), argv[1]
    if spec.get("machine"):
        result = measure_machine(spec["quick"], spec["threads"])
    else:
        reason = available(spec)
        try:
            result = {"status": "not available", "reason": reason} if reason else run_row(spec)
        except DataUnavailable as err:
            result = {"status": "not available", "reason": f"data missing: {err}"}
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1:])
