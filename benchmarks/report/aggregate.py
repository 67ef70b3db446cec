"""The view across tasks that rliable gives: per budget, the probability that each plastic arm beats its
non-plastic peer, P(X better than Y) + P(tie)/2 over all seed pairs of the final held-out metric, with a 95%
bootstrap interval; and, per arm, the mean of that probability over the tasks where both arms ran (the
interval from a bootstrap stratified by task). scipy/numpy only: the statistic is stats.prob_improvement.
"""
from __future__ import annotations

import csv
import functools
import io
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import yaml

from benchmarks.harness.models import FAMILIES
from benchmarks.harness.records import SAFE_NAME
from benchmarks.harness.seeding import numpy_generator
from benchmarks.report import stats
from benchmarks.report.published import paired_values
from benchmarks.report.summary import Row, Summary
from benchmarks.report.tables import fmt, fmt_interval

RESAMPLES = 2000
ALL_TASKS = "mean over tasks"


MODEL_CONF = Path(__file__).resolve().parents[1] / "conf" / "model"


def peer(model: str, config: dict | None = None) -> str | None:
    """The non-plastic model an arm is compared with, as declared where the model is declared: the ``peer`` key
    of its record's model config, else of its YAML (benchmarks/conf/model/<model>.yaml; records written before
    the key existed); None when it declares none."""
    declared = ((config or {}).get("model") or {}).get("peer")
    return declared or _yaml_peer(model)


@functools.lru_cache(maxsize=None)
def _yaml_peer(model: str) -> str | None:
    """The peer declared in the model's YAML, read once per model and report."""
    path = MODEL_CONF / f"{model}.yaml"
    if SAFE_NAME.fullmatch(model) and path.is_file():
        return (yaml.safe_load(path.read_text()) or {}).get("peer")
    return None


def is_plastic(config: dict) -> bool:
    """A model whose connections change within an episode: one that declares a non-plastic peer, or a model of a
    family registered plastic (``benchmarks.harness.models.FAMILIES``) whose config does not switch it off (rule or
    alpha "none"). ``without_peer`` also counts a model that is another's peer as the non-plastic arm."""
    model = config.get("model") or {}
    family = FAMILIES.get(str(model.get("family")))
    registered = family is not None and family.plastic
    return bool(model.get("peer")) or (registered and model.get("rule") != "none" and model.get("alpha") != "none")


@dataclass
class Comparison:
    budget: str
    task: str  # a task name, or ALL_TASKS for the mean over tasks
    arm: str
    peer: str
    p: float  # P(arm better than peer) + P(tie)/2
    low: float
    high: float
    seeds: str  # "n_arm x n_peer", or the number of tasks for ALL_TASKS
    p_value: float  # one-sided exact p (arm better than peer), paired when the arms share seeds; NaN for ALL_TASKS
    test: str = ""  # "signed-rank" (paired by seed) or "Mann-Whitney"
    mw_p: float = math.nan  # one-sided exact Mann-Whitney p, shown beside the paired one


def _single_rows(summary: Summary) -> dict[str, Row]:
    """Rows by model, leaving out models with several configs in one table (they are not one arm)."""
    counts: dict[str, int] = defaultdict(int)
    for row in summary.rows:
        counts[row.cell.model] += 1
    return {row.cell.model: row for row in summary.rows if counts[row.cell.model] == 1}


def _resampled(pairs: Sequence[tuple[np.ndarray, np.ndarray, bool]], rng: np.random.Generator) -> np.ndarray:
    """Mean over ``pairs`` (one per task) of P(improvement), each arm's seeds resampled with replacement."""
    draws = np.zeros(RESAMPLES)
    for x, y, lower in pairs:
        xs = x[rng.integers(0, x.size, (RESAMPLES, x.size))]
        ys = y[rng.integers(0, y.size, (RESAMPLES, y.size))]
        draws += np.array([stats.prob_improvement(a, b, lower) for a, b in zip(xs, ys)])
    return draws / len(pairs)


def _comparison(budget: str, task: str, arm: str, other: str, pairs: list[tuple[np.ndarray, np.ndarray, bool]],
                seeds: str, paired: tuple[list[float], list[float]] | None = None) -> Comparison:
    p = float(np.mean([stats.prob_improvement(x, y, lower) for x, y, lower in pairs]))
    low = high = math.nan  # a bootstrap over fewer seeds cannot reach beyond them (stats.MIN_BOOTSTRAP_SEEDS)
    if min(min(x.size, y.size) for x, y, _ in pairs) >= stats.MIN_BOOTSTRAP_SEEDS:
        draws = _resampled(pairs, numpy_generator("aggregate", budget, task, arm))
        low, high = np.percentile(draws, [2.5, 97.5])
    if len(pairs) > 1:
        return Comparison(budget, task, arm, other, p, float(low), float(high), seeds, math.nan)
    x, y, lower = pairs[0]
    side = "less" if lower else "greater"
    mw = stats.mann_whitney(x, y, side)
    if paired:
        return Comparison(budget, task, arm, other, p, float(low), float(high), seeds,
                          stats.signed_rank(paired[0], paired[1], side), "signed-rank", mw)
    return Comparison(budget, task, arm, other, p, float(low), float(high), seeds, mw, "Mann-Whitney", mw)


def comparisons(summaries: list[Summary]) -> list[Comparison]:
    """Every (budget, task, plastic arm) whose peer ran in the same table, then per (budget, arm) the mean over
    the tasks where it has a peer (when there are at least two)."""
    out: list[Comparison] = []
    by_arm: dict[tuple[str, str, str], list[tuple[np.ndarray, np.ndarray, bool]]] = defaultdict(list)
    for summary in sorted(summaries, key=lambda s: (s.section.budget, s.section.task)):
        s, rows = summary.section, _single_rows(summary)
        for model, row in sorted(rows.items()):
            other = peer(model, row.cell.config)
            if other not in rows:
                continue
            pair = (np.asarray(row.values), np.asarray(rows[other].values), s.lower_is_better)
            pa, pb, unpaired = paired_values(row, rows[other])
            out.append(_comparison(s.budget, s.task, model, other, [pair], f"{pair[0].size} x {pair[1].size}",
                                   None if unpaired else (pa, pb)))
            by_arm[(s.budget, model, other)].append(pair)
    for (budget, arm, other), pairs in sorted(by_arm.items()):
        if len(pairs) > 1:
            out.append(_comparison(budget, ALL_TASKS, arm, other, pairs, f"{len(pairs)} tasks"))
    return out


def without_peer(summaries: list[Summary]) -> list[str]:
    """Plastic models of the report that declare no peer (or whose peer did not run beside them): listed, so none
    is left out of the across-task view without a word."""
    out = set()
    for summary in summaries:
        rows = _single_rows(summary)
        declared = {model: peer(model, row.cell.config) for model, row in rows.items()}
        for model, row in rows.items():
            other = declared[model]
            if is_plastic(row.cell.config) and model not in declared.values() and other not in rows:
                why = "declares no peer" if other is None else f"its peer {other} did not run beside it"
                out.add(f"{model} ({summary.section.task}, {summary.section.budget}: {why})")
    return sorted(out)


def table(items: list[Comparison]) -> tuple[list[str], list[list[str]]]:
    headers = ["Budget", "Task", "Plastic arm", "Non-plastic peer", "P(arm better)", "95% bootstrap CI",
               "one-sided exact p (test)", "one-sided exact Mann-Whitney p", "Seeds"]
    rows = [[c.budget, c.task, c.arm, c.peer, fmt(c.p), _interval_text(c),
             f"{fmt(c.p_value)} ({c.test})" if c.test else "n/a", fmt(c.mw_p), c.seeds] for c in items]
    return headers, rows


def _interval_text(c: Comparison) -> str:
    if math.isnan(c.low):
        return f"undefined (not computed below {stats.MIN_BOOTSTRAP_SEEDS} seeds per arm)"
    return fmt_interval(stats.Interval(c.low, c.high, "percentile"))


def to_csv(items: list[Comparison]) -> str:
    """Every comparison at full precision (repr)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["budget", "task", "arm", "peer", "p_improvement", "ci_low", "ci_high", "p_value", "test",
                     "mann_whitney_p", "seeds"])
    for c in items:
        writer.writerow([c.budget, c.task, c.arm, c.peer, repr(c.p), repr(c.low), repr(c.high), repr(c.p_value),
                         c.test, repr(c.mw_p), c.seeds])
    return out.getvalue()


EXPLAINED = (
    "P(arm better) is the probability that a seed of the plastic arm ends with a better final held-out metric "
    "than a seed of its non-plastic peer (the same network without plasticity), counting ties as one half, over "
    "all seed pairs (rliable's probability of improvement; 0.5 = no difference). The 95% interval is a "
    f"percentile bootstrap ({RESAMPLES} resamples of each arm's seeds; for the mean over tasks, resampled within "
    f"each task), computed only when every arm has at least {stats.MIN_BOOTSTRAP_SEEDS} seeds: over fewer seeds "
    "a bootstrap cannot reach beyond the seeds' own range (with 3 seeds it collapses to [1, 1] when every seed "
    "of the arm beat every seed of the peer). The exact one-sided p says how sure a single task's comparison is: "
    "the Wilcoxon signed-rank test on per-seed differences when the two arms share seeds (the same training episodes "
    "and evaluation pool; with n pairs it cannot go below 1/2^n, 0.125 for 3 seeds), Mann-Whitney otherwise; the "
    "exact Mann-Whitney p is shown beside it.")


def figure(items: list[Comparison], budget: str, stem: Path) -> list[Path]:
    """One row per comparison of the budget: P(arm better) with its interval, 0.5 marked."""
    from matplotlib.figure import Figure
    import matplotlib

    from benchmarks.report.figure_parts import figure_colors
    from benchmarks.report.figures import RC, save
    chosen = [c for c in items if c.budget == budget]
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(8.0, 1.2 + 0.3 * len(chosen)))
        ax = fig.add_subplot()
        colors = figure_colors([c.arm for c in chosen])
        for y, c in enumerate(reversed(chosen)):
            marker = "D" if c.task == ALL_TASKS else "o"
            xerr = None if math.isnan(c.low) else [[c.p - c.low], [c.high - c.p]]  # no interval below 5 seeds
            ax.errorbar([c.p], [y], xerr=xerr, fmt=marker, color=colors[c.arm], capsize=3)
        ax.set_yticks(range(len(chosen)), [f"{c.task}: {c.arm} vs {c.peer}" for c in reversed(chosen)], fontsize=7)
        ax.axvline(0.5, color="gray", linestyle="--", linewidth=1)
        ax.set_xlim(-0.02, 1.02)
        ax.set_xlabel("P(arm better than peer), 95% bootstrap CI (none below "
                      f"{stats.MIN_BOOTSTRAP_SEEDS} seeds per arm)", fontsize=9)
        ax.set_title(f"Budget {budget}: plastic arm vs its non-plastic peer\n(● per task, ◆ mean over tasks; "
                     "0.5 = no difference)", fontsize=9)
        fig.tight_layout()
        return save(fig, stem)
