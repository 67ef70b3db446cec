"""The outcomes of every claim (reproduced / contradicted / inconclusive / sensitive) on hand-made inputs."""
import math

import numpy as np
import pytest

from benchmarks.report import power, stats
from benchmarks.report.published import ClaimResult, families
from benchmarks.report.tables import family_text
from benchmarks.report.verdicts import (Equivalence, equivalence_mean, equivalence_median, equivalence_pooled,
                                        judge_converges, judge_equivalence, judge_order, judge_speedup, order_tests,
                                        sensitivity)

# overnight cue-reward, final held-out MSE of seeds 0-4 (results/runs): the plastic LSTM is better in every seed
CUE_GRADIENT_LSTM = [0.14716758579015732, 0.14237961918115616, 0.1484289988875389, 0.15219751000404358,
                     0.1403910294175148]
CUE_LSTM = [0.15141670405864716, 0.14813371002674103, 0.15175451338291168, 0.156123585999012, 0.14286675304174423]


def order(better, worse, lower_is_better=True, paired=False):
    """judge_order on raw seed scores, as the reporter calls it."""
    t = order_tests(better, worse, lower_is_better, paired)
    return judge_order(t.p_claimed, t.p_opposite, t.floor)


def test_paired_design_decides_what_mann_whitney_cannot():
    """The statistics issue's example: better in 5 of 5 seeds; exact paired p = 1/32, Mann-Whitney p = 0.155."""
    t = order_tests(CUE_GRADIENT_LSTM, CUE_LSTM, lower_is_better=True, paired=True)
    assert t.p_claimed == pytest.approx(1 / 32) and t.floor == pytest.approx(1 / 32)
    assert t.mw_claimed == pytest.approx(0.1548, abs=1e-4)
    assert (t.n_for, t.n_pairs) == (5, 5)
    assert order(CUE_GRADIENT_LSTM, CUE_LSTM, paired=True)[0] == "reproduced"
    assert order(CUE_GRADIENT_LSTM, CUE_LSTM, paired=False)[0] == "inconclusive"


def test_three_paired_seeds_are_an_indication_never_a_verdict():
    verdict, why = order([0.1, 0.2, 0.3], [0.4, 0.5, 0.6], paired=True)  # 3 of 3 pairs: p = 1/8
    assert verdict == "inconclusive" and "cannot reach" in why and "0.125" in why


def test_ordering_claim_reproduced_on_the_floor_with_three_seeds_each_unpaired():
    verdict, why = order([0.1, 0.2, 0.3], [0.4, 0.5, 0.6])  # every pair in the claimed direction: p = 1/20
    assert verdict == "reproduced" and "floor" in why


def test_ordering_claim_contradicted_when_significant_the_other_way():
    verdict, why = order([0.5, 0.6, 0.7, 0.8, 0.9], [0.1, 0.2, 0.3, 0.4, 0.5], paired=True)  # 5 of 5 the other way
    assert verdict == "contradicted" and "opposite" in why


def test_eight_of_nine_pairs_better_is_inconclusive_not_a_failure():
    """The cue-reward LSTM Hebbian case of an earlier round: 8 of 9 seed pairs better, one-sided p = 0.1."""
    better, worse = [0.150, 0.152, 0.161], [0.160, 0.165, 0.170]
    assert stats.prob_improvement(better, worse, lower_is_better=True) == pytest.approx(8 / 9)
    assert stats.mann_whitney(better, worse, "less") == pytest.approx(0.1)
    verdict, why = order(better, worse)
    assert verdict == "inconclusive" and "either direction" in why


def test_ordering_claim_that_the_seeds_cannot_decide_says_so():
    verdict, why = order([0.1, 0.2], [0.3, 0.4])  # 2 vs 2: smallest p = 1/6 > 0.05
    assert verdict == "inconclusive" and "cannot reach" in why


def test_value_claim_inside_and_outside_its_margin():
    """Equivalence: 0.983 ± 0.01 on a pooled accuracy (score tests, 90% Wilson CI)."""
    low, high = 0.973, 0.993
    inside = equivalence_pooled(9830, 10_000, low, high)  # 10 seeds x 1000 test episodes at 98.3%
    assert inside.ci.low > low and inside.ci.high < high
    assert judge_equivalence(inside, low, high)[0] == "reproduced"
    outside = equivalence_pooled(7640, 10_000, low, high)  # 76.4%: far below the margin
    assert judge_equivalence(outside, low, high)[0] == "contradicted"
    wide = equivalence_pooled(294, 300, low, high)  # 300 episodes: even a perfect 98.3% cannot be placed inside
    verdict, why = judge_equivalence(wide, low, high)
    assert verdict == "inconclusive" and "can decide" in why and wide.floor > 0.05
    edge = equivalence_pooled(1950, 2000, low, high)  # 97.5%: the 90% CI straddles the lower edge
    verdict, why = judge_equivalence(edge, low, high)
    assert verdict == "inconclusive" and "neither" in why


def test_value_claim_on_a_median_needs_five_seeds():
    values = [14.0, 15.0, 15.5, 16.0]  # every seed inside 15 ± 3, but 4 seeds: smallest p 1/16
    e = equivalence_median(values, 12.0, 18.0)
    assert e.floor == pytest.approx(1 / 16)
    verdict, why = judge_equivalence(e, 12.0, 18.0)
    assert verdict == "inconclusive" and "can decide" in why
    five = equivalence_median(values + [14.5], 12.0, 18.0)
    assert five.p_inside == pytest.approx(1 / 32)
    assert judge_equivalence(five, 12.0, 18.0)[0] == "reproduced"
    assert judge_equivalence(equivalence_median([31, 32, 33, 34, 35], 12.0, 18.0), 12.0, 18.0)[0] == "contradicted"


def test_value_claim_on_a_mean_by_two_one_sided_t_tests():
    assert judge_equivalence(equivalence_mean([26.5, 27.0, 27.5], 24.0, 30.0), 24.0, 30.0)[0] == "reproduced"
    assert judge_equivalence(equivalence_mean([20, 35, 27], 24.0, 30.0), 24.0, 30.0)[0] == "inconclusive"
    nan = Equivalence(math.nan, math.nan, math.nan, stats.Interval(math.nan, math.nan, "undefined", "one seed"), 27.0)
    assert judge_equivalence(nan, 24.0, 30.0)[0] == "inconclusive"


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


def test_convergence_verdict_that_flips_inside_its_range_is_sensitive():
    """The 1000-bit times of the statistics issue at window 20; windows shift every time (10 earlier, 50 later)."""
    times = {10: [200, 205, 215, 240, 250, 262, 270, 290, 300, 320],
             20: [222, 225, 238, 270, 279, 284, 290, 310, 322, 347],
             50: [300, 310, 330, 340, 360, 380, 390, 400, 410, 420]}

    def verdict_at(window, limit):
        return judge_converges(sum(t <= limit for t in times[window]), 10, limit)[0]
    assert verdict_at(20, 300) == "inconclusive"
    table, flips = sensitivity(verdict_at, 20, [10, 20, 50], 300, [200, 250, 300])
    assert flips == ["window", "episodes"]
    assert dict(table)["window"] == [(10.0, "reproduced"), (20.0, "inconclusive"), (50.0, "contradicted")]
    _, steady = sensitivity(lambda w, e: "reproduced", 20, [10, 20, 50], 300, [250, 300])
    assert steady == []


def ci(low, high):
    return stats.Interval(low, high, "t")


@pytest.mark.parametrize("ratio, kind, lowest, highest, outcome", [
    (300.0, "exact", 260.0, 400.0, "reproduced"),  # even the least favourable CI ratio beats 250
    (300.0, "exact", 120.0, 500.0, "inconclusive"),  # the point ratio beats 250, the CIs do not decide
    (50.0, "exact", 20.0, 100.0, "contradicted"),  # even the most favourable CI ratio stays below 250
    (2.5, "lower bound", 2.0, float("nan"), "not comparable"),  # slow censored: nothing bounds the ratio from above
    (float("nan"), "undefined", float("nan"), float("nan"), "inconclusive"),
])
def test_speedup_claim_outcomes(ratio, kind, lowest, highest, outcome):
    assert judge_speedup(ratio, kind, lowest, highest, 250)[0] == outcome


def _result(claim_id, verdict, p, p_opposite=0.9):
    return ClaimResult({"id": claim_id}, "", "", "", verdict, p=p, p_opposite=p_opposite, p_floor=1 / 32)


def test_a_claim_that_passes_alone_and_fails_holm_shows_both():
    summary = type("S", (), {})()
    summary.section = type("Sec", (), {"budget": "overnight", "task": "t"})()
    summary.claims = [_result("a", "reproduced", 0.03125), _result("b", "reproduced", 0.03125),
                      _result("c", "inconclusive", 0.4), _result("d", "reproduced", 0.001)]
    members = families([summary])["overnight"]
    assert len(members) == 4
    a, d = summary.claims[0], summary.claims[3]
    assert a.holm == pytest.approx(3 * 0.03125) and a.bh == pytest.approx(4 / 3 * 0.03125)
    assert "Holm 0.09375 (does not survive)" in family_text(a) and "BH 0.04167 (survives)" in family_text(a)
    assert "(survives)" in family_text(d).split(";")[0]


def test_power_estimates_more_seeds_for_a_real_effect_and_none_for_no_effect():
    rng = np.random.default_rng(0)
    n = power.order_seeds(CUE_GRADIENT_LSTM[:3], CUE_LSTM[:3], True, True, rng)
    assert n is not None and 3 < n <= 8  # every pair in the claimed direction: a few more seeds decide it
    flat = power.order_seeds([0.1, 0.2, 0.3, 0.4], [0.2, 0.1, 0.4, 0.3], True, True, np.random.default_rng(0))
    assert flat is None and "no practical n" in power.text(flat)
    runs = power.converge_runs([250, 260, 280, 290, 310, 320, 330], [True] * 7, 300, np.random.default_rng(0))
    assert runs is None or runs > 7
    assert power.value_seeds([14.0, 15.0, 15.5, 16.0], 12.0, 18.0, "median", np.random.default_rng(0)) == 5
    # one value has no spread: every resample repeats it, so no estimate (and not "no practical n" either)
    for one in (power.value_seeds([25.0], 24.0, 30.0, "median", np.random.default_rng(0)),
                power.order_seeds([0.1], [0.3], True, False, np.random.default_rng(0)),
                power.order_seeds([0.1], [0.3], True, True, np.random.default_rng(0)),
                power.converge_runs([250], [True], 300, np.random.default_rng(0))):
        assert one == power.TOO_FEW
        assert "not estimable yet" in power.text(one) and "no practical n" not in power.text(one)
    assert "not estimable yet: fewer than 2 runs" in power.text(power.TOO_FEW, "runs")


def test_the_power_engines_exact_paths_equal_the_exact_tests():
    rng = np.random.default_rng(3)
    d = rng.normal(0.3, 1.0, size=(20, 8))
    d[3, :4] = d[3, 4:]  # tied magnitudes
    expected = [stats.signed_rank(row, np.zeros_like(row), "greater") for row in d]
    assert power._signed_rank_p(d) == pytest.approx(expected)
    x, y = rng.normal(0.5, 1, size=(20, 6)), rng.normal(0, 1, size=(20, 6))
    x[0, 0] = y[0, 0]  # a tie across arms
    assert power._rank_sum_p(x, y) == pytest.approx([stats.mann_whitney(a, b, "greater") for a, b in zip(x, y)])


@pytest.mark.parametrize("values, expected", [([0.882], "pooled over 1000 test episodes of 1 seed"),
                                              ([0.874, 0.9, 0.9], "pooled over 3000 test episodes of 3 seeds")])
def test_the_pooled_interval_names_its_seed_count_in_words(values, expected):
    """The pooled-accuracy claim's text counts seeds as the other intervals do ("1 seed", never "1 seeds")."""
    from types import SimpleNamespace

    from benchmarks.report.published import _equivalence
    n = 1000 * len(values)
    k = round(sum(values) * 1000)
    row = SimpleNamespace(values=values, wilson=(k, n, None))
    claim = {"estimate": "wilson"}
    result, text = _equivalence(row, claim, 0.975, 0.995)
    assert text == expected and result.p_outside < 1e-6 and result.estimate == pytest.approx(k / n)
