"""The targets of the performance issue, checked on a ``benchmarks.perf`` run, and its markdown table."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Target:
    text: str  # what is promised
    kind: str  # ratio: best episodes/s of `rows` / episodes/s of `vs`; rss: peak MB of `rows`; rate: episodes/s
    rows: tuple[str, ...]
    threshold: float  # ratio and rate: at least this; rss: at most this many MB
    vs: str | None = None


TARGETS = [
    Target("1000-bit, plastic, batch 1: fast >= 5x plain", "ratio", ("binary/plastic/fast/b1",), 5,
           "binary/plastic/plain/b1"),
    Target("1000-bit, plastic, best batch: >= 20x plain batch 1", "ratio",
           ("binary/plastic/fast/b1", "binary/plastic/fast/b4", "binary/plastic/fast/b16"), 20,
           "binary/plastic/plain/b1"),
    Target("1000-bit, plastic, batch 1: peak RSS <= 1 GB", "rss", ("binary/plastic/fast/b1",), 1024),
    Target("1000-bit, plastic_shared, batch 1: fast >= 5x plain", "ratio", ("binary/plastic_shared/fast/b1",), 5,
           "binary/plastic_shared/plain/b1"),
    Target("1000-bit, plastic_shared, best batch: >= 20x plain batch 1", "ratio",
           ("binary/plastic_shared/fast/b1", "binary/plastic_shared/fast/b16", "binary/plastic_shared/fast/b64"),
           20, "binary/plastic_shared/plain/b1"),
    Target("CIFAR images, plastic, batch 4: >= 5x plain (batch 1)", "ratio", ("image/plastic/fast/b4",), 5,
           "image/plastic/plain/b1"),
    Target("CIFAR images, plastic, batch 4: peak RSS <= 2 GB", "rss", ("image/plastic/fast/b4",), 2048),
    Target("Duan gradient rule (cue-reward, RNN-256, batch 64): closed form >= 5x autograd", "ratio",
           ("duan/duan_rnn_gradient/closed_form/b64",), 5, "duan/duan_rnn_gradient/autograd/b64"),
    Target("Maze: batched >= 20x one episode per update", "ratio",
           ("maze/plastic/b16", "maze/plastic/b64", "maze/plastic/b128"), 20,
           "maze/plastic/b1"),
    Target("Omniglot plastic, quick batch: >= 300 episodes/s", "rate", ("omniglot/plastic/b8",), 300),
]


def evaluate_targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target with its measured value and met = True/False, or None when a row it needs did not run."""
    by_name = {r["name"]: r for r in results if r.get("status") == "ok"}
    checked = []
    for t in TARGETS:
        rows = [by_name[n] for n in t.rows if n in by_name]
        base = by_name.get(t.vs) if t.vs else None
        value, best = None, None
        if rows and (t.vs is None or base):
            if t.kind == "rss":
                best = max(rows, key=lambda r: r["peak_rss_mb"])
                value = best["peak_rss_mb"]
            else:
                best = max(rows, key=lambda r: r["episodes_per_s"])
                value = best["episodes_per_s"] / base["episodes_per_s"] if t.kind == "ratio" else \
                    best["episodes_per_s"]
        met = None if value is None else (value <= t.threshold if t.kind == "rss" else value >= t.threshold)
        checked.append({"target": t.text, "kind": t.kind, "threshold": t.threshold, "value": value, "met": met,
                        "row": best["name"] if best else None, "vs": t.vs})
    return checked


def _fmt(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}g}"


def _row_line(r: dict[str, Any], machine: dict[str, Any]) -> str:
    if r.get("status") != "ok":
        return f"| {r['name']} | {r['batch']} | {r.get('status')}: {r.get('reason', '')} | | | | | |"
    core = r.get("core")
    roof = ""
    if core:
        roof = (f"{core['s']:.3g} s; {core['gflop_per_s']:.3g} GFLOP/s, {core['gbytes_per_s']:.3g} GB/s; "
                f"{core['bound']} bound: {100 * core['of_bound']:.0f}%")
    ratio = f"{r['ratio']:.2f}x vs {r['vs']}" if r.get("ratio") else ""
    note = f" ({r['note']})" if r.get("note") else ""
    return (f"| {r['name']}{note} | {r['batch']} | {_fmt(r['episodes_per_s'])} | {_fmt(r['s_per_update'])} | "
            f"{ratio} | {r['peak_rss_mb']:.0f} (base {r['base_rss_mb']:.0f}) | {roof} |")


def write_markdown(report: dict[str, Any], path: Path) -> None:
    m, s = report["machine"], report["settings"]
    lines = ["# Performance (benchmarks/perf/main.py)", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, {m['threads']} torch thread(s), "
             f"device {m['device']}{', ' + m['gpu'] if m.get('gpu') else ''}. Load average (1/5/15 min) "
             f"{_load(m['load_average_start'])} at start, {_load(m['load_average_end'])} at end "
             f"(other jobs share the cores: absolute times are noisy, ratios within the run less so).",
             f"Measured by this run: matmul {m['matmul_gflop_per_s']:.1f} GFLOP/s ({m['matmul_size']}^3 fp32), "
             f"read {m['read_gbytes_per_s']:.1f} GB/s, copy {m['copy_gbytes_per_s']:.1f} GB/s, GEMV over 4 MB "
             f"matrices {m['gemv_gbytes_per_s']:.1f} GB/s, writing fresh 4 MB tensors "
             f"{m['fresh_write_gbytes_per_s']:.1f} GB/s.",
             f"Timing: {s['repeats']} pass(es) over the rows, each row in a fresh process: {s['warmup']} warm-up "
             f"update(s), then {s['windows']} windows of >= {s['min_window_s']} s; episodes/s = the median of all "
             f"windows; one training update = sample, loss, backward, clip, optimizer step. Peak = the largest max "
             f"RSS of the row's processes (base = RSS after building, before training). "
             f"Commit {s['git_commit'][:12]}.",
             "Core step = the model's forward + backward on one batch: FLOPs counted by the profiler, bytes by a "
             "logical-traffic model (each operand read once, each result written once; caches can beat it). "
             "Bound = the larger of FLOPs / matmul peak and bytes / max(read, copy) bandwidth; % = bound time / "
             "measured time.", "",
             "| row | batch | episodes/s | s/update | ratio | peak RSS MB | core step (forward + backward) |",
             "|---|---|---|---|---|---|---|"]
    lines += [_row_line(r, m) for r in report["rows"]]
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    for t in report["targets"]:
        unit = " MB" if t["kind"] == "rss" else "x" if t["kind"] == "ratio" else " episodes/s"
        value = "not measured" if t["value"] is None else f"{t['value']:.3g}{unit} ({t['row']})"
        met = {True: "yes", False: "**no**", None: "n/a"}[t["met"]]
        lines.append(f"| {t['target']} | {value} | {met} |")
    lines += _profile_lines(report["rows"])
    path.write_text("\n".join(lines) + "\n")


def _profile_lines(rows: list[dict[str, Any]]) -> list[str]:
    """For every row with a timed core step: the ops that took most of its self CPU time (one profiled step)."""
    lines = []
    for r in rows:
        ops = (r.get("core") or {}).get("top_ops")
        if r.get("status") != "ok" or not ops:
            continue
        if not lines:
            lines = ["", "## Where the core step's time goes", "",
                     "One forward + backward under torch.profiler: the (op, input shapes) groups with the most self "
                     "CPU time and their share of it (the profiler adds a few microseconds per op, so many small "
                     "ops weigh more here than in the timings above)."]
        lines += ["", f"{r['name']}:", "", "| op | input shapes | calls | self ms | share |", "|---|---|---|---|---|"]
        lines += [f"| {o['op']} | {o['shapes']} | {o['calls']} | {o['self_ms']:.1f} | {100 * o['share']:.0f}% |"
                  for o in ops]
    return lines


def _load(values: list[float]) -> str:
    return "/".join(f"{v:.1f}" for v in values)
