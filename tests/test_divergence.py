"""A run whose loss becomes NaN/inf stops, is recorded as diverged with the episode, and the report shows it."""
from __future__ import annotations

import math

import torch

from benchmarks.harness.config import compose_config
from benchmarks.report import main as report
from benchmarks.run import run
from benchmarks.tasks.binary_patterns import BinaryPatterns


def test_nan_loss_stops_the_run_and_is_recorded_then_reported(tmp_path, monkeypatch):
    calls = {"n": 0}
    original = BinaryPatterns.loss

    def loss_turning_nan(self, outputs, episode):
        calls["n"] += 1
        value = original(self, outputs, episode)
        return value * torch.tensor(float("nan")) if calls["n"] == 3 else value

    monkeypatch.setattr(BinaryPatterns, "loss", loss_turning_nan)
    runs = tmp_path / "runs"
    record = run(compose_config(["task=binary_patterns_50", "model=plastic", "budget=smoke", "progress=false",
                                 f"out_dir={runs}"]))
    assert record.status == "diverged"
    batch = record.config["budget"]["tasks"]["binary_patterns_50"]["batch_size"]
    assert record.diverged_at == 3 * batch  # the third update's episodes
    assert record.optimizer_steps == 2 and record.episodes == 2 * batch
    assert math.isnan(record.final["bit_error"])
    assert report.main([str(runs), "--out", str(tmp_path / "out"), "--readme", str(tmp_path / "none.md")]) == 0
    text = (tmp_path / "out" / "REPORT.md").read_text()
    assert "diverged" in text and f"{3 * batch}" in text
