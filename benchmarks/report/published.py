"""Published results (benchmarks/report/published.yaml) and the rules that give each one a verdict against our runs.

Every claim gets one of three outcomes when our runs can be set against it (the rules, on plain numbers, are in
``benchmarks.report.verdicts``):

- ``reproduced``: our runs show what the paper claims (orderings: the exact one-sided paired test, significant at
  ALPHA in the claimed direction; values: equivalence within the claim's stated margin by two one-sided tests;
  convergence: the exact sign test that the median run converges by the claimed episode);
- ``contradicted``: our runs show the opposite at ALPHA;
- ``inconclusive``: neither; the reason says why (and whether any result of these seeds could have decided), and
  ``decide`` says how many seeds would (``benchmarks.report.power``).

A convergence claim whose outcome changes within the plausible range of its analysis choices (smoothing window,
what "about E episodes" tolerates) reads ``sensitive``. Otherwise: "not comparable" (another budget/protocol
than the published number's), "no data" (no runs of the model), "context" (literature anchors, no verdict).
Rule ``above`` is a sanity check, not a paper claim: it is listed apart and never counted.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.harness.seeding import numpy_generator
from benchmarks.report import exact, power, stats
from benchmarks.report.summary import Row, Summary
from benchmarks.report.tables import fmt, fmt_interval
from benchmarks.report.published_spec import PUBLISHED, comparable_at, load_published  # noqa: F401 (re-exported)
from benchmarks.report.published_spec import published_text, rule_text
from benchmarks.report.verdicts import (ALPHA, OUTCOMES, SENSITIVE, equivalence_mean, equivalence_median,
                                        equivalence_pooled, judge_above, judge_converges, judge_equivalence,
                                        judge_order, judge_speedup, order_tests, sensitivity, sensitivity_text)

@dataclass
class ClaimResult:
    claim: dict[str, Any]
    published: str  # the paper's value and what its +- means
    ours: str
    rule: str  # the rule that decides, in words
    verdict: str
    why: str = ""  # the reason for this verdict (e.g. which budget would be comparable)
    p: float = math.nan  # the primary test's one-sided p in the claimed direction (TOST p for value claims)
    p_opposite: float = math.nan  # its one-sided p in the opposite direction (outside the margin)
    p_floor: float = math.nan  # the smallest p these seeds can reach with the primary test
    test: str = ""  # the primary test, in words
    beside: str = ""  # a secondary test shown beside the primary one (never decides)
    indication: str = ""  # what the seeds lean towards when they cannot decide at all
    decide: str = ""  # inconclusive / sensitive claims: what would decide them (power.text)
    sensitivity: str = ""  # convergence claims: the verdict across each analysis choice's plausible range
    holm: float = math.nan  # Holm-adjusted p over the budget's verdict-bearing tests (the verdict's direction)
    bh: float = math.nan  # Benjamini-Hochberg-adjusted p, likewise
    seeds: str = ""  # the seeds (or runs, pairs) behind the test
    sanity: bool = False  # a sanity check, not a paper claim: listed apart, out of the counts

    @property
    def direction_p(self) -> float:
        return self.p_opposite if self.verdict == "contradicted" else self.p


def _rows(summary: Summary, model: str) -> list[Row]:
    return [row for row in summary.rows if row.cell.model == model]


def _one(summary: Summary, model: str) -> tuple[Row | None, str]:
    rows = _rows(summary, model)
    if not rows:
        return None, f"no {model} runs"
    if len(rows) > 1:
        return None, f"{model} has {len(rows)} configs in this table"
    return rows[0], ""


def judge_all(summary: Summary) -> None:
    lower = summary.section.lower_is_better
    for claim in summary.spec.get("claims", []):
        result = ClaimResult(claim, published_text(claim), "", rule_text(claim, lower), "",
                             sanity=claim["rule"] == "above")
        budgets = claim.get("budgets", "any")
        if not comparable_at(claim, summary.section.budget):
            result.verdict = "not comparable"
            result.why = (f"published from {claim.get('protocol', 'another protocol')}; budget "
                          f"{summary.section.budget!r} is not one of {budgets}")
        if summary.spec.get("metric") != summary.section.metric:
            result.verdict, result.why = "not comparable", f"the records' metric is {summary.section.metric!r}"
        _JUDGES[claim["rule"]](summary, claim, result)
        summary.claims.append(result)


def _set(result: ClaimResult, verdict: str, why: str = "") -> None:
    """Keep an earlier 'not comparable' (budget/metric): ours is still shown, the verdict stays."""
    if not result.verdict:
        result.verdict, result.why = verdict, why


def _rng(summary: Summary, claim: dict[str, Any]) -> Any:
    return numpy_generator("power", summary.section.task, summary.section.budget, claim["id"])


def _budget_seeds(row: Row) -> int:
    """The seeds the row's budget asks for (its records' config), at least the seeds present."""
    try:
        return max(int(row.cell.config["budget"]["tasks"][row.cell.task]["seeds"]), len(row.values))
    except (KeyError, TypeError, ValueError):
        return len(row.values)


def _equivalence(row: Row, claim: dict[str, Any], low: float, high: float) -> tuple[Any, str] | None:
    estimate = claim["estimate"]
    if estimate == "wilson":
        if row.wilson is None:
            return None
        k, n, _ = row.wilson
        return equivalence_pooled(k, n, low, high), f"pooled over {n} test episodes of {stats.n_seeds(len(row.values))}"
    test = equivalence_median if estimate == "median" else equivalence_mean
    return test(row.values, low, high), f"n={stats.n_seeds(len(row.values))}"


def _judge_equivalence(summary: Summary, claim: dict[str, Any], result: ClaimResult) -> None:
    row, why = _one(summary, claim["model"])
    if row is None:
        return _set(result, "no data", why)
    low, high = claim["value"] - claim["margin"], claim["value"] + claim["margin"]
    found = _equivalence(row, claim, low, high)
    if found is None:
        return _set(result, "no data", "no pooled Wilson interval for these records")
    e, n_text = found
    result.p, result.p_opposite, result.p_floor = e.p_inside, e.p_outside, e.floor
    result.seeds = n_text
    result.test = {"median": "TOST, exact sign tests on the median", "mean": "TOST, one-sample t tests",
                   "wilson": "TOST, score tests on the pooled proportion"}[claim["estimate"]]
    result.ours = f"{fmt(e.estimate)}, 90% CI {fmt_interval(e.ci)} ({n_text})"
    if "published_iqr" in claim and len(row.values) >= 2:
        q1, q3 = (float(v) for v in np.percentile(row.values, [25, 75]))
        result.ours += f"; our seeds' IQR [{fmt(q1)}, {fmt(q3)}] beside the paper's {claim['published_iqr']}"
    verdict, why = judge_equivalence(e, low, high)
    seeds = _budget_seeds(row)
    if verdict == "inconclusive" and claim["estimate"] == "median" and 0.5 ** seeds > ALPHA:
        why += (f"; budget {summary.section.budget!r} runs {seeds} seeds and no seed count below 5 "
                f"can decide a median claim (smallest p 1/2^n)")
    if verdict == "inconclusive" and not result.verdict and claim["estimate"] != "wilson":
        result.decide = power.text(power.value_seeds(row.values, low, high, claim["estimate"], _rng(summary, claim)),
                                   "seeds")
    _set(result, verdict, why)


def paired_values(better: Row, worse: Row) -> tuple[list[float], list[float], str]:
    """The two arms' values on their common seeds, paired, or ([], [], why not) when they do not share seeds
    and data streams (records from different seeds or harness versions)."""
    b = {r.seed: (v, r) for (_, r), v in zip(better.cell.runs, better.values)}
    w = {r.seed: (v, r) for (_, r), v in zip(worse.cell.runs, worse.values)}
    if set(b) != set(w):
        return [], [], f"the arms ran different seeds ({sorted(b)} vs {sorted(w)})"
    for seed in sorted(b):
        sb, sw = b[seed][1].seeds or {}, w[seed][1].seeds or {}
        for stream in ("train", "eval"):
            if stream in sb and stream in sw and sb[stream] != sw[stream]:
                return [], [], f"seed {seed}: the arms' {stream} streams differ"
    return [b[s][0] for s in sorted(b)], [w[s][0] for s in sorted(b)], ""


def _judge_order(summary: Summary, claim: dict[str, Any], result: ClaimResult) -> None:
    better, why_b = _one(summary, claim["better"])
    worse, why_w = _one(summary, claim["worse"])
    if better is None or worse is None:
        return _set(result, "no data", why_b or why_w)
    lower = summary.section.lower_is_better
    pb, pw, unpaired_why = paired_values(better, worse)
    paired = not unpaired_why
    t = order_tests(pb if paired else better.values, pw if paired else worse.values, lower, paired)
    result.p, result.p_opposite, result.p_floor, result.test = t.p_claimed, t.p_opposite, t.floor, t.test
    result.seeds = f"{len(pb)} pairs" if paired else f"{len(better.values)} vs {len(worse.values)}"
    result.beside = (f"Mann-Whitney one-sided p = {fmt(t.mw_claimed)}" if paired
                     else f"unpaired: {unpaired_why}")
    prob = stats.prob_improvement(better.values, worse.values, lower)
    unit = "seeds" if paired else "seed pairs"
    floor_mark = " (= smallest attainable)" if result.p <= result.p_floor else ""
    result.ours = (f"{fmt(better.mean)} vs {fmt(worse.mean)} (means); {claim['better']} better in "
                   f"{t.n_for}/{t.n_pairs} {unit}; one-sided p = {fmt(result.p)}{floor_mark}; "
                   f"P({claim['better']} better) = {fmt(prob)}")
    verdict, why = judge_order(t.p_claimed, t.p_opposite, t.floor)
    if verdict == "inconclusive" and t.floor > ALPHA and not result.verdict:
        result.indication = f"{t.n_for}/{t.n_pairs} {unit} in the claimed direction"
    if verdict == "inconclusive" and not result.verdict:
        unpaired = power.text(power.order_seeds(better.values, worse.values, lower, False, _rng(summary, claim)))
        result.decide = (f"paired: {power.text(power.order_seeds(pb, pw, lower, True, _rng(summary, claim)))}; "
                         f"unpaired: {unpaired}" if paired else unpaired)
        if t.n_for * 2 < t.n_pairs:
            result.decide += " (the observed direction is against the claim: those seeds would contradict it)"
    _set(result, verdict, why)


def _times(row: Row, criterion: dict[str, Any], window: int) -> tuple[list[float], list[bool]]:
    below = "below" in criterion
    threshold = float(criterion["below"] if below else criterion["above"])
    times, reached = [], []
    for _, record in row.cell.runs:
        curve = record.curves if isinstance(record.curves, dict) else {}
        if criterion["metric"] in curve and "episode" in curve:
            t, r = stats.convergence_episode(curve["episode"], curve[criterion["metric"]], window, threshold, below,
                                             record.episodes)
            times.append(t)
            reached.append(r)
    return times, reached


def _converges_at(times: list[float], reached: list[bool], limit: float) -> tuple[str, str, int]:
    if any(not r and t < limit for t, r in zip(times, reached)):  # censored before the limit: cannot say
        return "not comparable", f"runs end at {fmt(max(times))} episodes, before {fmt(limit)}", 0
    by_limit = sum(t <= limit and r for t, r in zip(times, reached))
    return (*judge_converges(by_limit, len(times), limit), by_limit)


def _judge_converges(summary: Summary, claim: dict[str, Any], result: ClaimResult) -> None:
    row, why = _one(summary, claim["model"])
    criterion = summary.spec.get("convergence") or {}
    if row is None or row.survival is None or not row.conv_times:
        return _set(result, "no data", why or "no convergence data")
    window, limit = int(criterion["window"]), float(claim["episodes"])
    cache = {window: (row.conv_times, row.conv_reached)}

    def at(w: int, e: float) -> tuple[str, str, int]:
        if w not in cache:
            cache[w] = _times(row, criterion, w)
        return _converges_at(*cache[w], e)
    km, n = row.survival, len(row.conv_times)
    verdict, why, by_limit = at(window, limit)
    result.ours = (f"KM median {fmt(km.median)} episodes, 95% CI {fmt_interval(km.median_ci)} against "
                   f"{fmt(limit)}, " if not math.isnan(km.median) else "KM median not reached, ")
    result.ours += f"{km.converged}/{km.n} converged, {by_limit} by episode {fmt(limit)} (window {window})"
    result.test, result.p_floor, result.seeds = f"exact sign test, {n} runs", 0.5 ** n, f"{n} runs"
    result.p, result.p_opposite = exact.sign_test_at_least(by_limit, n), exact.sign_test_at_most(by_limit, n)
    table, flips = sensitivity(lambda w, e: at(w, e)[0], window, criterion.get("window_range", [window]), limit,
                               claim.get("episodes_range", [limit]))
    result.sensitivity = sensitivity_text(table)
    if verdict == "not comparable":
        result.p = result.p_opposite = math.nan
    elif flips:
        why = (f"to {' and '.join(flips)}: {result.sensitivity}; at the fixed choices (window {window}, episodes "
               f"{fmt(limit)}): {verdict}, {why}")
        verdict = SENSITIVE
        result.decide = (f"not more runs: the verdict turns on the {' and the '.join(flips)}, which neither the paper "
                         "nor the code fixes for this claim; a stated criterion would decide it")
    if verdict == "inconclusive" and not result.verdict:
        result.decide = power.text(power.converge_runs(row.conv_times, row.conv_reached, limit, _rng(summary, claim)),
                                   "runs")
    _set(result, verdict, why)


def _judge_speedup(summary: Summary, claim: dict[str, Any], result: ClaimResult) -> None:
    fast, why_f = _one(summary, claim["fast"])
    slow, why_s = _one(summary, claim["slow"])
    if fast is None or slow is None or fast.survival is None or slow.survival is None:
        return _set(result, "no data", why_f or why_s or "no convergence data")
    budget = max(slow.conv_times, default=math.nan)
    ratio, kind = stats.median_ratio(slow.survival, fast.survival, budget)
    result.ours = {"exact": f"{fmt(ratio)}x", "lower bound": f"≥ {fmt(ratio)}x ({claim['slow']} median not "
                   f"reached)", "undefined": f"undefined ({claim['fast']} median not reached)"}[kind]
    result.test = "ratio of Kaplan-Meier medians, 95% CI ends (no p)"
    result.seeds = f"{len(fast.conv_times)} / {len(slow.conv_times)} runs"
    slow_ci, fast_ci = slow.survival.median_ci, fast.survival.median_ci
    slow_low = slow_ci.low if math.isfinite(slow_ci.low) else (budget if kind == "lower bound" else math.nan)
    lowest = slow_low / fast_ci.high if math.isfinite(fast_ci.high) and fast_ci.high > 0 else math.nan
    highest = (slow_ci.high / fast_ci.low if math.isfinite(slow_ci.high) and math.isfinite(fast_ci.low)
               and fast_ci.low > 0 else math.nan)
    _set(result, *judge_speedup(ratio, kind, lowest, highest, claim["min_ratio"]))


def _judge_above(summary: Summary, claim: dict[str, Any], result: ClaimResult) -> None:
    row, why = _one(summary, claim["model"])
    if row is None:
        return _set(result, "no data", why)
    result.ours = f"{fmt(row.mean)} {fmt_interval(row.t_ci)} (95% t, n={len(row.values)})"
    result.test = "95% t CI against the value"
    _set(result, *judge_above(row.t_ci, claim["value"]))


def _judge_anchor(summary: Summary, claim: dict[str, Any], result: ClaimResult) -> None:
    row, _ = _one(summary, claim["model"])
    result.ours = f"{fmt(row.mean)} {fmt_interval(row.t_ci)} (95% t, n={len(row.values)})" if row else "not run"
    result.verdict = "context"


def verdict_bearing(result: ClaimResult) -> bool:
    """A claim that got an outcome from a test with a p: a member of its budget's family."""
    return (not result.sanity and (result.verdict in OUTCOMES or result.verdict == SENSITIVE)
            and math.isfinite(result.p) and math.isfinite(result.p_opposite))


def families(summaries: list[Summary]) -> dict[str, list[tuple[str, ClaimResult]]]:
    """Per budget, every verdict-bearing test of every task, with Holm- and Benjamini-Hochberg-adjusted p set on
    each result for the direction of its verdict (the claimed one unless contradicted)."""
    members: dict[str, list[tuple[str, ClaimResult]]] = defaultdict(list)
    for summary in summaries:
        for c in summary.claims:
            if verdict_bearing(c):
                members[summary.section.budget].append((summary.section.task, c))
    for family in members.values():
        results = [c for _, c in family]
        for direction in ("claimed", "opposite"):
            ps = [c.p if direction == "claimed" else c.p_opposite for c in results]
            for c, h, b in zip(results, exact.holm(ps), exact.benjamini_hochberg(ps)):
                if (direction == "opposite") == (c.verdict == "contradicted"):
                    c.holm, c.bh = h, b
    return dict(sorted(members.items()))


_JUDGES = {"equivalence": _judge_equivalence, "order": _judge_order, "converges_within": _judge_converges,
           "speedup": _judge_speedup, "above": _judge_above, "anchor": _judge_anchor}
