"""Exact rank and sign tests for the reporter, and the adjustments of a family of tests.

Every p here is exact at any sample size the harness produces: the null distributions are counted by dynamic
programming over integer rank sums (mid-ranks doubled), never approximated by a normal curve, so ties are exact
too. Above ``EXACT_MAX_N`` values (far beyond any seed count) a test falls back to scipy's normal approximation
and ``method`` says so.

- ``mann_whitney``: unpaired, two independent samples (Wilcoxon rank-sum), ties at mid-ranks.
- ``signed_rank``: paired, the Wilcoxon signed-rank test on per-seed differences (zero differences dropped, as
  Wilcoxon did; ties at mid-ranks). Under the null every difference's sign is a fair coin.
- ``sign_test_at_least`` / ``sign_test_at_most``: binomial tail of a count out of n at probability 1/2.
- floors: the smallest one-sided p each design can reach (unpaired 1 / C(n + m, n); paired 1 / 2^n).
- ``holm`` (family-wise error) and ``benjamini_hochberg`` (false-discovery rate) adjusted p-values.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats

EXACT_MAX_N = 400  # pooled values (unpaired) or non-zero differences (paired) counted exactly up to this many
ALTERNATIVES = ("less", "greater", "two-sided")


def _doubled_ranks(values: np.ndarray) -> np.ndarray:
    """2 x mid-ranks (integers even with ties)."""
    return np.rint(2 * stats.rankdata(values)).astype(np.int64)


def _tails(null: np.ndarray, observed: int) -> tuple[float, float]:
    """(P(S <= observed), P(S >= observed)) of a null distribution given as probabilities indexed by S."""
    total = null.sum()
    return float(null[:observed + 1].sum() / total), float(null[observed:].sum() / total)


def _pick(less: float, greater: float, alternative: str) -> float:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative={alternative!r}; expected one of {ALTERNATIVES}")
    return {"less": less, "greater": greater, "two-sided": min(1.0, 2 * min(less, greater))}[alternative]


def _rank_sum_null(ranks: np.ndarray, n_x: int) -> np.ndarray:
    """Probability of each sum of ``n_x`` ranks drawn without replacement from ``ranks`` (every subset equally
    likely): dp[k, s] = number of k-subsets with rank sum s, built one rank at a time."""
    top = int(np.sort(ranks)[-n_x:].sum()) if n_x else 0
    dp = np.zeros((n_x + 1, top + 1))
    dp[0, 0] = 1.0
    for r in ranks:
        dp[1:, r:] = dp[1:, r:] + dp[:-1, :top + 1 - r]  # right side read before the write: no rank reused
    return dp[n_x] / math.comb(ranks.size, n_x)


def mann_whitney(x: Sequence[float], y: Sequence[float], alternative: str = "two-sided") -> float:
    """Mann-Whitney U (Wilcoxon rank-sum) p-value, exact with ties. ``alternative`` "less": x stochastically
    smaller than y; two-sided = 2 x the smaller one-sided p, capped at 1 (as scipy). NaN when a sample is empty."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if not a.size or not b.size:
        return math.nan
    if a.size + b.size > EXACT_MAX_N:
        return float(stats.mannwhitneyu(a, b, alternative=alternative, method="asymptotic").pvalue)
    ranks = _doubled_ranks(np.concatenate([a, b]))
    observed = int(ranks[:a.size].sum())
    return _pick(*_tails(_rank_sum_null(ranks, a.size), observed), alternative)


def mann_whitney_method(n_x: int, n_y: int) -> str:
    return "exact" if n_x + n_y <= EXACT_MAX_N else "normal approximation"


def signed_rank(x: Sequence[float], y: Sequence[float], alternative: str = "two-sided") -> float:
    """Wilcoxon signed-rank p-value on the paired differences x_i - y_i, exact with ties; zero differences are
    dropped (no evidence either way). "less": x tends to be smaller than its pair. 1.0 when every difference is
    zero; NaN for no pairs."""
    d = np.asarray(x, dtype=float) - np.asarray(y, dtype=float)
    if not d.size:
        return math.nan
    d = d[d != 0]
    if not d.size:
        return 1.0
    if d.size > EXACT_MAX_N:
        return float(stats.wilcoxon(d, alternative=alternative, method="approx").pvalue)
    ranks = _doubled_ranks(np.abs(d))
    null = np.zeros(int(ranks.sum()) + 1)
    null[0] = 1.0
    for r in ranks:  # each rank joins the positive sum with probability 1/2
        null[r:] = null[r:] + null[:null.size - r]
        null *= 0.5
    # W+ large = x above y: P(W+ <= obs) is the "less" tail
    return _pick(*_tails(null, int(ranks[d > 0].sum())), alternative)


def signed_rank_method(n_pairs: int) -> str:
    return "exact" if n_pairs <= EXACT_MAX_N else "normal approximation"


def unpaired_floor(n_x: int, n_y: int) -> float:
    """The smallest one-sided p the exact Mann-Whitney test can give with these sample sizes (no ties)."""
    return 1 / math.comb(n_x + n_y, n_x) if n_x and n_y else math.nan


def paired_floor(n_pairs: int) -> float:
    """The smallest one-sided p the exact signed-rank (or sign-flip) test can give with n pairs: 1 / 2^n."""
    return 0.5 ** n_pairs if n_pairs else math.nan


def sign_test_at_least(k: int, n: int) -> float:
    """One-sided sign test: P(at least k of n on the claimed side) when each is there with probability 1/2."""
    return float(stats.binom.sf(k - 1, n, 0.5))


def sign_test_at_most(k: int, n: int) -> float:
    """One-sided sign test: P(at most k of n on the claimed side) when each is there with probability 1/2."""
    return float(stats.binom.cdf(k, n, 0.5))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values of a family (same order as given): the i-th smallest p times
    (m - i + 1), made non-decreasing, capped at 1. Controls the family-wise error rate at any alpha."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, np.maximum.accumulate(p[order] * (p.size - np.arange(p.size))))
    adjusted = np.empty_like(p)
    adjusted[order] = scaled
    return [float(v) for v in adjusted]


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg step-up adjusted p-values (same order as given): the i-th smallest p times m / i, made
    non-decreasing from the largest down, capped at 1. Controls the false-discovery rate (independent or
    positively dependent tests)."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    scaled = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    adjusted = np.empty_like(p)
    adjusted[order] = scaled
    return [float(v) for v in adjusted]
