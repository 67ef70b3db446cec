"""Scale-out: a joblib multirun and a submitit_local multirun of a small grid both write records that the
reporter merges (de-duplicated by config hash + seed), listing the cells still missing."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def multirun(launcher: str, out: Path, models: str, seeds: str, cwd: Path) -> None:
    command = [sys.executable, "-m", "benchmarks.run", "--multirun", f"hydra/launcher={launcher}",
               "task=binary_patterns_50", f"model={models}", f"seed={seeds}", "budget=smoke", f"out_dir={out}",
               "progress=false", f"hydra.sweep.dir={cwd / 'sweeps' / launcher}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PLASTICBENCH_JOBS": "2", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def test_joblib_and_submitit_local_records_merge_in_one_report(tmp_path):
    a, b = tmp_path / "machine_a", tmp_path / "machine_b"
    multirun("local", a, "plastic,plastic_shared", "0,1", tmp_path)
    multirun("submitit_local", b, "plastic_shared", "1", tmp_path)  # overlaps machine_a on one cell
    assert len(list(a.rglob("*.json"))) == 4 and len(list(b.rglob("*.json"))) == 1
    from benchmarks.report import main as report
    out = tmp_path / "report"
    assert report.main([str(a), str(b), "--out", str(out), "--readme", str(tmp_path / "none.md")]) == 0
    text = (out / "REPORT.md").read_text()
    assert "duplicate run (same config_hash and seed), ignored" in text
    assert "binary_patterns_50 / rnn, budget smoke: no record for seed(s) [0, 1]" in text
    assert "binary_patterns_50 / lstm, budget smoke: no record for seed(s) [0, 1]" in text
    assert "binary_patterns_50 / plastic," not in text.split("## Missing cells")[1]


def test_missing_cells_lists_a_grid_task_with_no_record_at_a_budget():
    """A budget half-way through its grid: the tasks not yet started are missing too, not only the started ones."""
    from types import SimpleNamespace

    from benchmarks.report.main import missing_cells
    records = [("r.json", SimpleNamespace(task="binary_patterns_50", model="plastic", budget="smoke", seed=0))]
    text = missing_cells(records, "reproduce")
    assert "binary_patterns_50 / plastic, budget smoke: no record for seed(s) [1]" in text
    assert "cue_reward / duan_rnn_hebbian, budget smoke: no record for seed(s) [0, 1]" in text
    assert "budget quick" not in text  # a budget with no record at all is not a grid in progress


def test_missing_cells_of_a_budget_follow_the_experiment_its_records_ran_under():
    """The pilot's records are checked against the pilot's grid (not the report's), records that do not say their
    experiment against the experiment whose budget it is (parity), and a task the budget does not run is not
    missing."""
    from types import SimpleNamespace

    from benchmarks.report.main import missing_cells
    pilot = {"experiment": {"name": "pilot"}}
    records = [("a.json", SimpleNamespace(task="omniglot", model="plastic_shared_head", budget="pilot", seed=0,
                                          config=pilot)),
               ("b.json", SimpleNamespace(task="binary_patterns_50", model="plastic", budget="parity", seed=0,
                                          config={}))]
    text = missing_cells(records, "reproduce")
    assert "omniglot / plastic_shared_head, budget pilot: no record for seed(s) [1, 2]" in text
    assert "omniglot / plastic_head, budget pilot: no record for seed(s) [0, 1, 2]" in text
    assert "image_memory / plastic, budget pilot: no record for seed(s) [0, 1, 2]" in text
    assert "maml, budget pilot" not in text and "budget pilot: cannot" not in text  # not in the pilot's grid
    assert "binary_patterns_50 / rnn, budget parity" not in text  # the parity grid runs the plastic model only
    assert "cue_reward / duan_rnn_hebbian_demo, budget parity" in text
    assert "cannot list" not in text and "pilot: `pilot`" in text and "parity: `parity`" in text
