"""Exact-value tests of benchmarks.report.stats against hand-computed values (and scipy where it is the oracle)."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from benchmarks.harness.seeding import numpy_generator
from benchmarks.report import stats

Z = 1.959963984540054  # standard normal 0.975 quantile
T2 = 4.302652729749464  # Student t 0.975 quantile, 2 degrees of freedom


def test_t_interval_by_hand():
    mean, ci = stats.t_interval([1.0, 2.0, 4.0])
    s = math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2)
    half = T2 * s / math.sqrt(3)
    assert mean == pytest.approx(7 / 3, abs=1e-15)
    assert ci.method == "t"
    assert (ci.low, ci.high) == (pytest.approx(7 / 3 - half, rel=1e-9), pytest.approx(7 / 3 + half, rel=1e-9))


def test_t_interval_degenerate_and_single_seed():
    mean, ci = stats.t_interval([0.5, 0.5, 0.5])
    assert (mean, ci.low, ci.high) == (0.5, 0.5, 0.5)
    mean, ci = stats.t_interval([0.3])
    assert mean == 0.3 and math.isnan(ci.low) and math.isnan(ci.high) and ci.note == "one seed"
    mean, ci = stats.t_interval([])
    assert math.isnan(mean) and ci.method == "undefined"


def test_bootstrap_bca_equals_scipy_and_is_reproducible():
    x = [0.1, 0.4, 0.2, 0.8, 0.5]
    ours = stats.bootstrap_interval(x, np.random.default_rng(7), n_resamples=999)
    direct = sps.bootstrap((np.array(x),), np.mean, n_resamples=999, method="BCa", rng=np.random.default_rng(7))
    assert ours.method == "BCa"
    assert (ours.low, ours.high) == (direct.confidence_interval.low, direct.confidence_interval.high)
    again = stats.bootstrap_interval(x, np.random.default_rng(7), n_resamples=999)
    assert again == ours
    first = stats.bootstrap_interval(x, numpy_generator("bootstrap", "task", "model"))
    assert stats.bootstrap_interval(x, numpy_generator("bootstrap", "task", "model")) == first
    assert stats.bootstrap_interval(x, numpy_generator("bootstrap", "task", "other")) != first


def test_bootstrap_identical_scores_fall_back_to_percentile():
    ci = stats.bootstrap_interval([0.25] * 5, np.random.default_rng(0))
    assert (ci.low, ci.high, ci.method) == (0.25, 0.25, "percentile")
    assert "BCa undefined" in ci.note


@pytest.mark.parametrize("n", [1, 3, 4])
def test_no_bootstrap_below_five_seeds(n):
    ci = stats.bootstrap_interval([0.1 * k for k in range(n)], np.random.default_rng(0))
    assert math.isnan(ci.low) and ci.method == "undefined" and "below 5 seeds" in ci.note


def test_t_interval_of_a_bounded_metric_stays_in_its_range():
    mean, ci = stats.t_interval([0.0, 0.01, 0.03], bounds=(0.0, 1.0))
    plain = stats.t_interval([0.0, 0.01, 0.03])[1]
    assert plain.low < 0 and (ci.low, ci.high, ci.method) == (0.0, plain.high, "t, clipped")
    assert stats.t_interval([0.4, 0.5, 0.6], bounds=(0.0, 1.0))[1].method == "t"  # inside: untouched


def test_median_interval_order_statistics():
    assert stats.median_interval([1, 2, 3, 4, 5]).method == "undefined"  # [min, max] covers only 93.75%
    ci = stats.median_interval(list(range(10)))  # 1 - 2 P(Bin(10, 1/2) <= 1) = 97.9%; rank 3 gives 89%
    assert (ci.low, ci.high) == (1.0, 8.0)


def test_holm_and_the_smallest_attainable_p():
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.05] * 4) == [0.2] * 4
    assert stats.unpaired_floor(3, 3) == 1 / 20 and stats.unpaired_floor(5, 5) == 1 / 252
    assert stats.mann_whitney([0, 1, 2], [3, 4, 5], "less") == pytest.approx(stats.unpaired_floor(3, 3))
    assert stats.paired_floor(3) == 1 / 8 and stats.paired_floor(5) == 1 / 32


def wilson_by_hand(k: int, n: int) -> tuple[float, float]:
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return centre - half, centre + half


def test_wilson_pooled_by_hand():
    k, n, ci = stats.wilson_pooled([0.98, 0.99, 0.97], [100, 100, 100])  # 0.98 * 100 = 98.00000000000001
    assert (k, n) == (294, 300)
    low, high = wilson_by_hand(294, 300)
    assert (ci.low, ci.high) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))
    k, n, ci = stats.wilson_pooled([1.0, 1.0], [50, 50])  # all correct: upper end exactly 1
    assert (k, n) == (100, 100) and ci.high == pytest.approx(1.0)
    assert ci.low == pytest.approx(wilson_by_hand(100, 100)[0], rel=1e-9)


def test_wilson_rejects_accuracies_that_are_not_episode_counts():
    with pytest.raises(ValueError, match="not a whole number"):
        stats.wilson_pooled([0.983], [100])


def test_smooth_weights_points_by_their_episodes():
    out = stats.smooth([1, 2, 3, 4, 5, 6], [1, 1, 0, 0, 0, 0], window=2)
    assert np.isnan(out[0]) and list(out[1:]) == [1.0, 0.5, 0.0, 0.0, 0.0]
    binned = stats.smooth([10, 20, 30], [1.0, 0.0, 0.0], window=15)  # bins of 10 episodes each
    assert np.isnan(binned[0]) and list(binned[1:]) == [0.5, 0.0]


def test_convergence_episode_reached_censored_and_above():
    e, v = [1, 2, 3, 4, 5, 6], [1, 1, 0, 0, 0, 0]
    assert stats.convergence_episode(e, v, 2, 0.01, below=True, budget=6) == (4.0, True)
    assert stats.convergence_episode(e, [0.5] * 6, 2, 0.01, below=True, budget=6) == (6.0, False)
    assert stats.convergence_episode(e, [0, 0, 1, 1, 1, 1], 2, 0.9, below=False, budget=6) == (4.0, True)
    assert stats.convergence_episode(e, [0.01] * 6, 2, 0.01, below=True, budget=6) == (6.0, False)  # strict


def loglog_band(s: float, greenwood: float) -> tuple[float, float]:
    """Hand formula: S^exp(+-z se), se = sqrt(greenwood) / |log S|."""
    se = math.sqrt(greenwood) / abs(math.log(s))
    return s ** math.exp(Z * se), s ** math.exp(-Z * se)


def test_kaplan_meier_with_censoring_by_hand():
    km = stats.kaplan_meier([10, 20, 30, 50, 50], [True, True, True, False, False])
    assert km.times == (10.0, 20.0, 30.0, 50.0)
    assert km.survival == pytest.approx((4 / 5, 3 / 5, 2 / 5, 2 / 5))
    assert (km.median, km.converged, km.n) == (30.0, 3, 5)
    g10 = 1 / (5 * 4)  # Greenwood sum d / (n (n - d)) at t = 10
    assert (km.low[0], km.high[0]) == pytest.approx(loglog_band(0.8, g10), rel=1e-9)
    g30 = g10 + 1 / (4 * 3) + 1 / (3 * 2)
    assert (km.low[2], km.high[2]) == pytest.approx(loglog_band(0.4, g30), rel=1e-9)
    # median CI: lower band <= 0.5 first at 10 (0.204); upper band never <= 0.5 (0.753 at the end)
    assert km.median_ci.low == 10.0 and math.isnan(km.median_ci.high)


def test_kaplan_meier_none_censored():
    km = stats.kaplan_meier([30, 10, 20], [True, True, True])
    assert km.survival == pytest.approx((2 / 3, 1 / 3, 0.0))
    assert km.median == 20.0 and km.converged == 3
    assert km.low[2] == 0.0 and km.high[2] == 0.0  # S = 0: the band is S itself (Greenwood undefined)


def test_kaplan_meier_all_censored_and_single_run():
    km = stats.kaplan_meier([40, 40], [False, False])
    assert math.isnan(km.median) and km.converged == 0 and km.survival == (1.0,)
    assert math.isnan(km.median_ci.low) and km.median_ci.note == "no run converged"
    one = stats.kaplan_meier([10], [True])
    assert one.median == 10.0 and (one.median_ci.low, one.median_ci.high) == (10.0, 10.0)
    assert stats.kaplan_meier([], []).n == 0


def test_logrank_by_hand():
    # x converges at 10, 20, 30; y (3 runs) never, censored at 50. Per event time: at-risk (x, y) and the
    # hypergeometric mean and variance of x's deaths.
    expected = 3 / 6 + 2 / 5 + 1 / 4
    variance = 3 * 3 * 1 * 5 / (36 * 5) + 2 * 3 * 1 * 4 / (25 * 4) + 1 * 3 * 1 * 3 / (16 * 3)
    z = (3 - expected) / math.sqrt(variance)
    p = stats.logrank([10, 20, 30], [True] * 3, [50, 50, 50], [False] * 3)
    assert p == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-9)


def test_logrank_undefined_and_identical():
    assert math.isnan(stats.logrank([50, 50], [False] * 2, [50], [False]))
    assert math.isnan(stats.logrank([], [], [10], [True]))
    assert stats.logrank([10, 20], [True] * 2, [10, 20], [True] * 2) == pytest.approx(1.0)


def test_median_ratio_kinds():
    fast = stats.kaplan_meier([10, 20, 30], [True] * 3)  # median 20
    slow = stats.kaplan_meier([100, 200, 300], [True] * 3)  # median 200
    never = stats.kaplan_meier([400, 400], [False] * 2)
    assert stats.median_ratio(slow, fast, 300) == (10.0, "exact")
    assert stats.median_ratio(never, fast, 400) == (20.0, "lower bound")
    ratio, kind = stats.median_ratio(fast, never, 30)
    assert math.isnan(ratio) and kind == "undefined"


def brute_force_u_pvalue(x: list[float], y: list[float], alternative: str) -> float:
    """Independent oracle: U over every split of the pooled values, with plain loops."""
    def u(a, b):
        return sum((ai > bi) + 0.5 * (ai == bi) for ai in a for bi in b)
    pooled, observed = x + y, u(x, y)
    null = []
    for chosen in itertools.combinations(range(len(pooled)), len(x)):
        rest = [pooled[i] for i in range(len(pooled)) if i not in chosen]
        null.append(u([pooled[i] for i in chosen], rest))
    less = sum(v <= observed for v in null) / len(null)
    greater = sum(v >= observed for v in null) / len(null)
    return {"less": less, "greater": greater, "two-sided": min(1.0, 2 * min(less, greater))}[alternative]


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_mann_whitney_exact_equals_scipy_without_ties(alternative):
    rng = np.random.default_rng(3)
    for n, m in ((1, 3), (3, 3), (4, 5), (8, 8)):
        x, y = rng.normal(size=n), rng.normal(size=m) + 0.7
        expected = sps.mannwhitneyu(x, y, alternative=alternative, method="exact").pvalue
        assert stats.mann_whitney(x, y, alternative) == pytest.approx(expected, abs=1e-12)


def test_mann_whitney_ties_and_degenerate():
    assert stats.mann_whitney([0, 0, 0], [0.1, 0.2, 0.3], "less") == pytest.approx(1 / 20)
    assert stats.mann_whitney([1, 2, 3], [4, 5, 6]) == pytest.approx(2 / 20)
    assert stats.mann_whitney([2, 2, 2], [2, 2, 2]) == 1.0
    x, y = [1.0, 2.0, 2.0], [2.0, 5.0, 6.0]
    for alternative in ("two-sided", "less", "greater"):
        assert stats.mann_whitney(x, y, alternative) == pytest.approx(brute_force_u_pvalue(x, y, alternative))
    assert stats.mann_whitney([1.0], [2.0, 3.0]) == pytest.approx(2 / 3)  # single seed: splits 0, 1, 2
    assert math.isnan(stats.mann_whitney([], [1.0]))


def test_mann_whitney_is_exact_at_ten_seeds_each():
    """10 vs 10 (C(20, 10) = 184,756 splits) is exact, not the normal approximation: the 50-bit case of the
    statistics issue, every plastic seed below every RNN seed, gives 1 / 184,756 = 5.4e-06 one-sided."""
    x, y = list(range(10)), [v + 10.5 for v in range(10)]
    assert stats.mann_whitney(x, y, "less") == pytest.approx(1 / 184_756, rel=1e-9)
    assert stats.mann_whitney(x, y, "less") == pytest.approx(sps.mannwhitneyu(x, y, alternative="less",
                                                                              method="exact").pvalue, rel=1e-9)
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=12), rng.normal(size=12) + 0.5
    for alternative in ("two-sided", "less", "greater"):
        expected = sps.mannwhitneyu(a, b, alternative=alternative, method="exact").pvalue
        assert stats.mann_whitney(a, b, alternative) == pytest.approx(expected, rel=1e-9)


def test_mann_whitney_with_ties_at_ten_seeds_equals_a_sampled_permutation_distribution():
    x = [0.1, 0.1, 0.2, 0.3, 0.3, 0.3, 0.5, 0.6, 0.7, 0.7]
    y = [0.2, 0.3, 0.4, 0.5, 0.5, 0.6, 0.8, 0.8, 0.9, 1.0]
    p = stats.mann_whitney(x, y, "less")
    pooled, observed = np.array(x + y), sps.rankdata(x + y)[:10].sum()
    rng = np.random.default_rng(0)
    ranks = sps.rankdata(pooled)
    draws = np.array([ranks[rng.permutation(20)[:10]].sum() for _ in range(40_000)])
    assert p == pytest.approx(np.mean(draws <= observed + 1e-9), abs=0.006)


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_signed_rank_exact_equals_scipy_without_ties(alternative):
    rng = np.random.default_rng(11)
    for n in (1, 3, 5, 8, 12):
        x = rng.normal(size=n)
        y = x - rng.normal(0.4, 1.0, size=n)
        expected = sps.wilcoxon(x, y, alternative=alternative, method="exact").pvalue
        assert stats.signed_rank(x, y, alternative) == pytest.approx(expected, abs=1e-12)


def brute_force_signed_rank(d: list[float], alternative: str) -> float:
    d = [v for v in d if v != 0]
    ranks = sps.rankdata(np.abs(d))
    observed = sum(r for r, v in zip(ranks, d) if v > 0)
    null = [sum(r for r, s in zip(ranks, signs) if s) for signs in itertools.product([0, 1], repeat=len(d))]
    less = sum(v <= observed + 1e-9 for v in null) / len(null)
    greater = sum(v >= observed - 1e-9 for v in null) / len(null)
    return {"less": less, "greater": greater, "two-sided": min(1.0, 2 * min(less, greater))}[alternative]


def test_signed_rank_ties_zeros_and_degenerate():
    d = [0.5, -0.5, 1.0, 1.0, 0.0, 2.0, -0.25, 1.0]  # tied |d|, a zero difference (dropped)
    for alternative in ("two-sided", "less", "greater"):
        assert stats.signed_rank(d, [0.0] * len(d), alternative) == pytest.approx(
            brute_force_signed_rank(d, alternative))
    assert stats.signed_rank([1, 2, 3], [0, 0, 0], "greater") == pytest.approx(1 / 8)  # the floor, 3 pairs
    assert stats.signed_rank([1, 2], [1, 2]) == 1.0  # every difference zero: no evidence either way
    assert math.isnan(stats.signed_rank([], []))


def test_benjamini_hochberg_by_hand():
    # sorted p 0.005, 0.01, 0.03, 0.04 with m = 4: x4/1, x4/2, x4/3, x4/4 = 0.02, 0.02, 0.04, 0.04
    assert stats.benjamini_hochberg([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert stats.benjamini_hochberg([0.5, 0.01]) == pytest.approx([0.5, 0.02])
    assert stats.benjamini_hochberg([0.9, 0.8]) == pytest.approx([0.9, 0.9])  # step-up: monotone from the top


def test_probability_of_improvement_by_hand():
    # pairs (1,2) (1,3) (2,3) better when lower is better, (2,2) a tie: 3.5 / 4
    assert stats.prob_improvement([1, 2], [2, 3], lower_is_better=True) == 0.875
    assert stats.prob_improvement([1, 2], [2, 3], lower_is_better=False) == 0.125
    assert stats.prob_improvement([5, 5], [5], lower_is_better=True) == 0.5
    x, y = [0.3, 0.1, 0.7], [0.2, 0.5]
    u = sps.mannwhitneyu(x, y).statistic  # U of x: pairs x > y
    assert stats.prob_improvement(x, y, lower_is_better=False) == pytest.approx(u / 6)
    assert math.isnan(stats.prob_improvement([], [1.0], True))
