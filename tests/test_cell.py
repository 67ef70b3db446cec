"""The cell a config resolves into (benchmarks.harness.config.resolve_cell): resolved once, its hash computed
once per run, and its names, paths and seeds the ones the record carries."""
from __future__ import annotations

import dataclasses
import sys

import pytest

from benchmarks.harness import records
from benchmarks.harness.config import compose_config, resolve_cell
from benchmarks.harness.seeding import run_streams
from benchmarks.run import run

SMOKE = ["task=binary_patterns_50", "model=plastic", "budget=smoke", "progress=false"]


def test_the_cell_holds_what_the_record_carries(tmp_path):
    cfg = compose_config([*SMOKE, "seed=1", f"out_dir={tmp_path}", f"log_dir={tmp_path / 'logs'}"])
    cell = resolve_cell(cfg)
    record = run(cfg)
    assert (cell.task, cell.model, cell.budget, cell.seed) == (record.task, record.model, record.budget, 1)
    assert cell.config == record.config and cell.config_hash == record.config_hash
    assert cell.streams == record.seeds == run_streams("binary_patterns_50", "plastic", 1)
    assert cell.budget_entry == record.config["budget"]["tasks"]["binary_patterns_50"]
    assert cell.record_path == records.record_path(tmp_path, "binary_patterns_50", "plastic", "smoke", 1,
                                                   record.config_hash)
    assert cell.record_path.is_file() and cell.lr == record.extra["lr"]
    assert cell.checkpoint_path == tmp_path / ".checkpoints" / cell.record_path.relative_to(tmp_path).with_suffix(".pt")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cell.seed = 2


def test_the_config_hash_is_computed_once_per_run(tmp_path, monkeypatch):
    calls = []
    real = records.config_hash
    for module in [m for name, m in sys.modules.items() if name.startswith("benchmarks")]:
        if getattr(module, "config_hash", None) is real:  # wherever a module holds it, calls are counted
            monkeypatch.setattr(module, "config_hash", lambda c: calls.append(1) or real(c))
    record = run(compose_config([*SMOKE, f"out_dir={tmp_path}", f"log_dir={tmp_path / 'logs'}",
                                 "checkpoint_every=4"]))
    assert record.status == "ok" and len(calls) == 1


def test_an_invalid_config_is_refused_when_the_cell_is_resolved(tmp_path):
    with pytest.raises(ValueError, match="seed=-1"):
        resolve_cell(compose_config([*SMOKE, "seed=-1", f"out_dir={tmp_path}"]))


def test_a_record_made_with_other_random_streams_is_stale_and_redone(tmp_path):
    """The config hash names what the config decides; the evaluation pool's stream is the harness's. A record
    whose streams differ from the cell's (an older harness, same hash) is not current: skip_existing redoes it."""
    from benchmarks.reproduce import finished
    cfg = compose_config([*SMOKE, f"out_dir={tmp_path}", f"log_dir={tmp_path / 'logs'}", "skip_existing=true"])
    cell = resolve_cell(cfg)
    first = run(cfg)
    assert records.current_record(cell) == first and finished(cell)
    stale = dataclasses.replace(first, seeds={**first.seeds, "eval": first.seeds["eval"] + 1})
    records.write_record(tmp_path, stale)
    assert records.current_record(cell) is None and not finished(cell)
    again = run(cfg)
    assert again.seeds == cell.streams and records.load_record(cell.record_path).seeds == cell.streams
