"""published.yaml: loading and checking its task entries and claims, and the words that describe each rule.

The judging itself is in ``benchmarks.report.published``; the rules on plain numbers in
``benchmarks.report.verdicts``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from benchmarks.report.tables import fmt
from benchmarks.report.verdicts import ALPHA

PUBLISHED = Path(__file__).with_name("published.yaml")
REQUIRED = {"equivalence": ("model", "value", "margin", "margin_reason", "estimate"), "order": ("better", "worse"),
            "converges_within": ("model", "episodes"), "speedup": ("fast", "slow", "min_ratio"),
            "above": ("model", "value"), "anchor": ("model", "value")}
ESTIMATES = {"median": "median across seeds", "mean": "mean across seeds",
             "wilson": "accuracy pooled over every test episode of every seed"}
TASK_KEYS = ("metric", "lower_is_better", "claims")
BUDGET_DIR = Path(__file__).resolve().parents[1] / "conf" / "budget"


def _check_claim(claim: dict[str, Any], where: str) -> None:
    if claim.get("rule") not in REQUIRED:
        raise ValueError(f"{where}.rule={claim.get('rule')!r}; known rules: {sorted(REQUIRED)}")
    absent = [k for k in ("id", "text", "pm_meaning", *REQUIRED[claim["rule"]]) if k not in claim]
    if absent:
        raise ValueError(f"{where} ({claim.get('id')}) lacks {absent}")
    if claim["rule"] != "anchor":
        check_budgets(claim.get("budgets"), f"{where} ({claim['id']}).budgets")
    if claim["rule"] == "equivalence":
        if claim["estimate"] not in ESTIMATES:
            raise ValueError(f"{where} ({claim['id']}).estimate={claim['estimate']!r}; known: {sorted(ESTIMATES)}")
        if not (isinstance(claim["margin"], (int, float)) and claim["margin"] > 0):
            raise ValueError(f"{where} ({claim['id']}).margin={claim['margin']!r} must be a positive number")
    limits = claim.get("episodes_range")
    if limits is not None and not (isinstance(limits, list) and claim["episodes"] in limits
                                   and "episodes_reason" in claim):
        raise ValueError(f"{where} ({claim['id']}).episodes_range={limits!r} must be a list holding episodes "
                         f"({claim.get('episodes')}), with episodes_reason saying where the range comes from")


def load_published(path: str | Path = PUBLISHED) -> dict[str, Any]:
    """The task entries of published.yaml, checked; ValueError naming the file and key otherwise."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected task entries (a mapping), got {type(data).__name__}")
    for task, spec in data.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("claims", []), list) or \
                not all(isinstance(c, dict) for c in spec.get("claims", [])):
            raise ValueError(f"{path}: {task} must be a mapping whose claims are a list of mappings")
        missing = [k for k in TASK_KEYS if k not in spec]
        if missing:
            raise ValueError(f"{path}: {task} lacks {missing}")
        for i, claim in enumerate(spec["claims"]):
            _check_claim(claim, f"{path}: {task}.claims[{i}]")
        bounds = spec.get("metric_range")
        if bounds is not None and not (isinstance(bounds, list) and len(bounds) == 2 and bounds[0] < bounds[1]):
            raise ValueError(f"{path}: {task}.metric_range={bounds!r} must be [low, high] with low < high")
        conv = spec.get("convergence")
        if conv is not None and not ({"metric", "window"} <= set(conv) and ("below" in conv) != ("above" in conv)):
            raise ValueError(f"{path}: {task}.convergence needs metric, window and exactly one of below/above")
        windows = (conv or {}).get("window_range")
        if windows is not None and not (isinstance(windows, list) and conv["window"] in windows):
            raise ValueError(f"{path}: {task}.convergence.window_range={windows!r} must be a list holding "
                             f"window ({conv['window']})")
    return data


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
    return {
        "equivalence": lambda: (f"reproduced if two one-sided tests (p ≤ {ALPHA} each; the 90% CI inside) put the "
                                f"{ESTIMATES[c['estimate']]} within {fmt(c['value'])} ± {fmt(c['margin'])}; "
                                f"contradicted if a one-sided test puts it outside"),
        "order": lambda: (f"reproduced if {c['better']} {sign} {c['worse']} with one-sided exact p ≤ {ALPHA} "
                          "(Wilcoxon signed-rank on per-seed differences when the arms share seeds, else "
                          f"Mann-Whitney); contradicted if the opposite one-sided p ≤ {ALPHA}"),
        "converges_within": lambda: (f"reproduced if a one-sided exact sign test (p ≤ {ALPHA}) shows more than half "
                                     f"the runs converged by episode {fmt(c['episodes'])}; contradicted if it shows "
                                     "fewer; sensitive if that changes within the plausible window / episode range"),
        "speedup": lambda: (f"reproduced if even the least favourable ratio of the medians' 95% CI ends ({c['slow']} "
                            f"low / {c['fast']} high) is ≥ {c['min_ratio']}; contradicted if even the most "
                            "favourable is below it"),
        "above": lambda: (f"sanity check: passes if the lower end of our 95% t CI > {fmt(c['value'])}; fails if "
                          f"its upper end < {fmt(c['value'])}"),
        "anchor": lambda: "context only: different split/protocol, no verdict",
    }[c["rule"]]()


def published_text(claim: dict[str, Any]) -> str:
    pm = f" ± {fmt(claim['pm'])}" if "pm" in claim else ""
    margin = (f"; margin ± {fmt(claim['margin'])}: {claim['margin_reason']}" if "margin" in claim else "")
    return (f"{claim['text']} [{fmt(claim['value'])}{pm}: {claim['pm_meaning']}{margin}]" if "value" in claim
            else f"{claim['text']} [{claim['pm_meaning']}]")
