"""benchmarks/perf/main.py runs and writes well-formed results. Never a timing assertion: benchmarks are not tests."""
import json

import torch

from benchmarks.perf import main as perf, worker as perf_worker
from benchmarks.perf.counts import op_bytes, profile_counts
from benchmarks.perf.report import TARGETS, evaluate_targets


def test_perf_runs_a_tiny_selection_and_writes_json_and_markdown(tmp_path):
    report = perf.main(["--quick", "--only", "binary50/plastic/fast/b4", "--out", str(tmp_path)])
    written = json.loads((tmp_path / "perf.json").read_text())
    assert written == json.loads(json.dumps(report))
    assert {"machine", "settings", "rows", "targets"} <= written.keys()
    assert written["machine"]["threads"] == 1 and written["machine"]["matmul_gflop_per_s"] > 0
    assert written["settings"]["repeats"] == 1  # --quick: one pass
    rows = {r["name"]: r for r in written["rows"]}
    assert set(rows) == {"binary50/plastic/plain/b4", "binary50/plastic/fast/b4"}  # the compared row comes too
    for row in rows.values():
        assert row["status"] == "ok", row
        assert row["episodes_per_s"] > 0 and row["peak_rss_mb"] >= row["base_rss_mb"] > 0
        assert row["threads"] == 1 and row["model_config"]["impl"] in ("plain", "fast")
        assert row["core"]["gflop"] > 0 and row["core"]["gbytes"] > 0
        ops = row["core"]["top_ops"]
        assert 0 < len(ops) <= 8 and 0 < sum(o["share"] for o in ops) <= 1.0 + 1e-9
        assert [o["self_ms"] for o in ops] == sorted((o["self_ms"] for o in ops), reverse=True)
    fast = rows["binary50/plastic/fast/b4"]
    assert fast["ratio"] == fast["episodes_per_s"] / rows["binary50/plastic/plain/b4"]["episodes_per_s"]
    assert len(written["targets"]) == len(TARGETS)
    markdown = (tmp_path / "perf.md").read_text()
    assert "binary50/plastic/fast/b4" in markdown and "## Where the core step's time goes" in markdown


def test_a_row_without_its_task_is_not_available(tmp_path):
    spec = {"task": "no_such_task", "model": "plastic", "batch": 1, "overrides": []}
    perf_worker.main([json.dumps(spec), str(tmp_path / "r.json")])
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["status"] == "not available" and "no_such_task" in result["reason"]


def test_only_selects_rows_and_rejects_unknown_names():
    names = [r.name for r in perf.select(perf.ROWS, ["binary/plastic/fast/b16"])]
    assert names == ["binary/plastic/plain/b1", "binary/plastic/fast/b16"]
    try:
        perf.select(perf.ROWS, ["nothing-like-this"])
    except SystemExit as err:
        assert "matches no row" in str(err)
    else:
        raise AssertionError("an unknown --only must stop the run")


def test_repeats_pool_windows_and_keep_the_largest_peak():
    runs = [{"status": "ok", "batch": 2, "episodes_per_s": 1.0, "window_episodes_per_s": [1.0, 3.0],
             "peak_rss_mb": 900.0, "base_rss_mb": 500.0, "core": {"s": 2.0, "gflop": 4.0, "gbytes": 8.0}},
            {"status": "ok", "batch": 2, "episodes_per_s": 5.0, "window_episodes_per_s": [4.0, 5.0],
             "peak_rss_mb": 800.0, "base_rss_mb": 600.0, "core": {"s": 4.0, "gflop": 4.0, "gbytes": 8.0}}]
    merged = perf.merge_runs(runs)
    assert merged["episodes_per_s"] == 3.5 and merged["s_per_update"] == 2 / 3.5 and merged["repeats"] == 2
    assert merged["peak_rss_mb"] == 900.0 and merged["core"]["s"] == 3.0 and merged["core"]["gflop_per_s"] == 4 / 3
    assert perf.merge_runs([runs[0], {"status": "failed", "reason": "x"}])["status"] == "failed"


def test_targets_are_met_missed_or_not_measured():
    rows = [{"name": "binary/plastic/plain/b1", "status": "ok", "episodes_per_s": 1.0, "peak_rss_mb": 3000},
            {"name": "binary/plastic/fast/b1", "status": "ok", "episodes_per_s": 6.0, "peak_rss_mb": 900},
            {"name": "binary/plastic/fast/b16", "status": "ok", "episodes_per_s": 12.0, "peak_rss_mb": 2000}]
    checked = {t["target"]: t for t in evaluate_targets(rows)}
    assert checked["1000-bit, plastic, batch 1: fast >= 5x plain"]["met"] is True
    best = checked["1000-bit, plastic, best batch: >= 20x plain batch 1"]
    assert best["met"] is False and best["value"] == 12.0 and best["row"] == "binary/plastic/fast/b16"
    assert checked["1000-bit, plastic, batch 1: peak RSS <= 1 GB"]["met"] is True
    assert checked["Omniglot plastic, quick batch: >= 300 episodes/s"]["met"] is None


def test_byte_and_flop_counts():
    assert op_bytes("aten::mm", [[2, 3], [3, 5]]) == 4 * (6 + 15 + 10)
    assert op_bytes("aten::mul", [[4, 4], [4, 4]]) == 4 * 48
    assert op_bytes("aten::sum", [[4, 4], [], [], []]) == 4 * 16
    assert op_bytes("aten::transpose", [[4, 4], [], []]) == 0
    a, b = torch.randn(64, 32, requires_grad=True), torch.randn(32, 16)
    counts = profile_counts(lambda: (a @ b).sum().backward())
    assert counts["flop"] == 2 * (2 * 64 * 32 * 16)  # forward and the gradient w.r.t. a


def test_a_loop_row_times_the_harness_training_loop_with_its_run_settings(monkeypatch):
    from benchmarks.harness import train as harness_train
    calls = []
    real = harness_train.train

    def counting(cell, *args):
        calls.append(cell)
        return real(cell, *args)

    monkeypatch.setattr(harness_train, "train", counting)
    spec = {"task": "binary_patterns_50", "model": "rnn", "batch": 1, "budget": "smoke", "loop": True,
            "overrides": ["memory_every=3", "logger.every=2"], "threads": 1, "device": "cpu", "warmup": 1,
            "windows": 2, "min_window_s": 0.05}
    result = perf_worker.run_row(spec)
    assert result["status"] == "ok" and result["episodes_per_s"] > 0
    assert len(calls) >= 3  # warm-up and both windows went through the loop, one update per call
    assert all(c.budget_entry["episodes"] == 1 and c.budget_entry["eval_every"] == 0 for c in calls)
    assert calls[0].config["memory_every"] == 3 and calls[0].config["logger"]["every"] == 2
    assert calls[0].budget == "smoke"


def test_the_pilot_loop_rows_compare_todays_settings_with_the_fast_ones():
    rows = {r.name: r for r in perf.ROWS}
    for fast in ("omniglot/plastic_shared_head/loop_fast/b1", "omniglot/plastic_head/loop_fast/b1",
                 "image/plastic_shared/loop_thin/b1"):
        row, base = rows[fast], rows[rows[fast].vs]
        assert row.loop and base.loop and row.budget == base.budget == "pilot" and row.batch == base.batch == 1
        assert (row.task, row.model) == (base.task, base.model) and base.overrides == ()
        assert "memory_every=100" in row.overrides and "logger.every=100" in row.overrides


def _row_spec(name: str) -> dict:
    from dataclasses import asdict
    row = next(r for r in perf.ROWS if r.name == name)
    return {**asdict(row), "threads": 1, "device": "cpu", "warmup": 1, "windows": 1, "min_window_s": 0.0}


def test_without_the_images_a_cifar_row_stands_in_for_them_only(tmp_path, monkeypatch):
    """A CIFAR row on a machine without the data (a GPU box, say) times the row's own model, optimizer and run
    settings on stand-in images of the same shapes. It once composed a config without its task instead, which
    took the default task's model, and the pilot budget, which has no entry for that task, refused it."""
    from benchmarks.data import DataUnavailable
    import pytest

    monkeypatch.setenv("PLASTICBENCH_DATA", str(tmp_path))  # an empty data folder
    for name in ("image/plastic_shared/loop_thin/b1", "image/plastic/fast/b1", "image/plastic/plain/b1"):
        spec = _row_spec(name)
        task, model, _, cfg, model_cfg, note = perf_worker.build(spec)
        assert isinstance(task, perf_worker.SyntheticImages) and note.startswith("synthetic stand-in"), name
        assert cfg.task.name == "image_memory" and cfg.budget.name == spec["budget"], name
        with_data = perf_worker.resolve_cell(perf_worker.compose_config(
            [f"task={spec['task']}", f"model={spec['model']}", f"budget={spec['budget']}", "progress=false",
             *spec["overrides"]])).config["model"]
        assert model_cfg == with_data, name  # the model the row would time with the data
        assert model_cfg["coupling"] == "clamp" and model.n_neurons == 1025, name
        batch = task.sample(spec["batch"], torch.Generator().manual_seed(0))
        assert batch.inputs.shape == (201, spec["batch"], 1024)
    result = perf_worker.run_row(_row_spec("image/plastic_shared/loop_thin/b1"))
    assert result["status"] == "ok" and result["note"].startswith("synthetic stand-in")
    with pytest.raises(DataUnavailable):  # a row without the fallback is not timed on stand-ins
        perf_worker.build({**_row_spec("omniglot/plastic/b8")})


def test_a_failed_row_is_reported_without_a_core_step(tmp_path):
    """A row whose worker failed keeps its settings and its reason; its flag asking for a core step is not read
    as a timed one (which once stopped the whole run after every row had been timed)."""
    row = next(r for r in perf.ROWS if r.core)
    failed = perf.result_row(row, perf.merge_runs([{"status": "failed", "reason": "exit code 1: boom"}]))
    assert failed["core_step"] is True and "core" not in failed and failed["status"] == "failed"
    ok = perf.result_row(row, {"status": "ok", "batch": 1, "episodes_per_s": 2.0, "s_per_update": 0.5,
                               "peak_rss_mb": 1.0, "base_rss_mb": 1.0,
                               "core": {"s": 1.0, "gflop": 1.0, "gbytes": 1.0, "gflop_per_s": 1.0,
                                        "gbytes_per_s": 1.0}})
    perf._add_roofline([failed, ok], {"read_gbytes_per_s": 10.0, "copy_gbytes_per_s": 5.0,
                                      "matmul_gflop_per_s": 100.0})
    assert ok["core"]["bound"] == "memory" and "core" not in failed
