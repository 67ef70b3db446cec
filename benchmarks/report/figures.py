"""Report figures: learning curves (median and interquartile band across seeds) and convergence survival curves,
plus the figures a task module offers through ``report_figures(records, out_dir) -> list[Path]``.

Figures are written without pyplot (no global state) as PNG and SVG; the SVG has a fixed hash salt and no date,
so regenerating from the same records gives identical files.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from benchmarks.harness.atomic import atomic_savefig
from benchmarks.report import figure_parts as parts, stats
from benchmarks.report.summary import Row, Summary
from benchmarks.tasks import TASKS

# text.parse_math off: labels come from records (config values), and a "$" in one must print, not start mathtext
RC = {"svg.hashsalt": "plasticbench", "font.size": 10, "axes.grid": True, "grid.alpha": 0.3, "text.parse_math": False}


def save(fig: Figure, stem: Path) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    with matplotlib.rc_context(RC):
        atomic_savefig(fig, paths[0], dpi=120, metadata={"Software": None})
        atomic_savefig(fig, paths[1], metadata={"Date": None, "Creator": None})
    return paths


def _use_log_x(max_episode: float, min_episode: float) -> bool:
    """Log x when the curve spans more than two decades (early learning would otherwise be a sliver)."""
    return min_episode > 0 and max_episode / min_episode > 100


def _curve_band(row: Row, metric: str, window: int | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Episodes grid and per-seed curves (smoothed over ``window`` episodes) interpolated onto it."""
    runs = [r.curves for _, r in row.cell.runs if metric in r.curves and "episode" in r.curves]
    if not runs:
        return None
    grid = np.unique(np.concatenate([np.asarray(c["episode"], dtype=float) for c in runs]))
    curves = []
    for c in runs:
        e, v = np.asarray(c["episode"], dtype=float), np.asarray(c[metric], dtype=float)
        if window:
            v = stats.smooth(e, v, window)
        inside = (grid >= e[0]) & (grid <= e[-1])
        curves.append(np.where(inside, np.interp(grid, e, v), np.nan))
    return grid, np.vstack(curves)


def learning_curves(summary: Summary, stem: Path) -> list[Path]:
    """Training curves (median and interquartile band across seeds), held-out evaluation points (median across
    seeds), and the task's reference lines; the y axis leaves out an early spike that would flatten the gaps."""
    section, criterion = summary.section, summary.spec.get("convergence") or {}
    metric = section.metric
    window = int(criterion["window"]) if criterion.get("metric") == metric else None
    longest = max((r.episodes for row in summary.rows for _, r in row.cell.runs), default=0)
    if window and window >= longest:
        window = None  # runs shorter than the window (smoke budgets): plot them unsmoothed
    lines = parts.reference_lines(summary)
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(6.8, 4.4))
        ax = fig.add_subplot()
        drawn, held_out = _draw_rows(ax, summary.rows, metric, window)
        spans = [v for x, _ in drawn for v in (x[0], x[-1])]
        if spans and _use_log_x(max(spans), min(spans)):
            ax.set_xscale("log")
        parts.draw_reference_lines(ax, lines)
        clip = parts.clipped_range(drawn, [value for value, _, _ in lines] + held_out)
        smoothing = f", moving average over {window} episodes" if window else ""
        if clip:
            ax.set_ylim(*clip)
            smoothing += f";\ny axis clipped to the range after the first {parts.WARMUP:.0%} of training"
        parts.integer_episode_ticks(ax)
        ax.set_xlabel("training episodes")
        ax.set_ylabel(f"{metric}: training{smoothing}", fontsize=8)
        ax.set_title(f"{section.task} ({section.budget_label or section.budget}): median and interquartile range "
                     "across seeds;\n○ = held-out evaluation, median across seeds; dotted = reference levels",
                     fontsize=8)
        if spans or lines:
            ax.legend(fontsize=7)
        fig.tight_layout()
        return save(fig, stem)


def _draw_rows(ax: Any, rows: list[Row], metric: str, window: int | None
               ) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[float]]:
    """Each row's median training curve with its band, and its held-out points, in the model's colour (rows
    of one model with several configs get their own line style). Returns the drawn medians and held-out values."""
    drawn, held_out, seen = [], [], {}
    colors = parts.figure_colors([row.cell.model for row in rows])
    for row in rows:
        color = colors[row.cell.model]
        style = ("-", "--", "-.", ":")[seen.get(row.cell.model, 0) % 4]
        seen[row.cell.model] = seen.get(row.cell.model, 0) + 1
        band = _curve_band(row, metric, window)
        if band is not None:
            grid, curves = band
            keep = np.isfinite(curves).any(axis=0)
            grid, curves = grid[keep], curves[:, keep]
            if grid.size:
                with np.errstate(all="ignore"):
                    q25, q50, q75 = np.nanpercentile(curves, [25, 50, 75], axis=0)
                ax.plot(grid, q50, color=color, linestyle=style, label=f"{row.cell.label} (n={curves.shape[0]})")
                ax.fill_between(grid, q25, q75, color=color, alpha=0.2, linewidth=0)
                drawn.append((grid, q50))
        points = parts.eval_points(row, metric)
        if points is not None:
            ax.plot(*points, "o", color=color, markerfacecolor="white", markersize=5, linestyle="none")
            held_out += points[1].tolist()
    return drawn, held_out


def value_claim_curves(summary: Summary, stem: Path) -> list[Path]:
    """One figure per value claim (rule ``equivalence``) judged at this budget: every seed's held-out curve of the
    claim's model (its record's evaluation curve), the published value (dotted) with the claim's margin (band), and
    the verdict with our value and its interval in the title. For the long runs of the paper's protocols, where a
    few seeds are each worth seeing."""
    metric, paths = summary.section.metric, []
    for result in summary.claims:
        claim = result.claim
        if claim.get("rule") != "equivalence" or result.verdict == "not comparable":
            continue
        runs = sorted(((record.seed, record) for row in summary.rows if row.cell.model == claim["model"]
                       for _, record in row.cell.runs), key=lambda pair: pair[0])
        if not runs:
            continue
        value, margin = float(claim["value"]), float(claim["margin"])
        with matplotlib.rc_context(RC):
            fig = Figure(figsize=(6.8, 4.2))
            ax = fig.add_subplot()
            colors = matplotlib.colormaps["viridis"](np.linspace(0.0, 0.85, len(runs)))
            for color, (seed, record) in zip(colors, runs):
                episodes, values = record.eval_curve.get("episode", []), record.eval_curve.get(metric, [])
                ax.plot(episodes, values, "o-", color=color, markersize=3, linewidth=1.2,
                        label=f"seed {seed} ({record.episodes:,} episodes)")
            ax.axhline(value, color="black", linestyle=":", linewidth=1.4, label=f"paper: {value:g}")
            ax.axhspan(value - margin, value + margin, color="black", alpha=0.08, linewidth=0,
                       label=f"margin ± {margin:g}")
            parts.integer_episode_ticks(ax)
            ax.set_xlabel("training episodes")
            ax.set_ylabel(f"held-out {metric}")
            ax.set_title(f"{summary.section.task} ({summary.section.budget_label or summary.section.budget}), "
                         f"{claim['id']} ({claim['model']}): {result.verdict}\nours {result.ours}", fontsize=8)
            ax.legend(fontsize=7)
            fig.tight_layout()
            paths += save(fig, stem.with_name(f"{stem.name}-{parts_safe(claim['id'])}"))
    return paths


def parts_safe(text: str) -> str:
    """A claim id as one file-name part (ids are short words; anything else becomes "_")."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(text)) or "_"


def survival_curves(summary: Summary, stem: Path) -> list[Path]:
    criterion = summary.spec["convergence"]
    relation = f"< {criterion['below']}" if "below" in criterion else f"> {criterion['above']}"
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(6.4, 4.2))
        ax = fig.add_subplot()
        ends = []
        colors = parts.figure_colors([row.cell.model for row in summary.rows])
        for row in summary.rows:
            km = row.survival
            if km is None or not km.n:
                continue
            color = colors[row.cell.model]
            t = np.concatenate([[0.0], km.times])
            ax.step(t, np.concatenate([[1.0], km.survival]), where="post", color=color,
                    label=f"{row.cell.label} ({km.converged}/{km.n} converged)")
            ax.fill_between(t, np.concatenate([[1.0], km.low]), np.concatenate([[1.0], km.high]), step="post",
                            color=color, alpha=0.15, linewidth=0)
            censored = [tt for tt, r in zip(row.conv_times, row.conv_reached) if not r]
            at = np.interp(censored, km.times, km.survival) if censored else []
            ax.plot(censored, at, "+", color=color, markersize=9)
            ends.append(max(km.times))
        ax.set_ylim(-0.02, 1.02)
        parts.integer_episode_ticks(ax)
        ax.set_xlabel("training episodes")
        ax.set_ylabel("fraction of runs not yet converged")
        ax.set_title(f"{summary.section.task} ({summary.section.budget_label or summary.section.budget}): "
                     f"Kaplan-Meier, {criterion['metric']} {relation} (moving average {criterion['window']} "
                     "episodes); + = censored", fontsize=8)
        if ends:
            ax.legend(fontsize=8)
        fig.tight_layout()
        return save(fig, stem)


def task_figures(summary: Summary, out_dir: Path) -> tuple[list[Path], list[str]]:
    """Figures from each task's ``report_figures`` hook (``benchmarks.tasks.TASKS``); errors become report notes."""
    runs = [record for row in summary.rows for _, record in row.cell.runs]
    kinds = sorted({str(r.config.get("task", {}).get("kind")) for r in runs})
    paths: list[Path] = []
    notes: list[str] = []
    for kind in kinds:
        if kind not in TASKS:
            notes.append(f"no task of kind {kind!r} in benchmarks.tasks.TASKS: no task-specific figures")
            continue
        try:
            paths += [Path(p) for p in TASKS[kind][0].report_figures(runs, out_dir)]
        except Exception as err:  # a task's figure bug must not lose the rest of the report
            notes.append(f"task figures of kind {kind!r} failed: {type(err).__name__}: {err}")
    return sorted(paths), notes
