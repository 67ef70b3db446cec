"""Published results (benchmarks/report/published.yaml) and the rules that give each one a verdict against our runs.

Every claim gets one of three outcomes when our runs can be set against it:

- ``reproduced``: our runs show what the paper claims (ordering/threshold claims: significant at ALPHA in the
  claimed direction; value claims: our estimate lies inside the published interval and our 95% interval is at
  most twice as wide, so the seeds pin the value down about as precisely as the paper states it);
- ``contradicted``: our runs show the opposite (ordering/threshold: significant at ALPHA in the other direction;
  value: our 95% interval excludes the published one);
- ``inconclusive``: neither; the reason says why (too few seeds, interval too wide, estimate outside the
  published interval while our interval still overlaps it).

Otherwise: "not comparable" (another budget/protocol than the published number's), "no data" (no runs of the
model), "context" (literature anchors, no verdict).
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmarks.report import stats
from benchmarks.report.summary import Row, Summary
from benchmarks.report.tables import fmt, fmt_interval

PUBLISHED = Path(__file__).with_name("published.yaml")
ALPHA = 0.05
OUTCOMES = ("reproduced", "contradicted", "inconclusive")
MAX_WIDTH_RATIO = 2.0  # value claims: our interval may be at most this many times as wide as the published one
REQUIRED = {"interval_overlap": ("model", "value", "pm", "ci"), "near": ("model", "value", "interval"),
            "order": ("better", "worse"), "converges_within": ("model", "episodes"),
            "speedup": ("fast", "slow", "min_ratio"), "above": ("model", "value"), "anchor": ("model", "value")}
TASK_KEYS = ("metric", "lower_is_better", "claims")


@dataclass
class ClaimResult:
    claim: dict[str, Any]
    published: str  # the paper's value and what its +- means
    ours: str
    rule: str  # the rule that decides, in words
    verdict: str
    why: str = ""  # the reason for this verdict (e.g. which budget would be comparable)
    p: float = math.nan  # ordering claims: one-sided exact p in the claimed direction
    p_floor: float = math.nan  # ordering claims: the smallest p these seed counts can reach


def load_published(path: str | Path = PUBLISHED) -> dict[str, Any]:
    """The task entries of published.yaml, checked; ValueError naming the file and key otherwise."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    for task, spec in data.items():
        missing = [k for k in TASK_KEYS if k not in spec]
        if missing:
            raise ValueError(f"{path}: {task} lacks {missing}")
        for i, claim in enumerate(spec["claims"]):
            where = f"{path}: {task}.claims[{i}]"
            if claim.get("rule") not in REQUIRED:
                raise ValueError(f"{where}.rule={claim.get('rule')!r}; known rules: {sorted(REQUIRED)}")
            absent = [k for k in ("id", "text", "pm_meaning", *REQUIRED[claim["rule"]]) if k not in claim]
            if absent:
                raise ValueError(f"{where} ({claim.get('id')}) lacks {absent}")
            if claim["rule"] != "anchor":
                check_budgets(claim.get("budgets"), f"{where} ({claim['id']}).budgets")
        bounds = spec.get("metric_range")
        if bounds is not None and not (isinstance(bounds, list) and len(bounds) == 2 and bounds[0] < bounds[1]):
            raise ValueError(f"{path}: {task}.metric_range={bounds!r} must be [low, high] with low < high")
        conv = spec.get("convergence")
        if conv is not None and not ({"metric", "window"} <= set(conv) and ("below" in conv) != ("above" in conv)):
            raise ValueError(f"{path}: {task}.convergence needs metric, window and exactly one of below/above")
    return data


BUDGET_DIR = Path(__file__).resolve().parents[1] / "conf" / "budget"


def check_budgets(budgets: Any, where: str) -> None:
    """A claim's budgets: "any", or a non-empty list of budget names that exist under benchmarks/conf/budget/."""
    if budgets == "any":
        return
    known = sorted(p.stem for p in BUDGET_DIR.glob("*.yaml"))
    if not (isinstance(budgets, list) and budgets and all(isinstance(b, str) for b in budgets)):
        raise ValueError(f"{where}={budgets!r}: give \"any\" or a list of budget names from {known}")
    unknown = [b for b in budgets if b not in known]
    if unknown:
        raise ValueError(f"{where} names unknown budget(s) {unknown}; known: {known}")


def comparable_at(claim: dict[str, Any], budget: str) -> bool:
    """Whether a claim can get a verdict from records of ``budget`` (its ``budgets``: "any" or a list)."""
    budgets = claim.get("budgets", "any")
    return claim["rule"] == "anchor" or budgets == "any" or budget in budgets


def rule_text(claim: dict[str, Any], lower_is_better: bool) -> str:
    c, sign = claim, "<" if lower_is_better else ">"
    value = (f"reproduced if our {{est}} lies in {{rng}} and our 95% {{ci}} is at most {MAX_WIDTH_RATIO:g}x as wide; "
             "contradicted if that interval excludes {rng}")
    return {
        "interval_overlap": lambda: value.format(est="estimate", ci="pooled Wilson CI" if c.get("ci") == "wilson"
                                                 else "t CI", rng=f"{fmt(c['value'])} ± {fmt(c['pm'])}"),
        "near": lambda: value.format(est="median across seeds", ci="order-statistic CI of the median",
                                     rng=f"[{fmt(c['interval'][0])}, {fmt(c['interval'][1])}]"),
        "order": lambda: f"reproduced if {c['better']} {sign} {c['worse']} with one-sided exact Mann-Whitney "
                         f"p ≤ {ALPHA}; contradicted if the opposite one-sided p ≤ {ALPHA}",
        "converges_within": lambda: f"reproduced if a one-sided sign test (p ≤ {ALPHA}) shows more than half the runs "
                                    f"converged by episode {c['episodes']}; contradicted if it shows fewer",
        "speedup": lambda: f"reproduced if even the least favourable ratio of the medians' 95% CI ends ({c['slow']} "
                           f"low / {c['fast']} high) is ≥ {c['min_ratio']}; contradicted if even the most favourable "
                           f"is below it",
        "above": lambda: f"reproduced if the lower end of our 95% t CI > {fmt(c['value'])}; contradicted if its "
                         f"upper end < {fmt(c['value'])}",
        "anchor": lambda: "context only: different split/protocol, no verdict",
    }[c["rule"]]()


def published_text(claim: dict[str, Any]) -> str:
    pm = f" ± {fmt(claim['pm'])}" if "pm" in claim else ""
    return f"{claim['text']} [{fmt(claim['value'])}{pm}: {claim['pm_meaning']}]" if "value" in claim \
        else f"{claim['text']} [{claim['pm_meaning']}]"


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
        result = ClaimResult(claim, published_text(claim), "", rule_text(claim, lower), "")
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


def judge_value(estimate: float, ci: stats.Interval, low: float, high: float) -> tuple[str, str]:
    """A value claim [low, high] against our estimate and 95% interval: (outcome, reason)."""
    if math.isnan(ci.low) or math.isnan(ci.high):
        return "inconclusive", f"our interval is undefined ({ci.note})"
    if ci.high < low or ci.low > high:
        return "contradicted", "our 95% interval excludes the published one"
    if not low <= estimate <= high:
        return "inconclusive", "our estimate lies outside the published interval, our 95% interval overlaps it"
    if ci.high - ci.low > MAX_WIDTH_RATIO * (high - low):
        return "inconclusive", (f"our 95% interval is {fmt((ci.high - ci.low) / (high - low))}x as wide as the "
                                f"published one: too few seeds or episodes to pin the value")
    return "reproduced", ""


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


def _judge_interval(summary: Summary, claim: dict[str, Any], result: ClaimResult) -> None:
    row, why = _one(summary, claim["model"])
    if row is None:
        return _set(result, "no data", why)
    wilson = claim["ci"] == "wilson"
    if wilson and row.wilson is None:
        return _set(result, "no data", "no pooled Wilson interval for these records")
    k, n, ci = row.wilson if wilson else (None, None, row.t_ci)
    estimate = k / n if wilson and n else row.mean
    result.ours = (f"{fmt(estimate)} {fmt_interval(ci)} ("
                   + (f"pooled Wilson over {n} distinct test episodes, {len(row.values)} seeds)" if wilson
                      else f"95% t, n={len(row.values)})"))
    _set(result, *judge_value(estimate, ci, claim["value"] - claim["pm"], claim["value"] + claim["pm"]))


def _judge_near(summary: Summary, claim: dict[str, Any], result: ClaimResult) -> None:
    row, why = _one(summary, claim["model"])
    if row is None:
        return _set(result, "no data", why)
    ci = stats.median_interval(row.values)
    result.ours = f"median {fmt(row.median)}, 95% CI {fmt_interval(ci)} (n={len(row.values)})"
    _set(result, *judge_value(row.median, ci, *claim["interval"]))


def _judge_order(summary: Summary, claim: dict[str, Any], result: ClaimResult) -> None:
    better, why_b = _one(summary, claim["better"])
    worse, why_w = _one(summary, claim["worse"])
    if better is None or worse is None:
        return _set(result, "no data", why_b or why_w)
    claimed, opposite = ("less", "greater") if summary.section.lower_is_better else ("greater", "less")
    result.p = stats.mann_whitney(better.values, worse.values, claimed)
    result.p_floor = stats.smallest_p(len(better.values), len(worse.values))
    prob = stats.prob_improvement(better.values, worse.values, summary.section.lower_is_better)
    floor_mark = " (= smallest attainable)" if result.p <= result.p_floor else ""
    result.ours = (f"{fmt(better.mean)} vs {fmt(worse.mean)} (means); one-sided p = {fmt(result.p)}{floor_mark}, "
                   f"P({claim['better']} better) = {fmt(prob)}")
    _set(result, *judge_order(result.p, stats.mann_whitney(better.values, worse.values, opposite), result.p_floor))


def judge_converges(by_limit: int, n: int, limit: float) -> tuple[str, str]:
    """A "converges within ``limit``" claim says the median run converges by ``limit``, i.e. more than half the runs
    do. Exact one-sided sign tests, one each way: reproduced when significantly more than half of the ``n`` runs
    converged by ``limit``, contradicted when significantly fewer did, inconclusive otherwise (always below 5 runs:
    the smallest attainable p is 1/2^n)."""
    said = f"{by_limit}/{n} runs converged by episode {fmt(limit)}"
    p_yes, p_no, floor = stats.sign_test_at_least(by_limit, n), stats.sign_test_at_most(by_limit, n), 0.5 ** n
    if p_yes <= ALPHA:
        return "reproduced", f"{said}: one-sided sign test p = {fmt(p_yes)}"
    if p_no <= ALPHA:
        return "contradicted", f"{said}: one-sided sign test p = {fmt(p_no)} that the median lies beyond it"
    if floor > ALPHA:
        return "inconclusive", f"{said}: {n} runs cannot reach p ≤ {ALPHA} (smallest attainable p = {fmt(floor)})"
    return "inconclusive", f"{said}: sign-test p = {fmt(min(p_yes, p_no))} > {ALPHA} either way"


def _judge_converges(summary: Summary, claim: dict[str, Any], result: ClaimResult) -> None:
    row, why = _one(summary, claim["model"])
    if row is None or row.survival is None or not row.conv_times:
        return _set(result, "no data", why or "no convergence data")
    km, limit = row.survival, claim["episodes"]
    result.ours = (f"KM median {fmt(km.median)} episodes, 95% CI {fmt_interval(km.median_ci)}, "
                   if not math.isnan(km.median) else "KM median not reached, ") + f"{km.converged}/{km.n} converged"
    # a run censored before the limit cannot say whether it would make it
    if any(not reached and t < limit for t, reached in zip(row.conv_times, row.conv_reached)):
        return _set(result, "not comparable", f"runs end at {fmt(max(row.conv_times))} episodes, before {limit}")
    by_limit = sum(t <= limit and r for t, r in zip(row.conv_times, row.conv_reached))
    result.ours += f", {by_limit} by episode {fmt(limit)}"
    _set(result, *judge_converges(by_limit, len(row.conv_times), limit))


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


def _judge_speedup(summary: Summary, claim: dict[str, Any], result: ClaimResult) -> None:
    fast, why_f = _one(summary, claim["fast"])
    slow, why_s = _one(summary, claim["slow"])
    if fast is None or slow is None or fast.survival is None or slow.survival is None:
        return _set(result, "no data", why_f or why_s or "no convergence data")
    budget = max(slow.conv_times, default=math.nan)
    ratio, kind = stats.median_ratio(slow.survival, fast.survival, budget)
    result.ours = {"exact": f"{fmt(ratio)}x", "lower bound": f"≥ {fmt(ratio)}x ({claim['slow']} median not "
                   f"reached)", "undefined": f"undefined ({claim['fast']} median not reached)"}[kind]
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
    if math.isnan(row.t_ci.low):
        return _set(result, "inconclusive", f"our CI is undefined ({row.t_ci.note})")
    if row.t_ci.low > claim["value"]:
        return _set(result, "reproduced")
    if row.t_ci.high < claim["value"]:
        return _set(result, "contradicted", f"our 95% t CI lies below {fmt(claim['value'])}")
    _set(result, "inconclusive", f"our 95% t CI contains {fmt(claim['value'])}")


def _judge_anchor(summary: Summary, claim: dict[str, Any], result: ClaimResult) -> None:
    row, _ = _one(summary, claim["model"])
    result.ours = f"{fmt(row.mean)} {fmt_interval(row.t_ci)} (95% t, n={len(row.values)})" if row else "not run"
    result.verdict = "context"


def ordering_families(summaries: list[Summary]) -> dict[str, list[tuple[str, ClaimResult, float]]]:
    """Per budget, its family of judged ordering claims (all tasks): (task, result, Holm-adjusted p)."""
    families: dict[str, list[tuple[str, ClaimResult]]] = defaultdict(list)
    for summary in summaries:
        for c in summary.claims:
            if c.claim["rule"] == "order" and c.verdict in OUTCOMES and not math.isnan(c.p):
                families[summary.section.budget].append((summary.section.task, c))
    return {budget: [(task, c, adjusted) for (task, c), adjusted in zip(members, stats.holm([c.p for _, c in members]))]
            for budget, members in sorted(families.items())}


_JUDGES = {"interval_overlap": _judge_interval, "near": _judge_near, "order": _judge_order,
           "converges_within": _judge_converges, "speedup": _judge_speedup, "above": _judge_above,
           "anchor": _judge_anchor}
