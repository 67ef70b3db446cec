"""`tox -e reproduce` re-trains: where a fresh grid goes, how an interrupted one resumes, and the re-run agreement
between fresh and published records (on hand-made records; the training subprocess is replaced)."""
from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from benchmarks import reproduce
from benchmarks.harness.records import write_record
from benchmarks.report import agreement
from tests.test_bad_inputs import ROOT, tree_snapshot
from tests.test_report import curve, make_record


def record(seed=0, final=0.1, **changes):
    base = make_record("binary_patterns_50", "plastic", seed, final, curve(0.3, 0.1, 100))
    base = dataclasses.replace(base, environment={"cpu": "AMD EPYC", "platform": "Linux", "numpy": "2.4.6"})
    return dataclasses.replace(base, **changes)


def test_identical_records_agree_bit_for_bit():
    row = agreement.agree(record(), record())
    assert row.status == "identical" and row.delta == 0.0 and row.differences == []


def test_a_small_difference_from_another_cpu_is_within_tolerance_and_named():
    fresh = record(final=0.1015, environment={"cpu": "Intel Xeon", "platform": "Linux", "numpy": "2.4.6"},
                   torch_version="2.15.0")
    row = agreement.agree(fresh, record())
    assert row.status == "within tolerance" and row.delta == pytest.approx(0.0015)
    assert "torch test → 2.15.0" in row.differences and "cpu AMD EPYC → Intel Xeon" in row.differences


def test_a_different_result_names_what_differs_between_the_records():
    fresh = record(final=0.2, git_commit="fedcba9", data_digest="sha256:aa", threads=2)
    row = agreement.agree(fresh, record())
    assert row.status == "differs" and row.delta == pytest.approx(0.1)
    assert {"commit 0123abc → fedcba9", "data digest None → sha256:aa", "threads 1 → 2"} <= set(row.differences)


def test_a_cell_without_a_published_record_is_new_and_a_failed_one_is_not_run():
    assert agreement.agree(record(), None).status == "new"
    skipped = record(status="skipped", final=None)
    assert agreement.agree(skipped, record()).status == "not run"


def test_compare_matches_config_hash_and_seed():
    fresh = [("a", record(0)), ("b", record(1, final=0.5)), ("c", record(2))]
    published = [("p0", record(0)), ("p1", record(1))]
    rows = agreement.compare(fresh, published)
    assert [r.status for r in rows] == ["identical", "differs", "new"]
    assert agreement.summary_line(rows) == "3 fresh cells: 1 identical, 1 differs, 1 new"


def test_fresh_folder_resumes_an_unfinished_one_and_starts_anew_after_a_finished_one(tmp_path, monkeypatch):
    monkeypatch.setattr(reproduce, "commit_tag", lambda: "abc123def456")
    first = reproduce.fresh_folder("reproduce", "quick", tmp_path)
    assert first.parent == tmp_path / "reproduce" / "quick" and first.name.endswith("-abc123def456")
    first.mkdir(parents=True)
    assert reproduce.fresh_folder("reproduce", "quick", tmp_path) == first  # interrupted: resumed
    (first / reproduce.COMPLETE).write_text("done")
    second = reproduce.fresh_folder("reproduce", "quick", tmp_path)
    assert second == first.with_name(first.name + "-2")  # finished: a new re-run beside it
    (tmp_path / "reproduce" / "quick" / "2026-01-01-abc123def456-dirty").mkdir()  # another tree state: not ours
    assert reproduce.fresh_folder("reproduce", "quick", tmp_path) == second


def test_reproduce_trains_into_a_fresh_folder_and_compares_with_the_published_records(tmp_path, monkeypatch,
                                                                                      capsys):
    """No --out-dir: every cell is launched into outputs/reproduce/..., results/ and README are untouched, the
    agreement table lands beside the fresh records; an interrupted grid resumes its folder."""
    published = tmp_path / "published"
    write_record(published, make_record("binary_patterns_50", "plastic", 0, 0.1, curve(0.3, 0.1, 100),
                                        budget="smoke"))
    monkeypatch.setattr(reproduce, "FRESH_ROOT", tmp_path / "outputs")
    monkeypatch.setattr(reproduce, "DEFAULT_OUT_DIR", str(published))
    monkeypatch.setattr(reproduce, "commit_tag", lambda: "abc123def456")
    launched: list[list[str]] = []
    interrupt = {"on": True}

    def fake_training(command, env=None):
        launched.append(command)
        out = Path(next(a for a in command if a.startswith("out_dir=")).split("=", 1)[1])
        models = next(a for a in command if a.startswith("model=")).split("=", 1)[1].split(",")
        seeds = next(a for a in command if a.startswith("seed=")).split("=", 1)[1].split(",")
        for model in models[:1] if interrupt["on"] else models:
            for seed in seeds:
                write_record(out, make_record("binary_patterns_50", model, int(seed), 0.1, curve(0.3, 0.1, 100),
                                              budget="smoke"))
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(reproduce.subprocess, "run", fake_training)
    readme_before, results_before = (ROOT / "README.md").read_bytes(), tree_snapshot(ROOT / "results")
    args = ["--tasks", "binary_patterns_50", "--budget", "smoke", "--jobs", "1"]
    assert reproduce.main(args) == 1  # interrupted: cells without a record
    folders = list((tmp_path / "outputs" / "reproduce" / "smoke").iterdir())
    assert len(folders) == 1 and not (folders[0] / reproduce.COMPLETE).exists()
    interrupt["on"] = False
    launched.clear()
    reproduce.main(args)
    assert list((tmp_path / "outputs" / "reproduce" / "smoke").iterdir()) == folders  # resumed, not restarted
    assert all(f"out_dir={folders[0]}" in cmd for cmd in launched)
    text = (folders[0] / "agreement.md").read_text()
    assert "| smoke | binary_patterns_50 | plastic | 0 | 0.1 | 0.1 | 0 | identical |" in text
    assert "[agreement]" in capsys.readouterr().err and (folders[0] / "report" / "REPORT.md").is_file()
    assert (ROOT / "README.md").read_bytes() == readme_before and tree_snapshot(ROOT / "results") == results_before


def test_publish_and_out_dir_are_exclusive(capsys):
    with pytest.raises(SystemExit) as exit_info:
        reproduce.main(["--publish", "--out-dir", "x", "--tasks", "binary_patterns_50", "--budget", "smoke"])
    assert exit_info.value.code == 2 and "not both" in capsys.readouterr().err
