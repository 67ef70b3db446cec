"""The reproducibility summary that opens REPORT.md and README's results block: scope, one line per judged claim
(published value, ours, verdict, test and its p, family-wise and false-discovery control, seeds, what would decide
it, the deviations that touch it), the verdict counts, the sanity checks apart, the compute each budget used, and
the deviations register."""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any

from benchmarks.harness.records import RunRecord
from benchmarks.report import deviations, tables
from benchmarks.report.published import ClaimResult
from benchmarks.report.summary import Summary
from benchmarks.report.verdicts import ALPHA, SENSITIVE

PAPERS = ("Miconi, Clune & Stanley 2018, *Differentiable plasticity* (ICML; arXiv 1804.02464)",
          "Duan et al. 2023, *Hebbian and Gradient-based Plasticity Enables Robust Memory and Rapid Learning in RNNs* "
          "(ICLR; arXiv 2302.03235)")
UNJUDGED = ("not comparable", "context", "no data")


def _claims(summaries: list[Summary], order: list[str]) -> list[tuple[str, str, ClaimResult]]:
    """(budget, task, result) of every claim, budgets in report order, sanity checks and anchors left out."""
    items = [(s.section.budget, s.section.task, c) for s in summaries for c in s.claims
             if not c.sanity and c.verdict != "context"]
    return sorted(items, key=lambda item: (order.index(item[0]), item[1]))


def _verdict(c: ClaimResult) -> str:
    text = c.verdict
    if c.verdict == SENSITIVE:
        text += " " + c.why.split(":")[0]
    return text + (f" (indication: {c.indication})" if c.indication else "")


def side_by_side(items: list[tuple[str, str, ClaimResult]], budgets: list[str]) -> tables.Table:
    """One row per claim, its verdict at each budget (longest first); — where no records of the budget. A budget
    whose seeds cannot decide any of its ordering claims is headed "indications only"."""
    verdicts: dict[tuple[str, str], dict[str, str]] = {}
    texts: dict[tuple[str, str], str] = {}
    for budget, task, c in items:
        verdicts.setdefault((task, c.claim["id"]), {})[budget] = _verdict(c)
        texts[(task, c.claim["id"])] = c.claim["text"]
    heads = []
    for budget in budgets:
        orders = [c for b, _, c in items if b == budget and c.claim["rule"] == "order" and c.verdict not in UNJUDGED]
        weak = bool(orders) and all(c.p_floor > ALPHA for c in orders)
        heads.append(f"{budget} (its seeds cannot reach p ≤ {ALPHA}: indications only)" if weak else budget)
    return (["Task", "Claim", "Published", *heads],
            [[task, cid, texts[(task, cid)], *(v.get(b, "—") for b in budgets)]
             for (task, cid), v in sorted(verdicts.items())])


def claims_table(items: list[tuple[str, str, ClaimResult]], register: list[dict[str, Any]]) -> tables.Table:
    headers = ["Budget", "Task", "Claim", "Published", "Ours", "Verdict", "Test: p (smallest attainable)",
               "Holm / BH over the budget", "Seeds", "What would decide it", "Deviations"]
    rows = []
    for budget, task, c in items:
        if c.verdict in UNJUDGED:
            continue
        touching = ", ".join(d["id"] for d in deviations.touching(register, task, c.claim["id"], budget))
        rows.append([budget, task, c.claim["id"], c.claim["text"], c.ours or "n/a", _verdict(c), tables.test_text(c),
                     tables.family_text(c, ALPHA), c.seeds or "n/a", c.decide or "", touching or "none"])
    return headers, rows


def counts_line(items: list[tuple[str, str, ClaimResult]], budgets: list[str]) -> str:
    lines = []
    for budget in budgets:
        mine = [c for b, _, c in items if b == budget]
        tally = Counter(c.verdict for c in mine)
        parts = []
        for verdict in ("reproduced", "contradicted"):
            if tally[verdict]:
                holm = sum(c.verdict == verdict and c.holm <= ALPHA for c in mine)
                bh = sum(c.verdict == verdict and c.bh <= ALPHA for c in mine)
                parts.append(f"{tally[verdict]} {verdict}, of which {holm} survive Holm and {bh} Benjamini-Hochberg")
        parts += [f"{tally[v]} {v}" for v in ("inconclusive", SENSITIVE, "no data", "not comparable") if tally[v]]
        indications = sum(bool(c.indication) for c in mine if c.verdict == "inconclusive")
        note = (f" ({indications} of the inconclusive ones are indications only: their seeds cannot reach "
                f"p ≤ {ALPHA})" if indications else "")
        lines.append(f"- `{budget}`: " + "; ".join(parts) + note + ".")
    return "\n".join(lines) + "\n"


def sanity_table(summaries: list[Summary]) -> tables.Table:
    rows = [[s.section.budget, s.section.task, c.claim["id"], c.claim["text"], c.ours or "n/a",
             {"reproduced": "passes", "contradicted": "fails"}.get(c.verdict, c.verdict)]
            for s in summaries for c in s.claims if c.sanity]
    return ["Budget", "Task", "Check", "What", "Ours", "Outcome"], rows


def compute_table(records: list[tuple[str, RunRecord]], budgets: list[str]) -> tables.Table:
    """Records and core-hours (wall time x threads of every record, trained or skipped) per budget."""
    seconds: dict[str, float] = defaultdict(float)
    count: Counter[str] = Counter()
    for _, r in records:
        wall = r.wall_time_s if isinstance(r.wall_time_s, (int, float)) and math.isfinite(r.wall_time_s) else 0.0
        seconds[r.budget] += wall * (r.threads if isinstance(r.threads, int) and r.threads > 0 else 1)
        count[r.budget] += 1
    return (["Budget", "Run records", "Core-hours (training wall time x threads, summed)"],
            [[b, str(count[b]), tables.fmt(seconds[b] / 3600, digits=3)] for b in budgets])


def not_comparable_anywhere(items: list[tuple[str, str, ClaimResult]]) -> list[str]:
    by_claim: dict[tuple[str, str], list[ClaimResult]] = defaultdict(list)
    for _, task, c in items:
        by_claim[(task, c.claim["id"])].append(c)
    budgets = lambda c: c.claim.get("budgets", "any")  # noqa: E731
    return [f"{task} / {cid} (comparable at: {budgets(cs[0]) if isinstance(budgets(cs[0]), str) else ', '.join(budgets(cs[0]))})"
            for (task, cid), cs in sorted(by_claim.items()) if all(c.verdict == "not comparable" for c in cs)]


def summary_markdown(summaries: list[Summary], records: list[tuple[str, RunRecord]], register: list[dict[str, Any]],
                     budgets: list[str], unjudged: tuple[str, ...] = ()) -> str:
    """``unjudged``: budgets among ``budgets`` whose records are not set against the papers' claims (parity)."""
    records_budgets, budgets = budgets, [b for b in budgets if b not in unjudged]
    items = _claims(summaries, budgets)
    tasks = sorted({s.section.task for s in summaries})
    parts = ["### Reproducibility summary\n",
             "Scope: " + "; ".join(PAPERS) + f". Tasks with records: {', '.join(tasks)}. Budgets with records: "
             f"{', '.join(records_budgets)}"
             + (f" ({', '.join(unjudged)}: compared with the authors' code, not with the papers' claims)"
                if set(unjudged) & set(records_budgets) else "")
             + f". Each claim is its own replication question, decided at α = {ALPHA}; beside it, "
             "whether it survives Holm (family-wise) and Benjamini-Hochberg (false discovery) over every "
             "verdict-bearing test of its budget.\n",
             "Verdict counts (sanity checks and literature anchors not counted):\n", counts_line(items, budgets),
             "Verdict on each published claim at each budget (— = no records at that budget):\n",
             tables.to_markdown(side_by_side(items, budgets)),
             "Every claim our runs can be set against, with its test:\n", tables.to_markdown(claims_table(items, register))]
    unreached = not_comparable_anywhere(items)
    if unreached:
        parts.append("Not comparable at any budget run so far (they need the paper's protocol): "
                     + "; ".join(unreached) + ".\n")
    sanity = sanity_table(summaries)
    if sanity[1]:
        parts += ["Sanity checks (not paper claims, not counted):\n", tables.to_markdown(sanity)]
    parts += ["Compute used by the records:\n", tables.to_markdown(compute_table(records, records_budgets)),
              "Deviations from the papers' protocols (benchmarks/report/deviations.yaml; the Deviations column above "
              "names those touching each claim):\n", tables.to_markdown(deviations.table(register))]
    return "\n".join(parts)
