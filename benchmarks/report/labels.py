"""The budget label of a report section: the budget's name, and the entries its records override (a run with
``budget.tasks.<task>.episodes=...`` on the command line is not the named budget and must not look like it)."""
from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf

from benchmarks.harness.config import compose_config
from benchmarks.report.collect import Section


def named_entry(task: str, budget: str) -> dict[str, Any] | None:
    """The task's entry in benchmarks/conf/budget/<budget>.yaml; None when this checkout has no such entry."""
    try:
        return OmegaConf.to_container(compose_config([f"task={task}", f"budget={budget}"]).budget.tasks[task])
    except Exception:  # a budget or task this checkout no longer has (records from elsewhere)
        return None


def budget_label(section: Section) -> str:
    named = named_entry(section.task, section.budget)
    if named is None:
        return f"{section.budget} (no such budget entry in this checkout)"
    overridden: dict[str, set[str]] = {}
    for cell in section.cells:
        for _, record in cell.runs:
            entry = record.config.get("budget", {}).get("tasks", {}).get(section.task, {})
            for key, value in entry.items():
                if key in named and named[key] != value:
                    overridden.setdefault(key, set()).add(str(value))
    if not overridden:
        return section.budget
    shown = ", ".join(f"{k}={'/'.join(sorted(v))}" for k, v in sorted(overridden.items()))
    return f"{section.budget}, entries overridden: {shown}"
