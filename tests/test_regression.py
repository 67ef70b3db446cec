"""Regression tier: train small models and hold their held-out metric to tests/thresholds.yaml."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from benchmarks.harness.config import compose_config
from benchmarks.run import run

THRESHOLDS = yaml.safe_load((Path(__file__).parent / "thresholds.yaml").read_text())
CASES = [(task, model, budget, seed, bound)
         for task, models in THRESHOLDS.items()
         for model, budgets in models.items()
         for budget, bound in budgets.items()
         for seed in bound["seeds"]]


def test_thresholds_file_is_well_formed():
    for task, model, budget, seed, bound in CASES:
        assert ("max" in bound) != ("min" in bound), f"{task}/{model}/{budget}: give exactly one of max/min"
        assert "measured" in bound, f"{task}/{model}/{budget}: say what the threshold was set from"


@pytest.mark.regression
@pytest.mark.parametrize("task, model, budget, seed, bound", CASES,
                         ids=[f"{t}-{m}-{b}-seed{s}" for t, m, b, s, _ in CASES])
def test_threshold(task, model, budget, seed, bound, tmp_path):
    cfg = compose_config([f"task={task}", f"model={model}", f"budget={budget}", f"seed={seed}",
                          f"out_dir={tmp_path}", "progress=false", *bound.get("overrides", [])])
    record = run(cfg)
    if record.status == "skipped":
        pytest.skip(f"{task}: {record.extra.get('reason')}")
    assert record.status == "ok", f"run {record.status} at episode {record.diverged_at}"
    value = record.final[record.primary_metric]
    assert math.isfinite(value)
    if "max" in bound:
        assert value <= bound["max"], f"{record.primary_metric} {value:.4f} above threshold {bound['max']}"
    else:
        assert value >= bound["min"], f"{record.primary_metric} {value:.4f} below threshold {bound['min']}"
