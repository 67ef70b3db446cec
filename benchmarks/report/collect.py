"""Read run records from one or more folders for the reporter, and sort them into report cells.

Nothing is dropped silently: unreadable or foreign JSON files, duplicates (same config_hash and seed), skipped
tasks, diverged runs, records without the metric and mixed configurations within one (task, model, budget)
are all returned with a reason, and the report lists them.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness.records import UNHASHED_KEYS, RunRecord, config_hash, load_record


@dataclass
class Loaded:
    records: list[tuple[str, RunRecord]] = field(default_factory=list)  # (path, record), first copy of each run
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (path, why it is not a record)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (ignored path, kept path): identical copies
    conflicts: list[tuple[str, str]] = field(default_factory=list)  # two copies of one run that disagree: neither used
    missing_dirs: list[str] = field(default_factory=list)


@dataclass
class Cell:
    """The runs of one (task, budget, model, config_hash): one table row."""

    task: str
    budget: str
    model: str
    config_hash: str
    label: str  # the model name, with the config hash when a model has several configs in one table
    runs: list[tuple[str, RunRecord]]  # usable runs, sorted by seed
    config: dict[str, Any]


@dataclass
class Section:
    """One (task, budget) table."""

    task: str
    budget: str
    metric: str
    lower_is_better: bool
    cells: list[Cell]
    excluded: list[tuple[str, str, str, str]] = field(default_factory=list)  # (model, seed, path, reason)
    notes: list[str] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)
    budget_label: str = ""  # the budget's name, plus the entries the records override (set by the report)


def load_dirs(dirs: list[str]) -> Loaded:
    """Every ``*.json`` under ``dirs`` (sorted), de-duplicated by (config_hash, seed): identical copies count once;
    copies that disagree (other final metrics, curves or status) are a conflict, and neither is used."""
    out = Loaded()
    seen: dict[tuple[str, int], tuple[str, RunRecord]] = {}
    conflicted: set[tuple[str, int]] = set()
    for folder in dirs:
        if not Path(folder).is_dir():
            out.missing_dirs.append(folder)
            continue
        for path in sorted(Path(folder).rglob("*.json")):
            try:
                record = load_record(path)
            except ValueError as err:
                out.invalid.append((str(path), str(err).removeprefix(f"{path}: ")))
                continue
            key = (record.config_hash, record.seed)
            if key in seen:
                kept_path, kept = seen[key]
                same = (kept.status, kept.final, kept.curves) == (record.status, record.final, record.curves)
                (out.duplicates if same else out.conflicts).append((str(path), kept_path))
                if not same:
                    conflicted.add(key)
                continue
            seen[key] = (str(path), record)
    out.records = [item for key, item in seen.items() if key not in conflicted]
    return out


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(config, dict):
        return {prefix: config}
    flat: dict[str, Any] = {}
    for key, value in config.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def config_differences(configs: list[dict[str, Any]]) -> list[str]:
    """Dotted keys whose values differ between configs (the seed and paths ignored)."""
    flats = [flatten(c) for c in configs]
    keys = sorted(set().union(*flats))
    return [k for k in keys if k.split(".")[0] not in UNHASHED_KEYS
            and len({json.dumps(f.get(k), sort_keys=True) for f in flats}) > 1]


def exclusion_reason(record: RunRecord, metric: str, bounds: Any = None) -> str | None:
    """Why a record cannot enter the final-metric statistics, or None when it can."""
    if record.status == "skipped":
        return f"skipped: {record.extra.get('reason', 'no reason recorded')}"
    if record.status == "diverged":
        return f"diverged at episode {record.diverged_at} (loss NaN/inf)"
    if record.status != "ok":
        return f"unknown status {record.status!r}"
    if record.primary_metric != metric:
        return f"primary metric {record.primary_metric!r} differs from the table's {metric!r}"
    value = record.final.get(metric) if isinstance(record.final, dict) else None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return f"final metric {metric!r} missing"
    if not math.isfinite(value):
        return f"final {metric} is {value} (NaN/inf) with status ok"
    if bounds is not None and not bounds[0] <= value <= bounds[1]:
        return f"final {metric} is {value}, outside the metric's range [{bounds[0]:g}, {bounds[1]:g}]: impossible"
    return inconsistent(record) or non_finite_curves(record)


def inconsistent(record: RunRecord) -> str | None:
    """A record whose fields contradict each other was edited, or merged from another harness: flagged, never
    pooled. Its config must hash to its config_hash and name the same task, model, budget, seed and episodes."""
    if config_hash(record.config) != record.config_hash:
        return "its config does not hash to its config_hash (edited after it was written?)"
    config = record.config
    said = {"task": (config.get("task") or {}).get("name"), "model": (config.get("model") or {}).get("name"),
            "budget": (config.get("budget") or {}).get("name"), "seed": config.get("seed")}
    for key, value in said.items():
        if value is not None and value != getattr(record, key):
            return f"its {key} {getattr(record, key)!r} contradicts its config's {value!r}"
    entry = ((config.get("budget") or {}).get("tasks") or {}).get(record.task) or {}
    if isinstance(entry, dict) and entry.get("episodes") not in (None, record.episodes):
        return (f"it trained {record.episodes} episodes but its budget {record.budget!r} entry says "
                f"{entry['episodes']}")
    return None


def non_finite_curves(record: RunRecord) -> str | None:
    """A record with status ok whose curves hold NaN/inf (edited, or written by a harness that did not stop on
    divergence) cannot be trusted: its curves would be plotted and its convergence timed on garbage."""
    bad = []
    for name, curves in (("training", record.curves), ("held-out", record.eval_curve)):
        for key, values in sorted((curves or {}).items()):
            count = sum(1 for v in values if not (isinstance(v, (int, float)) and math.isfinite(v)))
            if count:
                bad.append(f"{name} {key} ({count} of {len(values)} points)")
    return f"status ok but non-finite curve values: {', '.join(bad)}" if bad else None


def resume_parts(record: RunRecord) -> list[dict]:
    """The record's resumes (``extra.resumed``): a list, one entry per resume; records written before the list
    existed hold one dict, and only when the checkpoint's writer differed."""
    parts = record.extra.get("resumed")
    parts = [parts] if isinstance(parts, dict) else parts if isinstance(parts, list) else []
    return [part for part in parts if isinstance(part, dict)]


def data_copy_note(record: RunRecord) -> str | None:
    """What a record says about reading a data copy other than the reference one, or None."""
    extra = record.extra if isinstance(record.extra, dict) else {}
    if extra.get("data_matches_reference") is False:
        return "read a non-reference data copy (content digest differs from the official release's)"
    copy = extra.get("data_copy")
    if copy is not None and copy != "official":
        return f"read data copy {copy!r}, not the official files"
    return None


def _section_metric(records: list[RunRecord], expected: str | None) -> str:
    present = sorted({r.primary_metric for r in records if r.status == "ok"} or {r.primary_metric for r in records})
    return expected if expected in present or not present else present[0]


def build_sections(records: list[tuple[str, RunRecord]], published: dict[str, Any]) -> list[Section]:
    """Group records into (task, budget) sections of (model, config_hash) cells, sorted by name."""
    groups: dict[tuple[str, str], list[tuple[str, RunRecord]]] = defaultdict(list)
    for path, record in records:
        groups[(record.task, record.budget)].append((path, record))
    return [_section(task, budget, items, published.get(task, {})) for (task, budget), items in sorted(groups.items())]


def _section(task: str, budget: str, items: list[tuple[str, RunRecord]], spec: dict[str, Any]) -> Section:
    metric = _section_metric([r for _, r in items], spec.get("metric"))
    usable = [(p, r) for p, r in items if r.primary_metric == metric]
    lower = spec["lower_is_better"] if "lower_is_better" in spec else usable[0][1].lower_is_better if usable else True
    section = Section(task, budget, metric, lower, [], commits=sorted({r.git_commit for _, r in items}))
    if spec.get("metric") and spec["metric"] != metric:
        section.notes.append(f"published.yaml expects metric {spec['metric']!r} but the records report {metric!r}: "
                             "published claims are judged on the records' metric only where it matches")
    if any(r.lower_is_better != lower for _, r in usable):
        section.notes.append("records disagree with published.yaml on the metric's direction; published.yaml wins")
    cells: dict[tuple[str, str], list[tuple[str, RunRecord]]] = defaultdict(list)
    for path, record in sorted(items, key=lambda item: (item[1].model, item[1].seed, item[0])):
        reason = exclusion_reason(record, metric, spec.get("metric_range"))
        if reason:
            section.excluded.append((record.model, str(record.seed), path, reason))
        else:
            cells[(record.model, record.config_hash)].append((path, record))
    _add_cells(section, cells, spec.get("reference_model", "plastic"))
    return section


def _add_cells(section: Section, cells: dict[tuple[str, str], list[tuple[str, RunRecord]]], reference: str) -> None:
    """Rows: the reference (plastic) model first, then the others by name."""
    by_model: dict[str, list[str]] = defaultdict(list)
    for model, cfg_hash in sorted(cells, key=lambda key: (key[0] != reference, key)):
        by_model[model].append(cfg_hash)
    for model, hashes in by_model.items():
        labels = _sweep_labels(model, [cells[(model, h)][0][1].config for h in hashes], hashes, section.task)
        for cfg_hash, label in zip(hashes, labels):
            runs = cells[(model, cfg_hash)]
            section.cells.append(Cell(section.task, section.budget, model, cfg_hash, label, runs, runs[0][1].config))
            copies = defaultdict(list)
            for _, r in runs:
                note = data_copy_note(r)
                if note:
                    copies[note].append(r.seed)
            section.notes += [f"{label}: seed(s) {seeds} {note}" for note, seeds in sorted(copies.items())]
            mixed = [f"seed {r.seed} ({', '.join(sorted(keys))})" for _, r in runs
                     for keys in [{key for part in resume_parts(r) for key in part.get("differences") or {}}] if keys]
            if mixed:
                section.notes.append(f"{label}: resumed from a checkpoint written by other code, torch or device, so "
                                     f"one record holds two versions' training: {', '.join(mixed)}")
            digests = sorted({str(r.data_digest) for _, r in runs})
            if len(digests) > 1:
                section.notes.append(f"{label}: runs read different data (digests {', '.join(digests)})")
        if len(hashes) > 1:
            diff = config_differences([cells[(model, h)][0][1].config for h in hashes])
            section.notes.append(f"mixed configs for {model}: {len(hashes)} config hashes "
                                 f"({', '.join(h[:8] for h in hashes)}) {_differ_text(diff)}; shown as separate rows, "
                                 "never pooled")


def _differ_text(diff: list[str]) -> str:
    if diff:
        return f"differ in {', '.join(diff)}"
    return "have identical configs apart from seed and paths (hashes from another harness version?)"


def _short_key(key: str, task: str) -> str:
    return key.replace(f"budget.tasks.{task}.", "budget.")


def _sweep_labels(model: str, configs: list[dict[str, Any]], hashes: list[str], task: str) -> list[str]:
    """Row labels of one model's configs: the model name alone, or with the overrides that tell its configs
    apart (e.g. ``plastic [optim.lr=0.001]``); the config hash only when the configs do not differ."""
    if len(configs) == 1:
        return [model]
    diff = config_differences(configs)
    if not diff:
        return [f"{model} @{h[:8]}" for h in hashes]
    flats = [flatten(c) for c in configs]
    return [f"{model} [{', '.join(f'{_short_key(k, task)}={f.get(k)}' for k in diff)}]" for f in flats]
