"""Re-run agreement: a fresh reproduction's records set beside the published ones, cell by cell and verdict by verdict.

    python -m benchmarks.report.agreement FRESH_DIR [--published results/runs] [--out FILE]

A fresh record and a published one are the same cell when they share the config hash and the seed. Per cell:
the final metric of each and their difference, and one of
- ``identical``: the same final metrics and curves, bit for bit (what the same platform and torch build give:
  training is deterministic on CPU);
- ``within tolerance``: the final metric within ``REL_TOL`` of the published one (plus ``ABS_TOL``), as other
  CPUs, BLAS builds or torch versions may give;
- ``differs``: beyond that; the row names what differs between the two records (commit, torch, CPU, platform,
  numpy, data digest, threads, status), all of which the records hold;
- ``new``: no published record of that config and seed (a cell the published grid does not have);
- ``not run``: the fresh run did not finish with status ok (skipped for missing data, diverged).
Then every verdict of the budget, recomputed from the fresh records beside the published one. The table goes to
``FILE`` (default ``FRESH_DIR/agreement.md``) and a summary to the terminal.
"""
from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.harness.atomic import atomic_write_text
from benchmarks.harness.errors import command_errors
from benchmarks.harness.records import RunRecord
from benchmarks.report.collect import load_dirs
from benchmarks.report.tables import fmt, to_markdown

REL_TOL = 0.02  # 2% of the published final metric ...
ABS_TOL = 1e-4  # ... plus this, for metrics near zero
ENVIRONMENT_KEYS = ("cpu", "platform", "numpy", "torch", "python")


@dataclass
class Agreement:
    task: str
    model: str
    budget: str
    seed: int
    status: str  # identical / within tolerance / differs / new / not run
    fresh: float
    published: float = math.nan
    differences: list[str] = field(default_factory=list)  # what differs between the two records

    @property
    def delta(self) -> float:
        return self.fresh - self.published


def _final(record: RunRecord) -> float:
    value = record.final.get(record.primary_metric) if isinstance(record.final, dict) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def record_differences(fresh: RunRecord, published: RunRecord) -> list[str]:
    """What differs between two records of the same cell, besides their numbers."""
    out = []
    for name, a, b in (("commit", fresh.git_commit, published.git_commit),
                       ("torch", fresh.torch_version, published.torch_version),
                       ("data digest", fresh.data_digest, published.data_digest),
                       ("threads", fresh.threads, published.threads), ("status", fresh.status, published.status)):
        if a != b:
            out.append(f"{name} {b} → {a}")
    env_f, env_p = fresh.environment or {}, published.environment or {}
    out += [f"{key} {env_p.get(key)} → {env_f.get(key)}" for key in ENVIRONMENT_KEYS
            if key not in ("torch",) and env_f.get(key) != env_p.get(key)]
    return out


def agree(fresh: RunRecord, published: RunRecord | None) -> Agreement:
    row = Agreement(fresh.task, fresh.model, fresh.budget, fresh.seed, "", _final(fresh))
    if fresh.status != "ok":
        row.status = "not run"
        row.differences = [f"fresh status {fresh.status}"]
        return row
    if published is None:
        row.status = "new"
        return row
    row.published = _final(published)
    row.differences = record_differences(fresh, published)
    if fresh.final == published.final and fresh.curves == published.curves and published.status == "ok":
        row.status = "identical"
    elif math.isfinite(row.delta) and abs(row.delta) <= REL_TOL * abs(row.published) + ABS_TOL:
        row.status = "within tolerance"
    else:
        row.status = "differs"
    return row


def compare(fresh: list[tuple[str, RunRecord]], published: list[tuple[str, RunRecord]]) -> list[Agreement]:
    """One row per fresh record, matched to the published record of the same config hash and seed."""
    index = {(r.config_hash, r.seed): r for _, r in published}
    rows = [agree(r, index.get((r.config_hash, r.seed))) for _, r in fresh]
    return sorted(rows, key=lambda a: (a.budget, a.task, a.model, a.seed))


def verdicts(records: list[tuple[str, RunRecord]], budgets: set[str]) -> dict[tuple[str, str, str], str]:
    """(budget, task, claim id) -> verdict, from the records of ``budgets`` (the report's own judging)."""
    from benchmarks.report.main import judged_summaries
    summaries = judged_summaries([(p, r) for p, r in records if r.budget in budgets])
    return {(s.section.budget, s.section.task, c.claim["id"]): c.verdict for s in summaries for c in s.claims
            if c.verdict != "context"}


def summary_line(rows: list[Agreement]) -> str:
    tally = Counter(r.status for r in rows)
    order = ("identical", "within tolerance", "differs", "new", "not run")
    return f"{len(rows)} fresh cells: " + ", ".join(f"{tally[s]} {s}" for s in order if tally[s])


def markdown(rows: list[Agreement], fresh_v: dict[tuple[str, str, str], str],
             published_v: dict[tuple[str, str, str], str], fresh_dir: str, published_dir: str) -> str:
    cells = to_markdown((["Budget", "Task", "Model", "Seed", "Fresh", "Published", "Fresh − published", "Agreement",
                          "What differs between the records"],
                         [[r.budget, r.task, r.model, str(r.seed), fmt(r.fresh), fmt(r.published), fmt(r.delta),
                           r.status, "; ".join(r.differences) or "nothing"] for r in rows]))
    budgets = {r.budget for r in rows}
    keys = sorted(k for k in set(fresh_v) | set(published_v) if k[0] in budgets)
    same = sum(fresh_v.get(k) == published_v.get(k) for k in keys)
    claims = to_markdown((["Budget", "Task", "Claim", "Fresh verdict", "Published verdict", "Same"],
                          [[*k, fresh_v.get(k, "—"), published_v.get(k, "—"), "yes" if fresh_v.get(k) ==
                            published_v.get(k) else "NO"] for k in keys]))
    return (f"# Re-run agreement\n\nFresh records: `{fresh_dir}`; published records: `{published_dir}`. A cell is "
            f"identical when its final metrics and curves equal the published record's bit for bit, within "
            f"tolerance when the final metric is within {REL_TOL:.0%} (+ {ABS_TOL:g}) of it.\n\n"
            f"{summary_line(rows)}; verdicts: {same} of {len(keys)} the same.\n\n## Cells\n\n{cells}\n"
            f"## Verdicts recomputed from the fresh records\n\n{claims}")


def write(fresh_dir: str, published_dir: str, out: Path | None = None) -> tuple[list[Agreement], Path]:
    fresh = load_dirs([fresh_dir]).records
    published = load_dirs([published_dir]).records if Path(published_dir).is_dir() else []
    rows = compare(fresh, published)
    path = out or Path(fresh_dir) / "agreement.md"
    budgets = {r.budget for _, r in fresh}
    atomic_write_text(path, markdown(rows, verdicts(fresh, budgets), verdicts(published, budgets), fresh_dir,
                                     published_dir))
    return rows, path


def report_to_terminal(rows: list[Agreement], path: Path) -> None:
    print(f"[agreement] {summary_line(rows)} (table: {path})", file=sys.stderr)
    for r in rows:
        if r.status in ("differs", "not run"):
            print(f"[agreement] {r.task}/{r.model} seed {r.seed} ({r.budget}): {r.status}, fresh {fmt(r.fresh)} vs "
                  f"published {fmt(r.published)}; {'; '.join(r.differences) or 'records agree otherwise'}",
                  file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report.agreement", description=__doc__.splitlines()[0])
    parser.add_argument("fresh", help="folder of the fresh records")
    parser.add_argument("--published", default="results/runs", help="folder of the published records")
    parser.add_argument("--out", default=None, help="the table (default FRESH/agreement.md)")
    args = parser.parse_args(argv)
    with command_errors("agreement"):
        rows, path = write(args.fresh, args.published, Path(args.out) if args.out else None)
    report_to_terminal(rows, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
