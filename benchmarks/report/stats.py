"""Small, exact statistics for the reporter (in the spirit of rliable): every function says what its interval is.

- ``t_interval``: mean and Student-t 95% CI across seeds, clipped to the metric's range when it has one.
- ``bootstrap_interval``: BCa bootstrap CI of the mean (scipy), percentile when BCa is undefined; none below
  ``MIN_BOOTSTRAP_SEEDS`` seeds.
- ``median_interval``: distribution-free (order-statistic) CI of the median across seeds.
- ``wilson_pooled``: Wilson CI of an accuracy pooled over every test episode of every seed.
- ``convergence_episode`` + ``kaplan_meier``: first episode at which the smoothed training metric meets a
  criterion, right-censored at the budget; Kaplan-Meier median with a CI; ``logrank``; ``median_ratio``.
- ``prob_improvement``: rliable's probability of improvement between two arms' final metrics.
- The rank and sign tests (exact Mann-Whitney, exact Wilcoxon signed-rank, sign tests, Holm, Benjamini-Hochberg)
  live in ``benchmarks.report.exact`` and are re-exported here.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

from benchmarks.report.exact import (benjamini_hochberg, holm, mann_whitney, paired_floor,  # noqa: F401
                                     sign_test_at_least, sign_test_at_most, signed_rank, unpaired_floor)

LEVEL = 0.95
# Below 5 seeds a bootstrap of the mean cannot reach beyond the seeds' own range and covers far less than its
# nominal 95% (3 seeds: 27 resamples, 10 distinct means); the t interval is the honest one there.
MIN_BOOTSTRAP_SEEDS = 5


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    method: str  # "t", "BCa", "percentile", "Wilson", ... or "undefined"
    note: str = ""  # why a fallback was used or why the interval is undefined


def t_interval(values: Sequence[float], level: float = LEVEL,
               bounds: tuple[float, float] | None = None) -> tuple[float, Interval]:
    """Mean and Student-t CI across seeds: mean +- t_{n-1} * s / sqrt(n) (s with ddof 1).

    ``bounds``: the metric's range (error rates, accuracies: (0, 1)); the interval is clipped to it. The true
    mean lies in the range, so clipping never removes it from the interval: the coverage is unchanged, and no
    end is printed that the metric cannot take (method "t, clipped")."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return math.nan, Interval(math.nan, math.nan, "undefined", "no runs")
    mean = float(x.mean())
    if x.size == 1:
        return mean, Interval(math.nan, math.nan, "undefined", "one seed")
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    low, high = mean - half, mean + half
    if bounds is not None and (low < bounds[0] or high > bounds[1]):
        return mean, Interval(max(low, float(bounds[0])), min(high, float(bounds[1])), "t, clipped",
                              f"clipped to the metric's range [{bounds[0]:g}, {bounds[1]:g}]")
    return mean, Interval(low, high, "t")


def bootstrap_interval(values: Sequence[float], rng: np.random.Generator, level: float = LEVEL,
                       n_resamples: int = 9999) -> Interval:
    """BCa bootstrap CI of the mean; percentile bootstrap when BCa is undefined (e.g. identical scores).
    Undefined below ``MIN_BOOTSTRAP_SEEDS`` seeds (see there)."""
    x = np.asarray(values, dtype=float)
    if x.size < MIN_BOOTSTRAP_SEEDS:
        return Interval(math.nan, math.nan, "undefined", f"not computed below {MIN_BOOTSTRAP_SEEDS} seeds")
    with warnings.catch_warnings():
        # BCa's acceleration is 0/0 for identical scores: scipy warns and returns NaN; we fall back below.
        warnings.simplefilter("ignore")
        result = stats.bootstrap((x,), np.mean, confidence_level=level, n_resamples=n_resamples,
                                 method="BCa", rng=rng)
    low, high = result.confidence_interval
    if np.isfinite(low) and np.isfinite(high):
        return Interval(float(low), float(high), "BCa")
    result = stats.bootstrap((x,), np.mean, confidence_level=level, n_resamples=n_resamples,
                             method="percentile", rng=rng)
    low, high = result.confidence_interval
    return Interval(float(low), float(high), "percentile", "BCa undefined (identical or too few distinct scores)")


def n_seeds(n: int) -> str:
    """The seed count as the report's texts write it: "1 seed", "3 seeds"."""
    return f"{n} seed{'' if n == 1 else 's'}"


def median_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Distribution-free CI of the median: [x_(k), x_(n+1-k)] of the sorted values, k the largest rank whose
    coverage 1 - 2 P(Bin(n, 1/2) < k) is still >= level. Undefined when even [min, max] covers less (n < 6 at
    95%: [min, max] of n seeds misses the median with probability 2 / 2^n)."""
    x = np.sort(np.asarray(values, dtype=float))
    n = x.size
    ranks = [k for k in range(1, n // 2 + 1) if 1 - 2 * stats.binom.cdf(k - 1, n, 0.5) >= level]
    if not ranks:
        return Interval(math.nan, math.nan, "undefined",
                        f"{n_seeds(n)} cannot give a {level:.0%} interval of the median")
    k = max(ranks)
    return Interval(float(x[k - 1]), float(x[n - k]), "order statistics")


def episode_count(accuracy: float, episodes: int) -> int:
    """Correct test episodes behind an accuracy; ValueError when accuracy * episodes is not a whole count."""
    k = int(math.floor(accuracy * episodes + 0.5))
    if not 0 <= k <= episodes or abs(accuracy * episodes - k) > 0.01:
        raise ValueError(f"accuracy {accuracy!r} x {episodes} test episodes is not a whole number of episodes")
    return k


def wilson_pooled(accuracies: Sequence[float], episodes: Sequence[int],
                  level: float = LEVEL) -> tuple[int, int, Interval]:
    """(k, n, Wilson CI) with k = sum of round(accuracy * episodes) and n = all test episodes of all seeds."""
    k = sum(episode_count(a, n) for a, n in zip(accuracies, episodes))
    n = int(sum(episodes))
    if n == 0:
        return 0, 0, Interval(math.nan, math.nan, "undefined", "no test episodes")
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
    return k, n, Interval(float(ci.low), float(ci.high), "Wilson")


def smooth(episodes: Sequence[float], values: Sequence[float], window: int) -> np.ndarray:
    """Trailing moving average over the last ``window`` episodes of a (possibly binned) curve.

    Each curve point is the mean over the episodes since the previous point, so points are weighted by those
    episode counts. Points before a full window has been seen are NaN (no early luck from one short burst).
    A bin wider than the window is its own average.
    """
    e = np.asarray(episodes, dtype=float)
    v = np.asarray(values, dtype=float)
    weights = np.diff(e, prepend=0.0)
    out = np.full(e.shape, math.nan)
    for i in range(e.size):
        if e[i] < window:
            continue
        inside = slice(int(np.searchsorted(e, e[i] - window, side="right")), i + 1)
        out[i] = float(np.average(v[inside], weights=weights[inside]))
    return out


def convergence_episode(episodes: Sequence[float], values: Sequence[float], window: int, threshold: float,
                        below: bool, budget: int) -> tuple[float, bool]:
    """(episode, reached): first episode whose smoothed value is < threshold (``below``) or > threshold;
    (budget, False) when never reached, i.e. right-censored at the budget."""
    smoothed = smooth(episodes, values, window)
    with np.errstate(invalid="ignore"):
        hit = smoothed < threshold if below else smoothed > threshold
    if hit.any():
        return float(np.asarray(episodes, dtype=float)[int(np.argmax(hit))]), True
    return float(budget), False


@dataclass(frozen=True)
class Survival:
    """Kaplan-Meier estimate of 'not yet converged' at each distinct observed time, with its pointwise CI."""

    times: tuple[float, ...]
    survival: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    median: float  # smallest time with S(t) <= 0.5; NaN when not reached
    median_ci: Interval  # bounds NaN when not reached (the upper bound is then beyond the last observation)
    converged: int
    n: int


def _censored(times: Sequence[float], reached: Sequence[bool]) -> stats.CensoredData:
    t = np.asarray(times, dtype=float)
    r = np.asarray(reached, dtype=bool)
    return stats.CensoredData(uncensored=t[r], right=t[~r])


def _first_at_or_below(times: np.ndarray, curve: np.ndarray, level: float = 0.5) -> float:
    hit = curve <= level
    return float(times[int(np.argmax(hit))]) if hit.any() else math.nan


def kaplan_meier(times: Sequence[float], reached: Sequence[bool], level: float = LEVEL) -> Survival:
    """KM survival (scipy ``ecdf`` on ``CensoredData``), its log-log pointwise CI, and the median with a CI
    read off that band: [first t with lower band <= 0.5, first t with upper band <= 0.5].

    The log-log band is undefined where S is 0 or 1 (Greenwood variance 0); there the band is S itself.
    """
    n, converged = len(times), int(np.sum(reached))
    if n == 0:
        return Survival((), (), (), (), math.nan, Interval(math.nan, math.nan, "undefined", "no runs"), 0, 0)
    sf = stats.ecdf(_censored(times, reached)).sf
    t, s = np.asarray(sf.quantiles, dtype=float), np.asarray(sf.probabilities, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        band = sf.confidence_interval(level, method="log-log")
    low = np.where(np.isfinite(band.low.probabilities), band.low.probabilities, s)
    high = np.where(np.isfinite(band.high.probabilities), band.high.probabilities, s)
    median = _first_at_or_below(t, s)
    ci = Interval(_first_at_or_below(t, low), _first_at_or_below(t, high), "KM log-log",
                  "" if converged else "no run converged")
    as_floats = [tuple(float(v) for v in a) for a in (t, s, low, high)]
    return Survival(*as_floats, median, ci, converged, n)


def logrank(times_a: Sequence[float], reached_a: Sequence[bool], times_b: Sequence[float],
            reached_b: Sequence[bool]) -> float:
    """Two-sided log-rank p-value (scipy); NaN when undefined (e.g. no run of either group converged)."""
    if not len(times_a) or not len(times_b) or not (any(reached_a) or any(reached_b)):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.logrank(_censored(times_a, reached_a), _censored(times_b, reached_b)).pvalue)


def median_ratio(other: Survival, reference: Survival, budget_other: float) -> tuple[float, str]:
    """How many times faster the reference converges: median(other) / median(reference).

    Returns (ratio, kind): kind "exact" when both medians are reached, "lower bound" when only the
    reference's is (the other's median lies beyond its budget), "undefined" otherwise (ratio NaN).
    """
    if math.isnan(reference.median):
        return math.nan, "undefined"
    if math.isnan(other.median):
        return budget_other / reference.median, "lower bound"
    return other.median / reference.median, "exact"


def _u_statistic(x: np.ndarray, y: np.ndarray) -> float:
    """U of x: pairs with x > y plus half the ties."""
    diff = x[:, None] - y[None, :]
    return float((diff > 0).sum() + 0.5 * (diff == 0).sum())


def prob_improvement(x: Sequence[float], y: Sequence[float], lower_is_better: bool) -> float:
    """P(X better than Y) + P(tie)/2 over all seed pairs (rliable's probability of improvement)."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if not a.size or not b.size:
        return math.nan
    u = float(_u_statistic(b, a) if lower_is_better else _u_statistic(a, b))
    return u / (a.size * b.size)
