"""Throughput and memory benchmark: training episodes/s, peak memory and a roofline of the plastic step.

    python -m benchmarks.perf [--quick] [--only NAME ...] [--repeats R] [--threads 1] [--device cpu]
                              [--out outputs/perf | --publish]

Each row (task x model x implementation x batch, fixed below) runs in a fresh process
(``benchmarks.perf.worker``) so its peak memory is its own: training updates exactly as the harness runs them,
episodes/s = median over timed windows after warm-up, peak RSS (ru_maxrss; on GPU also max allocated). The whole
list runs ``--repeats`` times in turn (A B C .. A B C ..), windows pooled, so load that drifts over minutes on a
shared machine falls on the plain and the fast rows alike. Rows
with ``core`` also time the model's forward + backward alone and count its FLOPs and bytes
(``benchmarks.perf.counts``) against this machine's matmul peak and memory bandwidth, measured by the same run.
Every fast path is a ratio against the plain path (or batch) measured in the same run, at the same settings.
Writes ``<out>/perf.json`` and ``<out>/perf.md``: by default under ``outputs/perf/`` (not committed). The committed
``results/perf.json`` and ``perf.md`` (which REPORT.md shows) are written only with ``--publish``, and only by a full
measurement (every row, not ``--quick``), so a partial or quick run can never replace the published table; an
``--out`` that is the published folder is refused without ``--publish``. Rows whose task is not in this checkout (or whose data is
missing) are listed as not available, with the reason. Benchmarks are not tests: nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from benchmarks.harness.atomic import atomic_write_text
from benchmarks.harness.errors import UserError, command_errors, writable_dir
from benchmarks.harness.records import git_commit
from benchmarks.perf.report import evaluate_targets, write_markdown


@dataclass(frozen=True)
class Row:
    name: str  # id for --only and for ratios: <task>/<model>/<implementation>/b<batch>
    task: str  # task config name (benchmarks/conf/task)
    model: str  # model config name (benchmarks/conf/model)
    batch: int  # episodes per update
    overrides: tuple[str, ...] = ()  # hydra overrides that select the implementation
    vs: str | None = None  # the row this one's episodes/s is divided by
    core: bool = False  # also time the model's forward + backward alone, with FLOP and byte counts
    synthetic_fallback: bool = False  # without the task's data: a stand-in of the same shapes, said so
    budget: str = "quick"  # the budget whose model settings the row composes (e.g. pilot: the paper's initial eta)
    loop: bool = False  # time the harness's whole training loop (memory probe, log, curve) instead of the update


PLAIN, FAST = ("model.impl=plain",), ("model.impl=fast",)
IMG_PLAIN = ("model.impl=plain", "model.checkpoint_every=0")  # the papers' plain BPTT, no recomputation


def _miconi_rows(prefix: str, task: str, model: str, fast_batches: tuple[int, ...], plain_batch: int = 1,
                 plain=PLAIN, fallback: bool = False) -> list[Row]:
    base = f"{prefix}/{model}/plain/b{plain_batch}"
    rows = [Row(base, task, model, plain_batch, plain, core=True, synthetic_fallback=fallback)]
    for b in fast_batches:
        rows.append(Row(f"{prefix}/{model}/fast/b{b}", task, model, b, FAST, vs=base,
                        core=b in (1, fast_batches[-1]), synthetic_fallback=fallback))
    return rows


DUAN_AUTOGRAD = "duan/duan_rnn_gradient/autograd/b64"
OMNIGLOT_LOOP, OMNIGLOT_HEAD_LOOP = "omniglot/plastic_shared_head/loop/b1", "omniglot/plastic_head/loop/b1"
IMAGE_LOOP = "image/plastic_shared/loop/b1"
LOOP_THIN = ("memory_every=100", "logger.every=100")  # the per-update /proc reads and log rows thinned
LOOP_FAST = ("compile=true", *LOOP_THIN)  # and the loss and its backward through torch.compile
ROWS: list[Row] = [
    # Miconi 1000-bit task (reference-code timing, T = 106, N = 1001). The plain path cannot run batch 16
    # here (~3 GB per episode of autograd traces), so the batched fast rows are compared with plain batch 1.
    *_miconi_rows("binary", "binary_patterns", "plastic", (1, 4, 16)),
    *_miconi_rows("binary", "binary_patterns", "plastic_shared", (1, 16, 64)),
    # 50-bit task (N = 51, T = 11): small matrices, where per-op overhead, not memory, dominates.
    *_miconi_rows("binary50", "binary_patterns_50", "plastic", (4,), plain_batch=4),
    # CIFAR image task (N = 1025, T = 201, hard clamping). Plain: batch 1, no checkpointing (~2.5 GB).
    *_miconi_rows("image", "image_memory", "plastic", (1, 4), plain=IMG_PLAIN, fallback=True),
    *_miconi_rows("image", "image_memory", "plastic_shared", (4,), plain=IMG_PLAIN, fallback=True),
    # Duan gradient rule, cue-reward, RNN-256, batch 64: autograd with create_graph vs closed form.
    Row(DUAN_AUTOGRAD, "cue_reward", "duan_rnn_gradient", 64, ("model.grad_impl=autograd", "model.fast_weights=dense")),
    Row("duan/duan_rnn_gradient/closed_form_dense/b64", "cue_reward", "duan_rnn_gradient", 64,
        ("model.grad_impl=closed_form", "model.fast_weights=dense"), vs=DUAN_AUTOGRAD),
    Row("duan/duan_rnn_gradient/closed_form/b64", "cue_reward", "duan_rnn_gradient", 64,
        ("model.grad_impl=closed_form",), vs=DUAN_AUTOGRAD),
    # Maze (A2C, 250 steps): batched environments vs one episode per update. impl=auto: the plain step below
    # batch 8, the chunked fast step from 8 on; the plain step at batch 64 shows what batching alone gives.
    Row("maze/plastic/b1", "maze", "plastic_core", 1),
    Row("maze/plastic/plain/b64", "maze", "plastic_core", 64, PLAIN, vs="maze/plastic/b1"),
    Row("maze/plastic/b16", "maze", "plastic_core", 16, vs="maze/plastic/b1"),
    Row("maze/plastic/b64", "maze", "plastic_core", 64, vs="maze/plastic/b1"),
    Row("maze/plastic/b128", "maze", "plastic_core", 128, vs="maze/plastic/b1"),
    # Omniglot 5-way 1-shot, plastic output layer on the conv backbone, at the quick budget's batch (8).
    Row("omniglot/plastic/b8", "omniglot", "plastic_head", 8),
    # The pilot's batch-1 cells (paper protocol, one episode per update), timed through the harness's own training
    # loop: today's settings against compiled training with the memory probe and the training log thinned.
    Row(OMNIGLOT_LOOP, "omniglot", "plastic_shared_head", 1, budget="pilot", loop=True),
    Row("omniglot/plastic_shared_head/loop_fast/b1", "omniglot", "plastic_shared_head", 1, LOOP_FAST, vs=OMNIGLOT_LOOP,
        budget="pilot", loop=True),
    Row(OMNIGLOT_HEAD_LOOP, "omniglot", "plastic_head", 1, budget="pilot", loop=True),
    Row("omniglot/plastic_head/loop_fast/b1", "omniglot", "plastic_head", 1, LOOP_FAST, vs=OMNIGLOT_HEAD_LOOP,
        budget="pilot", loop=True),
    Row(IMAGE_LOOP, "image_memory", "plastic_shared", 1, budget="pilot", loop=True, synthetic_fallback=True),
    Row("image/plastic_shared/loop_thin/b1", "image_memory", "plastic_shared", 1, LOOP_THIN, vs=IMAGE_LOOP,
        budget="pilot", loop=True, synthetic_fallback=True),
]


def select(rows: list[Row], only: list[str] | None) -> list[Row]:
    """Rows whose name matches one of ``only`` (a glob, or a substring), with the rows they are compared to."""
    if not only:
        return rows
    chosen = {r.name for r in rows if any(fnmatch.fnmatch(r.name, p) or p in r.name for p in only)}
    if not chosen:
        raise SystemExit(f"--only {only} matches no row; rows: {[r.name for r in rows]}")
    chosen |= {r.vs for r in rows if r.name in chosen and r.vs}
    return [r for r in rows if r.name in chosen]


def run_worker(spec: dict[str, Any], threads: int, timeout_s: float) -> dict[str, Any]:
    """One measurement in a fresh process; a crash or timeout becomes a "failed" result with the reason."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        cmd = [sys.executable, "-m", "benchmarks.perf.worker", json.dumps(spec), str(out)]
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return {"status": "failed", "reason": f"timed out after {timeout_s:.0f} s"}
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return {"status": "failed", "reason": f"exit code {proc.returncode}: {' | '.join(tail)}"}
        return json.loads(out.read_text())


def machine_description(threads: int, device: str) -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "threads": threads,
            "device": device, "python": platform.python_version(), "platform": platform.platform()}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run: 1 warm-up update, 2 short windows")
    parser.add_argument("--only", nargs="+", help="row names (globs or substrings) to run, e.g. binary/plastic")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per measurement (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (timings synchronised, max allocated)")
    parser.add_argument("--out", default=None, help="directory for perf.json and perf.md (default outputs/perf)")
    parser.add_argument("--publish", action="store_true",
                        help=f"write the committed {PUBLISHED}/perf.json and perf.md (a full run only)")
    parser.add_argument("--repeats", type=int, help="passes over the rows (default 3; --quick: 1)")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds per row before it counts failed")
    return parser.parse_args(argv)


PUBLISHED, DEFAULT_OUT = "results", "outputs/perf"


def out_folder(args: argparse.Namespace) -> Path:
    """Where this run writes: outputs/perf, --out, or with --publish the committed results/ (full runs only)."""
    if args.publish:
        if args.quick or args.only or args.out is not None:
            raise UserError(f"--publish replaces the committed {PUBLISHED}/perf.json with this run, so it takes a "
                            "full measurement: drop --quick, --only and --out (or drop --publish to write under "
                            f"{DEFAULT_OUT})")
        return Path(PUBLISHED)
    out = Path(args.out).expanduser() if args.out is not None else Path(DEFAULT_OUT)
    if out.resolve() == Path(PUBLISHED).resolve() and (out / "perf.json").exists():
        raise UserError(f"--out {args.out} holds the published perf.json, which only a full run with --publish "
                        f"replaces; give another --out (default {DEFAULT_OUT}) or run with --publish")
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    with command_errors("perf"):
        out = writable_dir(out_folder(args), "--out")
    timing = {"warmup": 1, "windows": 2, "min_window_s": 0.5} if args.quick else \
        {"warmup": 2, "windows": 3, "min_window_s": 2.0}
    repeats = args.repeats or (1 if args.quick else 3)
    common = {"threads": args.threads, "device": args.device, **timing}
    load_start, started = os.getloadavg(), time.time()
    rows = select(ROWS, args.only)
    runs: dict[str, list[dict[str, Any]]] = {row.name: [] for row in rows}
    machines = []
    for repeat in range(repeats):
        machines.append(run_worker({"machine": True, "quick": args.quick, "threads": args.threads}, args.threads,
                                   600))
        for row in rows:
            result = run_worker({**asdict(row), **common}, args.threads, args.timeout)
            print(f"[perf] {repeat + 1}/{repeats} {row.name}: {_summary(result)}", flush=True)
            runs[row.name].append(result)
    machine = {**machine_description(args.threads, args.device), **_median_dicts(machines)}
    results = [result_row(row, merge_runs(runs[row.name])) for row in rows]
    _add_ratios(results)
    _add_roofline(results, machine)
    machine.update(load_average_start=load_start, load_average_end=os.getloadavg(),
                   wall_s=time.time() - started)
    report = {"machine": machine, "settings": {"quick": args.quick, "repeats": repeats, **timing,
                                               "git_commit": git_commit()},
              "rows": results}
    report["targets"] = evaluate_targets(results)
    atomic_write_text(out / "perf.json", json.dumps(report, indent=1) + "\n")
    write_markdown(report, out / "perf.md")
    print((out / "perf.md").read_text())
    return report


def result_row(row: Row, merged: dict[str, Any]) -> dict[str, Any]:
    """A row's entry in perf.json: its settings and its measurement. The row's ``core`` flag (whether to time the
    core step) is written as ``core_step``, so ``core`` is only ever the timed step itself: a row that failed, whose
    measurement holds none, does not pass the flag on as if it were one."""
    fields = asdict(row)
    fields["core_step"] = fields.pop("core")
    return {**fields, **merged}


def merge_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row's repeats: windows pooled (episodes/s = their median), peak = the largest, core time = median."""
    failed = [r for r in runs if r.get("status") != "ok"]
    if failed:
        return failed[0]
    merged = dict(runs[0])
    windows = [w for r in runs for w in r["window_episodes_per_s"]]
    merged.update(window_episodes_per_s=windows, episodes_per_s=statistics.median(windows), repeats=len(runs),
                  peak_rss_mb=max(r["peak_rss_mb"] for r in runs),
                  base_rss_mb=statistics.median(r["base_rss_mb"] for r in runs))
    merged["s_per_update"] = merged["batch"] / merged["episodes_per_s"]
    if "cuda_max_allocated_mb" in merged:
        merged["cuda_max_allocated_mb"] = max(r["cuda_max_allocated_mb"] for r in runs)
    if "core" in merged:
        seconds = statistics.median(r["core"]["s"] for r in runs)
        core = merged["core"] = dict(merged["core"], s=seconds)
        core.update(gflop_per_s=core["gflop"] / seconds, gbytes_per_s=core["gbytes"] / seconds)
    return merged


def _median_dicts(dicts: list[dict[str, Any]]) -> dict[str, Any]:
    return {k: statistics.median(d[k] for d in dicts) if isinstance(v, float) else v for k, v in dicts[0].items()}


def _add_ratios(results: list[dict[str, Any]]) -> None:
    speed = {r["name"]: r.get("episodes_per_s") for r in results}
    for r in results:
        if r.get("vs") and r.get("episodes_per_s") and speed.get(r["vs"]):
            r["ratio"] = r["episodes_per_s"] / speed[r["vs"]]


def _add_roofline(results: list[dict[str, Any]], machine: dict[str, Any]) -> None:
    """For each timed core step: the time the machine's bounds allow (matmul peak for its FLOPs, stream bandwidth
    for its logical bytes), which bound that is, and the fraction of it the step reaches."""
    bandwidth = max(machine["read_gbytes_per_s"], machine["copy_gbytes_per_s"])
    for r in results:
        core = r.get("core")
        if not core:
            continue
        compute_s, memory_s = core["gflop"] / machine["matmul_gflop_per_s"], core["gbytes"] / bandwidth
        core.update(bound="compute" if compute_s >= memory_s else "memory", bound_s=max(compute_s, memory_s),
                    of_bound=max(compute_s, memory_s) / core["s"], stream_gbytes_per_s=bandwidth)


def _summary(result: dict[str, Any]) -> str:
    if result.get("status") != "ok":
        return f"{result.get('status')}: {result.get('reason')}"
    return f"{result['episodes_per_s']:.3g} episodes/s, peak {result['peak_rss_mb']:.0f} MB"


def cli() -> int:
    """The plasticbench-perf command (main returns the results, which a console script would take as an exit code)."""
    main()
    return 0


if __name__ == "__main__":
    sys.exit(cli())
