"""Pieces shared by the report's figures: one colour per model across every figure, the reference lines a
claim rests on (chance, no-memory floors, the paper's values), held-out evaluation points, the y range that
keeps each claim's gap visible, and integer episode ticks."""
from __future__ import annotations

import math
import zlib
from typing import Any

import matplotlib
import numpy as np
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from benchmarks.report.summary import Row, Summary

# One colour per model in every figure, chosen so that the models sharing a figure (a task's arms; the plastic
# arms of the across-task view) differ clearly: Miconi arms blue/cyan, their non-plastic peers gray/brown, Duan
# RNN arms red/orange/indigo (the parity experiment's variants lighter or darker), Duan LSTM arms greens/dark red,
# few-shot baselines olive/purple/pink/magenta.
MODEL_COLORS = {
    "plastic": "#1f77b4", "plastic_shared": "#17becf", "rnn": "#7f7f7f", "lstm": "#8c564b",
    "maml": "#bcbd22", "protonet": "#9467bd", "duan_rnn_fewshot": "#e377c2", "maml_mlp": "#e7298a",
    "plastic_core": "#1f5fa0", "plastic_shared_core": "#12a0b0", "rnn_core": "#5f5f5f", "lstm_core": "#6b4036",
    "plastic_head": "#3a8fd0", "plastic_shared_head": "#4ad0df", "plastic_shared_head_torch_init": "#2a9d6f",
    "duan_rnn_gradient": "#d62728", "duan_rnn_hebbian": "#ff7f0e", "duan_rnn_nonplastic": "#393b79",
    "duan_rnn_gradient_demo": "#f4a3a3", "duan_rnn_hebbian_demo": "#fdc086", "duan_rnn_gradient_batchmean": "#8b1a1a",
    "duan_lstm_gradient": "#2ca02c", "duan_lstm_hebbian": "#a6d854", "duan_lstm_nonplastic": "#843c39",
}
MIN_DISTANCE = 0.18  # RGB distance below which two colours are hard to tell apart in a legend


def _fallback_palette() -> list[tuple[float, ...]]:
    """Colours for models without an entry above: matplotlib's qualitative palettes, less every colour close to a
    configured one, so a new model never draws in an existing model's colour."""
    configured = np.array([matplotlib.colors.to_rgb(c) for c in MODEL_COLORS.values()])
    palette = [tuple(c[:3]) for name in ("tab20", "tab20b", "tab20c", "Dark2", "Set1")
               for c in matplotlib.colormaps[name].colors]
    return [c for c in dict.fromkeys(palette) if np.linalg.norm(configured - np.array(c), axis=1).min() > MIN_DISTANCE]


FALLBACK = _fallback_palette()
CLAIM_VALUE_RULES = ("equivalence", "anchor")  # claims stating a value of the metric
WARMUP = 0.1  # share of the episodes left out when an early spike would flatten the rest of a curve


def figure_colors(models: list[str]) -> dict[str, Any]:
    """A distinct colour for every model of one figure: configured ones keep theirs (MODEL_COLORS); the others a
    fixed hash of their name into FALLBACK (which holds no configured colour), or, when two of them hash to the same
    colour, the next free one."""
    colors = {m: MODEL_COLORS[m] for m in models if m in MODEL_COLORS}
    taken = {tuple(matplotlib.colors.to_rgb(c)) for c in colors.values()}
    for model in sorted(m for m in dict.fromkeys(models) if m not in MODEL_COLORS):
        start = zlib.crc32(model.encode()) % len(FALLBACK)
        pick = next((FALLBACK[(start + k) % len(FALLBACK)] for k in range(len(FALLBACK))
                     if FALLBACK[(start + k) % len(FALLBACK)] not in taken), FALLBACK[start])
        colors[model] = pick
        taken.add(pick)
    return colors


def reference_lines(summary: Summary) -> list[tuple[float, str, Any]]:
    """(value, label, colour): the task's reference levels from published.yaml (e.g. chance), the no-memory
    floor the records state, and the paper's value of every claim that has one about a model in the figure (in that
    model's colour)."""
    lines = [(float(ref["value"]), ref["label"], "black") for ref in summary.spec.get("reference_lines", [])]
    floors = sorted({r.extra["no_memory_floor"] for row in summary.rows for _, r in row.cell.runs
                     if isinstance(r.extra.get("no_memory_floor"), (int, float))})
    lines += [(float(f), "no-memory floor", "black") for f in floors]
    shown = {row.cell.model for row in summary.rows}
    for claim in summary.spec.get("claims", []):
        if claim.get("rule") in CLAIM_VALUE_RULES and isinstance(claim.get("value"), (int, float)) \
                and claim.get("model") in shown:
            lines.append((float(claim["value"]), f"paper: {claim['id']} ({claim['model']})",
                          figure_colors([r.cell.model for r in summary.rows] + [claim["model"]])[claim["model"]]))
    return lines


def draw_reference_lines(ax: Any, lines: list[tuple[float, str, Any]]) -> None:
    for value, label, color in lines:
        ax.axhline(value, color=color, linestyle=":", linewidth=1.2, label=f"{label} = {value:g}")


def eval_points(row: Row, metric: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Median across seeds of the held-out metric at each evaluation episode (the record's eval_curve)."""
    by_episode: dict[float, list[float]] = {}
    for _, record in row.cell.runs:
        curve = record.eval_curve if isinstance(record.eval_curve, dict) else {}
        for episode, value in zip(curve.get("episode", []), curve.get(metric, [])):
            if isinstance(value, (int, float)) and math.isfinite(value):
                by_episode.setdefault(float(episode), []).append(float(value))
    if not by_episode:
        return None
    episodes = np.array(sorted(by_episode))
    return episodes, np.array([np.median(by_episode[e]) for e in episodes])


def clipped_range(curves: list[tuple[np.ndarray, np.ndarray]], keep: list[float]) -> tuple[float, float] | None:
    """A y range without the first WARMUP share of the episodes when those early values would take more than
    half of the axis (one early spike flattening every later gap); ``keep`` (reference lines, held-out points)
    stays inside. None when the full range is fine."""
    spans = [(x[0], x[-1]) for x, _ in curves if x.size]
    if not spans:
        return None
    start = min(s for s, _ in spans) + WARMUP * (max(e for _, e in spans) - min(s for s, _ in spans))
    late = np.concatenate([y[(x >= start) & np.isfinite(y)] for x, y in curves] + [np.asarray(keep, dtype=float)])
    full = np.concatenate([y[np.isfinite(y)] for _, y in curves] + [np.asarray(keep, dtype=float)])
    if not late.size or not full.size:
        return None
    low, high = float(late.min()), float(late.max())
    if (float(full.max()) - float(full.min())) <= 2 * max(high - low, 1e-12):
        return None
    pad = 0.08 * max(high - low, 1e-12)
    return low - pad, high + pad


def integer_episode_ticks(ax: Any) -> None:
    """Whole episode counts on the x axis, written with thousands separators (10,000 / 1,000,000). On a log axis
    this is also what keeps them readable: matplotlib's own log labels are mathtext, which the figures turn off
    (``text.parse_math``: a "$" in a record's label must print), so they would print as raw TeX."""
    if ax.get_xscale() == "linear":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
