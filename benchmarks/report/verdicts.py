"""The decision rules behind every verdict, on plain numbers (no records, no YAML): each returns
(outcome, reason) and is tested on hand-made inputs in tests/test_verdicts.py.

Outcomes: reproduced / contradicted / inconclusive; a convergence claim whose outcome changes inside the plausible
range of an analysis choice is "sensitive" (see ``sensitivity``). ALPHA is the per-claim level: each claim is its
own replication question; the report shows beside it whether it survives Holm and Benjamini-Hochberg over every
verdict-bearing test of its budget.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy import stats as sps

from benchmarks.report import exact, stats
from benchmarks.report.tables import fmt

ALPHA = 0.05
OUTCOMES = ("reproduced", "contradicted", "inconclusive")
SENSITIVE = "sensitive"


def judge_order(p_claimed: float, p_opposite: float, floor: float) -> tuple[str, str]:
    """An ordering claim from its two one-sided exact p-values and the smallest p the seeds can reach."""
    if p_claimed <= ALPHA:
        return "reproduced", "p sits on the floor: the strongest result these seeds can give" \
            if p_claimed <= floor else ""
    if p_opposite <= ALPHA:
        return "contradicted", "significant in the opposite direction" + \
            (" (p on the floor)" if p_opposite <= floor else "")
    if floor > ALPHA:
        return "inconclusive", f"these seeds cannot reach p ≤ {ALPHA}: the smallest attainable p is {fmt(floor)}"
    return "inconclusive", f"not significant in either direction at {ALPHA}"


@dataclass(frozen=True)
class Paired:
    """The primary and secondary tests of an ordering claim on two arms' final metrics."""

    paired: bool  # the primary test is the paired one (the arms share seeds and their data streams)
    p_claimed: float  # primary, one-sided, in the claimed direction
    p_opposite: float
    floor: float  # the smallest one-sided p the primary test can reach with these seeds
    test: str  # the primary test, in words
    mw_claimed: float  # Mann-Whitney, one-sided in the claimed direction (shown beside)
    n_for: int  # pairs (or, unpaired, seed pairs) in the claimed direction
    n_pairs: int


def order_tests(better: Sequence[float], worse: Sequence[float], lower_is_better: bool, paired: bool) -> Paired:
    """Exact one-sided tests of "better beats worse": the Wilcoxon signed-rank test on per-seed differences when
    ``paired`` (the same seeds, hence the same training episodes and evaluation pool), else Mann-Whitney."""
    claimed, opposite = ("less", "greater") if lower_is_better else ("greater", "less")
    b, w = np.asarray(better, dtype=float), np.asarray(worse, dtype=float)
    mw = exact.mann_whitney(b, w, claimed)
    if paired:
        d = (w - b) if lower_is_better else (b - w)  # positive = the claimed direction
        nonzero = int(np.count_nonzero(d))
        return Paired(True, exact.signed_rank(b, w, claimed), exact.signed_rank(b, w, opposite),
                      exact.paired_floor(nonzero), f"exact Wilcoxon signed-rank, {b.size} pairs", mw,
                      int((d > 0).sum()), b.size)
    wins = (w[None, :] > b[:, None]) if lower_is_better else (b[:, None] > w[None, :])
    return Paired(False, mw, exact.mann_whitney(b, w, opposite), exact.unpaired_floor(b.size, w.size),
                  f"exact Mann-Whitney, {b.size} vs {w.size} seeds", mw, int(wins.sum()), b.size * w.size)


def judge_converges(by_limit: int, n: int, limit: float) -> tuple[str, str]:
    """A "converges within ``limit``" claim says the median run converges by ``limit``, i.e. more than half the runs
    do. Exact one-sided sign tests, one each way: reproduced when significantly more than half of the ``n`` runs
    converged by ``limit``, contradicted when significantly fewer did, inconclusive otherwise (always below 5 runs:
    the smallest attainable p is 1/2^n)."""
    said = f"{by_limit}/{n} runs converged by episode {fmt(limit)}"
    p_yes, p_no, floor = exact.sign_test_at_least(by_limit, n), exact.sign_test_at_most(by_limit, n), 0.5 ** n
    if p_yes <= ALPHA:
        return "reproduced", f"{said}: one-sided sign test p = {fmt(p_yes)}"
    if p_no <= ALPHA:
        return "contradicted", f"{said}: one-sided sign test p = {fmt(p_no)} that the median lies beyond it"
    if floor > ALPHA:
        return "inconclusive", f"{said}: {n} runs cannot reach p ≤ {ALPHA} (smallest attainable p = {fmt(floor)})"
    return "inconclusive", f"{said}: sign-test p = {fmt(min(p_yes, p_no))} > {ALPHA} either way"


def sensitivity(verdict_at: Callable[[int, float], str], window: int, windows: Sequence[int], limit: float,
                limits: Sequence[float]) -> tuple[list[tuple[str, list[tuple[float, str]]]], list[str]]:
    """The verdict as each analysis choice moves over its plausible range, the other held at its fixed value:
    ([("window", [(w, verdict), ...]), ("episodes", [...])], [choices whose range gives more than one verdict])."""
    table = [("window", [(float(w), verdict_at(int(w), limit)) for w in windows]),
             ("episodes", [(float(e), verdict_at(window, float(e))) for e in limits])]
    flips = [name for name, points in table if len({v for _, v in points if v in OUTCOMES}) > 1]
    return table, flips


def sensitivity_text(table: list[tuple[str, list[tuple[float, str]]]]) -> str:
    return "; ".join(f"{name} " + ", ".join(f"{fmt(v)} → {verdict}" for v, verdict in points)
                     for name, points in table if len(points) > 1)


@dataclass(frozen=True)
class Equivalence:
    """Two one-sided tests of a value claim: is the true value within ``margin`` of the published one?"""

    p_inside: float  # TOST p: the larger of the two one-sided p's that the value is above low and below high
    p_outside: float  # the smaller one-sided p that the value lies below low or above high
    floor: float  # the smallest p_inside these seeds (or test episodes) can reach
    ci: stats.Interval  # the (1 - 2 ALPHA) interval that TOST inverts
    estimate: float


def equivalence_median(values: Sequence[float], low: float, high: float) -> Equivalence:
    """Exact sign tests on the seeds for the median (distribution-free); the interval is the order-statistic
    90% CI of the median. The floor is 1/2^n: 5 seeds are the fewest that can decide at 0.05."""
    x = np.asarray(values, dtype=float)
    n = x.size
    if not n:
        return Equivalence(math.nan, math.nan, math.nan, stats.Interval(math.nan, math.nan, "undefined", "no runs"),
                           math.nan)
    above_low, below_high = int((x > low).sum()), int((x < high).sum())
    below_low, above_high = int((x < low).sum()), int((x > high).sum())
    p_in = max(exact.sign_test_at_least(above_low, n), exact.sign_test_at_least(below_high, n))
    p_out = min(exact.sign_test_at_least(below_low, n), exact.sign_test_at_least(above_high, n))
    return Equivalence(p_in, p_out, 0.5 ** n, stats.median_interval(x, level=1 - 2 * ALPHA), float(np.median(x)))


def equivalence_mean(values: Sequence[float], low: float, high: float) -> Equivalence:
    """One-sample t tests for the mean across seeds (TOST); the interval is the 90% t interval."""
    x = np.asarray(values, dtype=float)
    mean, ci = stats.t_interval(x, level=1 - 2 * ALPHA)
    if x.size < 2 or x.std(ddof=1) == 0:
        return Equivalence(math.nan, math.nan, 0.0 if x.size >= 2 else math.nan, ci, mean)
    se, df = x.std(ddof=1) / math.sqrt(x.size), x.size - 1
    p_in = max(float(sps.t.sf((mean - low) / se, df)), float(sps.t.cdf((mean - high) / se, df)))
    p_out = min(float(sps.t.cdf((mean - low) / se, df)), float(sps.t.sf((mean - high) / se, df)))
    return Equivalence(p_in, p_out, 0.0, ci, mean)


def _score_p(k: int, n: int, p0: float, upper: bool) -> float:
    """One-sided score-test p of "the proportion is above p0" (``upper``) or below it, for k of n."""
    if p0 <= 0.0 or p0 >= 1.0:
        return 0.0 if (upper and p0 <= 0.0) or (not upper and p0 >= 1.0) else 1.0
    z = (k / n - p0) / math.sqrt(p0 * (1 - p0) / n)
    return float(sps.norm.sf(z) if upper else sps.norm.cdf(z))


def equivalence_pooled(k: int, n: int, low: float, high: float) -> Equivalence:
    """Score tests on a pooled proportion k/n (the Wilson interval inverts the same test); the interval is the
    90% Wilson interval. The floor is the TOST p of a perfect result (k/n at the middle of the margin)."""
    if not n:
        return Equivalence(math.nan, math.nan, math.nan, stats.Interval(math.nan, math.nan, "undefined", "no runs"),
                           math.nan)
    p_in = max(_score_p(k, n, low, True), _score_p(k, n, high, False))
    p_out = min(_score_p(k, n, low, False), _score_p(k, n, high, True))
    mid = round((low + high) / 2 * n)
    floor = max(_score_p(mid, n, low, True), _score_p(mid, n, high, False))
    ci = sps.binomtest(k, n).proportion_ci(confidence_level=1 - 2 * ALPHA, method="wilson")
    return Equivalence(p_in, p_out, floor, stats.Interval(float(ci.low), float(ci.high), "Wilson"), k / n)


def judge_equivalence(e: Equivalence, low: float, high: float) -> tuple[str, str]:
    """Reproduced when both one-sided tests put the value inside [low, high] (TOST p ≤ ALPHA: the 90% interval lies
    inside the margin); contradicted when a one-sided test puts it outside (the 90% interval lies beyond an edge);
    inconclusive otherwise, saying whether the seeds could have decided at all."""
    margin = f"[{fmt(low)}, {fmt(high)}]"
    if math.isnan(e.p_inside):
        return "inconclusive", f"no test possible ({e.ci.note or 'too few seeds or identical values'})"
    if e.p_inside <= ALPHA:
        return "reproduced", f"TOST p = {fmt(e.p_inside)}: the value lies within {margin}"
    if e.p_outside <= ALPHA:
        return "contradicted", f"one-sided p = {fmt(e.p_outside)} that the value lies outside {margin}"
    if e.floor > ALPHA:
        return "inconclusive", (f"no result of this many seeds (test episodes) can decide: the smallest attainable TOST p is "
                                f"{fmt(e.floor)} > {ALPHA}")
    return "inconclusive", f"TOST p = {fmt(e.p_inside)}, outside p = {fmt(e.p_outside)}: neither ≤ {ALPHA}"


def judge_speedup(ratio: float, kind: str, lowest: float, highest: float, min_ratio: float) -> tuple[str, str]:
    """"fast converges ``min_ratio`` times faster than slow": reproduced when even the least favourable ratio of the
    medians' 95% CI ends (slow's low end / fast's high end) reaches ``min_ratio``; contradicted when even the most
    favourable one (slow's high end / fast's low end) stays below it; otherwise inconclusive. ``kind`` "lower bound":
    slow's median lies beyond its budget, so nothing bounds the ratio from above."""
    if kind == "undefined":
        return "inconclusive", "the fast model's median is not reached"
    if math.isfinite(lowest) and lowest >= min_ratio:
        return "reproduced", f"even the ratio of the medians' CI ends is ≥ {fmt(lowest)}x"
    if kind == "lower bound":
        return "not comparable", f"budget too short to bound the ratio above {fmt(min_ratio)}"
    if math.isfinite(highest) and highest < min_ratio:
        return "contradicted", f"even the ratio of the medians' CI ends is {fmt(highest)}x"
    return "inconclusive", (f"ratio {fmt(ratio)}x; the medians' CIs allow {fmt(lowest)}x to {fmt(highest)}x "
                            f"around {fmt(min_ratio)}x")


def judge_above(ci: stats.Interval, value: float) -> tuple[str, str]:
    """A sanity check (not a paper claim): the lower end of the 95% t CI above ``value``."""
    if math.isnan(ci.low):
        return "inconclusive", f"our CI is undefined ({ci.note})"
    if ci.low > value:
        return "reproduced", ""
    if ci.high < value:
        return "contradicted", f"our 95% t CI lies below {fmt(value)}"
    return "inconclusive", f"our 95% t CI contains {fmt(value)}"
