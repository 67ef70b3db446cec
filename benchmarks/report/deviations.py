"""The deviations register (benchmarks/report/deviations.yaml): every way this harness departs from the papers'
protocols, with the reason and the measured effect, loaded and checked here and rendered by the report."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from benchmarks.report.published_spec import check_budgets

DEVIATIONS = Path(__file__).with_name("deviations.yaml")
FIELDS = ("id", "tasks", "budgets", "paper", "code", "ours", "why", "effect", "source")


def load_deviations(path: str | Path = DEVIATIONS, published: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The register's entries, checked: every field present, budgets real, tasks and claims known to
    published.yaml (when given); ValueError naming the file, entry and key otherwise."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or []
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from err
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of deviations, got {type(data).__name__}")
    seen: set[str] = set()
    for i, entry in enumerate(data):
        where = f"{path}: [{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} is not a mapping")
        missing = [k for k in FIELDS if k not in entry]
        if missing:
            raise ValueError(f"{where} ({entry.get('id')}) lacks {missing}")
        if entry["id"] in seen:
            raise ValueError(f"{where}: id {entry['id']!r} appears twice")
        seen.add(entry["id"])
        check_budgets(entry["budgets"], f"{where} ({entry['id']}).budgets")
        if not (isinstance(entry["tasks"], list) and entry["tasks"]):
            raise ValueError(f"{where} ({entry['id']}).tasks must be a non-empty list of task names")
        if published is not None:
            _check_known(entry, published, where)
    return data


def _check_known(entry: dict[str, Any], published: dict[str, Any], where: str) -> None:
    unknown = [t for t in entry["tasks"] if t not in published]
    if unknown:
        raise ValueError(f"{where} ({entry['id']}).tasks names {unknown}, not in published.yaml")
    ids = {c["id"] for t in entry["tasks"] for c in published[t]["claims"]}
    stray = [c for c in entry.get("claims", []) if c not in ids]
    if stray:
        raise ValueError(f"{where} ({entry['id']}).claims names {stray}, not claims of {entry['tasks']}")


def touching(register: list[dict[str, Any]], task: str, claim_id: str, budget: str) -> list[dict[str, Any]]:
    """The deviations that apply to a claim of a task at a budget."""
    return [d for d in register if task in d["tasks"] and (d["budgets"] == "any" or budget in d["budgets"])
            and ("claims" not in d or claim_id in d["claims"])]


def table(register: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    budgets = lambda d: "any" if d["budgets"] == "any" else ", ".join(d["budgets"])  # noqa: E731
    return (["Deviation", "Tasks", "Budgets", "Paper", "Authors' code", "Ours", "Why", "Measured effect", "Source"],
            [[d["id"], ", ".join(d["tasks"]), budgets(d), d["paper"], d["code"], d["ours"], d["why"], d["effect"],
              d["source"]] for d in register])
