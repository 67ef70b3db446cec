"""Statistics of one report table: per-row final-metric intervals, convergence, and pairwise comparisons."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks.harness.seeding import numpy_generator
from benchmarks.report import stats
from benchmarks.report.collect import Cell, Section


@dataclass
class Row:
    cell: Cell
    seeds: list[int]
    values: list[float]  # final primary metric per seed (held-out evaluation)
    mean: float
    t_ci: stats.Interval
    boot_ci: stats.Interval
    median: float
    wilson: tuple[int, int, stats.Interval] | None  # pooled over test episodes (accuracy metrics only)
    n_params: list[int]
    episodes: list[int]
    wall_time_s: float  # mean per run
    conv_times: list[float] = field(default_factory=list)
    conv_reached: list[bool] = field(default_factory=list)
    survival: stats.Survival | None = None
    logrank_p: float = math.nan  # vs the reference model
    ratio: tuple[float, str] = (math.nan, "undefined")  # median(this) / median(reference)


@dataclass
class Pair:
    a: str
    b: str
    p_two_sided: float  # Mann-Whitney U
    p_improvement: float  # P(a better than b) + ties/2


@dataclass
class Summary:
    section: Section
    spec: dict[str, Any]  # this task's published.yaml entry ({} when it has none)
    rows: list[Row]
    pairs: list[Pair]
    reference: Row | None
    notes: list[str] = field(default_factory=list)
    claims: list[Any] = field(default_factory=list)  # published.ClaimResult, filled by published.judge_all


def _eval_episodes(cell: Cell) -> int | None:
    try:
        return int(cell.config["budget"]["tasks"][cell.task]["eval_episodes"])
    except (KeyError, TypeError, ValueError):
        return None


def _wilson(cell: Cell, values: list[float], notes: list[str]) -> tuple[int, int, stats.Interval] | None:
    episodes = _eval_episodes(cell)
    if episodes is None:
        notes.append(f"{cell.label}: no eval_episodes in the config, no pooled Wilson interval")
        return None
    pools = [(r.seeds or {}).get("eval") for _, r in cell.runs]
    if None not in pools and len(set(pools)) < len(pools):
        notes.append(f"{cell.label}: seeds share an evaluation pool (records from before per-seed pools), so their "
                     "test episodes repeat: no pooled Wilson interval")
        return None
    try:
        return stats.wilson_pooled(values, [episodes] * len(values))
    except ValueError as err:
        notes.append(f"{cell.label}: no pooled Wilson interval ({err})")
        return None


def row_stats(cell: Cell, pooled_wilson: bool, notes: list[str], bounds: tuple[float, float] | None = None) -> Row:
    values = [float(r.final[r.primary_metric]) for _, r in cell.runs]
    mean, t_ci = stats.t_interval(values, bounds=bounds)
    boot = stats.bootstrap_interval(values, numpy_generator("bootstrap", cell.task, cell.model))
    return Row(cell=cell, seeds=[r.seed for _, r in cell.runs], values=values, mean=mean, t_ci=t_ci, boot_ci=boot,
               median=float(np.median(values)), wilson=_wilson(cell, values, notes) if pooled_wilson else None,
               n_params=sorted({r.n_params for _, r in cell.runs}), episodes=sorted({r.episodes for _, r in cell.runs}),
               wall_time_s=float(np.mean([r.wall_time_s for _, r in cell.runs])))


def add_convergence(row: Row, criterion: dict[str, Any], notes: list[str]) -> None:
    """Convergence episode of every run of the row (right-censored at its episodes), then Kaplan-Meier."""
    metric, window = criterion["metric"], int(criterion["window"])
    below = "below" in criterion
    threshold = float(criterion["below"] if below else criterion["above"])
    for path, record in row.cell.runs:
        curve = record.curves if isinstance(record.curves, dict) else {}
        if metric not in curve or "episode" not in curve:
            notes.append(f"{row.cell.label} seed {record.seed}: no training curve of {metric!r}, left out of the "
                         f"convergence table ({path})")
            continue
        time, reached = stats.convergence_episode(curve["episode"], curve[metric], window, threshold, below,
                                                  record.episodes)
        row.conv_times.append(time)
        row.conv_reached.append(reached)
    row.survival = stats.kaplan_meier(row.conv_times, row.conv_reached)


def compare_to_reference(rows: list[Row], reference: Row) -> None:
    for row in rows:
        if row is reference or reference.survival is None or row.survival is None:
            continue
        row.logrank_p = stats.logrank(row.conv_times, row.conv_reached, reference.conv_times, reference.conv_reached)
        row.ratio = stats.median_ratio(row.survival, reference.survival, max(row.conv_times, default=math.nan))


def summarise(section: Section, spec: dict[str, Any]) -> Summary:
    notes = list(section.notes)
    bounds = tuple(spec["metric_range"]) if "metric_range" in spec else None
    rows = [row_stats(cell, bool(spec.get("pooled_wilson")), notes, bounds) for cell in section.cells]
    reference_name = spec.get("reference_model", "plastic")
    reference = next((r for r in rows if r.cell.model == reference_name), None)
    criterion = spec.get("convergence")
    if criterion:
        for row in rows:
            add_convergence(row, criterion, notes)
        if reference is not None:
            compare_to_reference(rows, reference)
        else:
            notes.append(f"no {reference_name!r} runs: no log-rank test or ratio of medians")
    pairs = [Pair(a.cell.label, b.cell.label, stats.mann_whitney(a.values, b.values),
                  stats.prob_improvement(a.values, b.values, section.lower_is_better))
             for i, a in enumerate(rows) for b in rows[i + 1:]]
    return Summary(section, spec, rows, pairs, reference, notes)
