"""The three outcomes of every claim (reproduced / contradicted / inconclusive) on hand-made inputs."""
import pytest

from benchmarks.report import stats
from benchmarks.report.published import judge_converges, judge_order, judge_speedup, judge_value


def order(better, worse, lower_is_better=True):
    """judge_order on raw seed scores, as the reporter calls it."""
    claimed, opposite = ("less", "greater") if lower_is_better else ("greater", "less")
    return judge_order(stats.mann_whitney(better, worse, claimed), stats.mann_whitney(better, worse, opposite),
                       stats.smallest_p(len(better), len(worse)))


def test_ordering_claim_reproduced_on_the_floor_with_three_seeds_each():
    verdict, why = order([0.1, 0.2, 0.3], [0.4, 0.5, 0.6])  # every pair in the claimed direction: p = 1/20
    assert verdict == "reproduced" and "floor" in why


def test_ordering_claim_contradicted_when_significant_the_other_way():
    verdict, why = order([0.5, 0.6, 0.7, 0.8], [0.1, 0.2, 0.3, 0.4])  # p opposite = 1/70
    assert verdict == "contradicted" and "opposite" in why


def test_eight_of_nine_pairs_better_is_inconclusive_not_a_failure():
    """The issue's cue-reward LSTM Hebbian case: 8 of 9 seed pairs better, one-sided p = 0.1."""
    better, worse = [0.150, 0.152, 0.161], [0.160, 0.165, 0.170]
    assert stats.prob_improvement(better, worse, lower_is_better=True) == pytest.approx(8 / 9)
    assert stats.mann_whitney(better, worse, "less") == pytest.approx(0.1)
    verdict, why = order(better, worse)
    assert verdict == "inconclusive" and "either direction" in why


def test_ordering_claim_that_the_seeds_cannot_decide_says_so():
    verdict, why = order([0.1, 0.2], [0.3, 0.4])  # 2 vs 2: smallest p = 1/6 > 0.05
    assert verdict == "inconclusive" and "cannot reach" in why


def ci(low, high):
    return stats.Interval(low, high, "t")


@pytest.mark.parametrize("estimate, interval, outcome, reason", [
    (0.98, ci(0.975, 0.987), "reproduced", ""),  # inside [0.975, 0.991], about as precise
    (0.60, ci(0.58, 0.62), "contradicted", "excludes"),  # far below the published interval
    (0.97, ci(0.96, 0.978), "inconclusive", "outside"),  # overlaps, estimate just below it
    (0.98, ci(0.90, 1.0), "inconclusive", "wide"),  # estimate inside, but the interval pins nothing
    (0.98, stats.Interval(float("nan"), float("nan"), "undefined", "one seed"), "inconclusive", "undefined"),
])
def test_value_claim_outcomes(estimate, interval, outcome, reason):
    verdict, why = judge_value(estimate, interval, 0.983 - 0.0081, 0.983 + 0.0081)
    assert verdict == outcome and reason in why


@pytest.mark.parametrize("by_limit, n, outcome, reason", [
    (9, 10, "reproduced", "p = 0.01074"),  # 9 of 10 runs by the limit: the median is below it
    (7, 10, "inconclusive", "either way"),  # 7 of 10: sign-test p = 0.17 (a KM median below the limit is not enough)
    (1, 10, "contradicted", "beyond"),  # 1 of 10: the median lies beyond the limit
    (3, 3, "inconclusive", "cannot reach"),  # 3 runs: smallest attainable p = 1/8
    (0, 4, "inconclusive", "cannot reach"),
])
def test_convergence_claim_outcomes(by_limit, n, outcome, reason):
    verdict, why = judge_converges(by_limit, n, 300)
    assert verdict == outcome and reason in why and f"{by_limit}/{n} runs converged by episode 300" in why


@pytest.mark.parametrize("ratio, kind, lowest, highest, outcome", [
    (300.0, "exact", 260.0, 400.0, "reproduced"),  # even the least favourable CI ratio beats 250
    (300.0, "exact", 120.0, 500.0, "inconclusive"),  # the point ratio beats 250, the CIs do not decide
    (50.0, "exact", 20.0, 100.0, "contradicted"),  # even the most favourable CI ratio stays below 250
    (2.5, "lower bound", 2.0, float("nan"), "not comparable"),  # slow censored: nothing bounds the ratio from above
    (float("nan"), "undefined", float("nan"), float("nan"), "inconclusive"),
])
def test_speedup_claim_outcomes(ratio, kind, lowest, highest, outcome):
    assert judge_speedup(ratio, kind, lowest, highest, 250)[0] == outcome
