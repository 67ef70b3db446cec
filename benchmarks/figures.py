"""Report figures: learning curves (median and interquartile band across seeds) and convergence survival curves,
plus the figures a task module offers through ``report_figures(records, out_dir) -> list[Path]``.

Figures are written without pyplot (no global state) as PNG and SVG; the SVG has a fixed hash salt and no date,
so regenerating from the same records gives identical files.
"""
from __future__ import annotations

import importlib
from pathlib import Path
import matplotlib
import numpy as np
from matplotlib.figure import Figure

from benchmarks import stats
from benchmarks.atomic import atomic_savefig
from benchmarks.summary import Row, Summary

RC = {"svg.hashsalt": "plasticbench", "font.size": 10, "axes.grid": True, "grid.alpha": 0.3}
COLORS = matplotlib.colormaps["tab10"].colors


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
    section, criterion = summary.section, summary.spec.get("convergence") or {}
    metric = section.metric
    window = int(criterion["window"]) if criterion.get("metric") == metric else None
    longest = max((r.episodes for row in summary.rows for _, r in row.cell.runs), default=0)
    if window and window >= longest:
        window = None  # runs shorter than the window (smoke budgets): plot them unsmoothed
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(6.4, 4.2))
        ax = fig.add_subplot()
        spans = []
        for i, row in enumerate(summary.rows):
            band = _curve_band(row, metric, window)
            if band is None:
                continue
            grid, curves = band
            keep = np.isfinite(curves).any(axis=0)
            grid, curves = grid[keep], curves[:, keep]
            if not grid.size:
                continue
            with np.errstate(all="ignore"):
                q25, q50, q75 = np.nanpercentile(curves, [25, 50, 75], axis=0)
            color = COLORS[i % len(COLORS)]
            ax.plot(grid, q50, color=color, label=f"{row.cell.label} (n={curves.shape[0]})")
            ax.fill_between(grid, q25, q75, color=color, alpha=0.2, linewidth=0)
            spans += [grid[0], grid[-1]]
        if spans and _use_log_x(max(spans), min(spans)):
            ax.set_xscale("log")
        smoothing = f", moving average over {window} episodes" if window else ""
        ax.set_xlabel("training episodes")
        ax.set_ylabel(f"training {metric}{smoothing}")
        ax.set_title(f"{section.task} ({section.budget}): median and interquartile range across seeds", fontsize=9)
        if spans:
            ax.legend(fontsize=8)
        fig.tight_layout()
        return save(fig, stem)


def survival_curves(summary: Summary, stem: Path) -> list[Path]:
    criterion = summary.spec["convergence"]
    relation = f"< {criterion['below']}" if "below" in criterion else f"> {criterion['above']}"
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(6.4, 4.2))
        ax = fig.add_subplot()
        ends = []
        for i, row in enumerate(summary.rows):
            km = row.survival
            if km is None or not km.n:
                continue
            color = COLORS[i % len(COLORS)]
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
        ax.set_xlabel("training episodes")
        ax.set_ylabel("fraction of runs not yet converged")
        ax.set_title(f"{summary.section.task} ({summary.section.budget}): Kaplan-Meier, {criterion['metric']} "
                     f"{relation} (moving average {criterion['window']} episodes); + = censored", fontsize=8)
        if ends:
            ax.legend(fontsize=8)
        fig.tight_layout()
        return save(fig, stem)


def task_figures(summary: Summary, out_dir: Path) -> tuple[list[Path], list[str]]:
    """Figures from the task module's ``report_figures`` hook, if it has one; errors become report notes."""
    runs = [record for row in summary.rows for _, record in row.cell.runs]
    kinds = sorted({str(r.config.get("task", {}).get("kind")) for r in runs})
    paths: list[Path] = []
    notes: list[str] = []
    for kind in kinds:
        name = f"benchmarks.tasks.{kind}"
        try:
            hook = getattr(importlib.import_module(name), "report_figures", None)
            paths += [Path(p) for p in hook(runs, out_dir)] if hook is not None else []
        except ModuleNotFoundError as err:
            notes.append(f"no task module {name}: no task-specific figures" if err.name == name else
                         f"task figures of kind {kind!r} failed: {type(err).__name__}: {err}")
        except Exception as err:  # a task's figure bug must not lose the rest of the report
            notes.append(f"task figures of kind {kind!r} failed: {type(err).__name__}: {err}")
    return sorted(paths), notes
