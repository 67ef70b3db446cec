"""Published results (benchmarks/published.yaml) and the rules that give each one a verdict against our runs.

Verdicts: "reproduced", "not reproduced", "inconclusive" (the seeds cannot decide it), "not comparable" (another
budget/protocol than the published number's), "no data" (no runs of the model), "context" (literature anchors).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmarks import stats
from benchmarks.summary import Row, Summary
from benchmarks.tables import fmt, fmt_interval

PUBLISHED = Path(__file__).with_name("published.yaml")
ALPHA = 0.05
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
        conv = spec.get("convergence")
        if conv is not None and not ({"metric", "window"} <= set(conv) and ("below" in conv) != ("above" in conv)):
            raise ValueError(f"{path}: {task}.convergence needs metric, window and exactly one of below/above")
    return data


def rule_text(claim: dict[str, Any], lower_is_better: bool) -> str:
    c, sign = claim, "<" if lower_is_better else ">"
    return {
        "interval_overlap": lambda: f"reproduced if our 95% {'pooled Wilson' if c.get('ci') == 'wilson' else 't'} "
                                    f"CI overlaps {fmt(c['value'])} ± {fmt(c['pm'])}",
        "near": lambda: f"reproduced if our median across seeds lies in [{fmt(c['interval'][0])}, "
                        f"{fmt(c['interval'][1])}]",
        "order": lambda: f"reproduced if {c['better']} {sign} {c['worse']} with one-sided exact Mann-Whitney "
                         f"p ≤ {ALPHA}",
        "converges_within": lambda: f"reproduced if the Kaplan-Meier median convergence episode ≤ {c['episodes']}",
        "speedup": lambda: f"reproduced if median episodes to converge {c['slow']} / {c['fast']} ≥ {c['min_ratio']}",
        "above": lambda: f"reproduced if the lower end of our 95% t CI > {fmt(c['value'])}",
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
        if claim["rule"] != "anchor" and budgets != "any" and summary.section.budget not in budgets:
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


def _judge_interval(summary: Summary, claim: dict[str, Any], result: ClaimResult) -> None:
    row, why = _one(summary, claim["model"])
    if row is None:
        return _set(result, "no data", why)
    wilson = claim["ci"] == "wilson"
    if wilson and row.wilson is None:
        return _set(result, "no data", "no pooled Wilson interval for these records")
    ci = row.wilson[2] if wilson else row.t_ci
    result.ours = f"{fmt(row.mean)} {fmt_interval(ci)} ({'pooled Wilson' if wilson else '95% t'}, n={len(row.values)})"
    if math.isnan(ci.low):
        return _set(result, "inconclusive", f"our CI is undefined ({ci.note})")
    lo, hi = claim["value"] - claim["pm"], claim["value"] + claim["pm"]
    _set(result, "reproduced" if ci.low <= hi and lo <= ci.high else "not reproduced")


def _judge_near(summary: Summary, claim: dict[str, Any], result: ClaimResult) -> None:
    row, why = _one(summary, claim["model"])
    if row is None:
        return _set(result, "no data", why)
    result.ours = f"median {fmt(row.median)} (n={len(row.values)})"
    lo, hi = claim["interval"]
    _set(result, "reproduced" if lo <= row.median <= hi else "not reproduced")


def _judge_order(summary: Summary, claim: dict[str, Any], result: ClaimResult) -> None:
    better, why_b = _one(summary, claim["better"])
    worse, why_w = _one(summary, claim["worse"])
    if better is None or worse is None:
        return _set(result, "no data", why_b or why_w)
    alternative = "less" if summary.section.lower_is_better else "greater"
    p = stats.mann_whitney(better.values, worse.values, alternative)
    prob = stats.prob_improvement(better.values, worse.values, summary.section.lower_is_better)
    result.ours = (f"{fmt(better.mean)} vs {fmt(worse.mean)} (means); one-sided p = {fmt(p)}, "
                   f"P({claim['better']} better) = {fmt(prob)}")
    smallest = 1 / math.comb(len(better.values) + len(worse.values), len(better.values))
    if p <= ALPHA:
        _set(result, "reproduced")
    elif smallest > ALPHA:
        _set(result, "inconclusive", f"with {len(better.values)} and {len(worse.values)} seeds the smallest "
                                     f"attainable p is {fmt(smallest)}")
    else:
        _set(result, "not reproduced")


def _judge_converges(summary: Summary, claim: dict[str, Any], result: ClaimResult) -> None:
    row, why = _one(summary, claim["model"])
    if row is None or row.survival is None or not row.conv_times:
        return _set(result, "no data", why or "no convergence data")
    km, limit = row.survival, claim["episodes"]
    result.ours = (f"KM median {fmt(km.median)} episodes, 95% CI {fmt_interval(km.median_ci)}, "
                   if not math.isnan(km.median) else "KM median not reached, ") + f"{km.converged}/{km.n} converged"
    if not math.isnan(km.median):
        return _set(result, "reproduced" if km.median <= limit else "not reproduced")
    if max(row.conv_times) >= limit:
        return _set(result, "not reproduced", f"more than half the runs unconverged at episode {limit}")
    _set(result, "not comparable", f"runs end at {fmt(max(row.conv_times))} episodes, before {limit}")


def _judge_speedup(summary: Summary, claim: dict[str, Any], result: ClaimResult) -> None:
    fast, why_f = _one(summary, claim["fast"])
    slow, why_s = _one(summary, claim["slow"])
    if fast is None or slow is None or fast.survival is None or slow.survival is None:
        return _set(result, "no data", why_f or why_s or "no convergence data")
    ratio, kind = stats.median_ratio(slow.survival, fast.survival, max(slow.conv_times, default=math.nan))
    result.ours = {"exact": f"{fmt(ratio)}x", "lower bound": f"≥ {fmt(ratio)}x ({claim['slow']} median not "
                   f"reached)", "undefined": f"undefined ({claim['fast']} median not reached)"}[kind]
    if kind == "undefined":
        return _set(result, "inconclusive", f"{claim['fast']} median not reached")
    if ratio >= claim["min_ratio"]:
        return _set(result, "reproduced")
    _set(result, "not reproduced" if kind == "exact" else "not comparable",
         "" if kind == "exact" else f"budget too short to bound the ratio above {claim['min_ratio']}")


def _judge_above(summary: Summary, claim: dict[str, Any], result: ClaimResult) -> None:
    row, why = _one(summary, claim["model"])
    if row is None:
        return _set(result, "no data", why)
    result.ours = f"{fmt(row.mean)} {fmt_interval(row.t_ci)} (95% t, n={len(row.values)})"
    if math.isnan(row.t_ci.low):
        return _set(result, "inconclusive", f"our CI is undefined ({row.t_ci.note})")
    _set(result, "reproduced" if row.t_ci.low > claim["value"] else "not reproduced")


def _judge_anchor(summary: Summary, claim: dict[str, Any], result: ClaimResult) -> None:
    row, _ = _one(summary, claim["model"])
    result.ours = f"{fmt(row.mean)} {fmt_interval(row.t_ci)} (95% t, n={len(row.values)})" if row else "not run"
    result.verdict = "context"


_JUDGES = {"interval_overlap": _judge_interval, "near": _judge_near, "order": _judge_order,
           "converges_within": _judge_converges, "speedup": _judge_speedup, "above": _judge_above,
           "anchor": _judge_anchor}
