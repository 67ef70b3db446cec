"""The harness's own speed paths for long batch-1 runs, each tested equal to its plain reference: compiled training
(``compile=true``: values and gradients), the per-update metrics kept as columns (the record's curve and a resumed
checkpoint), the memory probe and the training log thinned (``memory_every``, ``logger.every``)."""
from __future__ import annotations

import csv
import math
import random

import pytest
import torch
from torch._dynamo.utils import counters

from benchmarks.harness.checkpoint import Checkpointer, Points, TrainState
from benchmarks.harness.config import compose_config, resolve_cell
from benchmarks.harness.train import bin_curve, build_task, training_loss
from benchmarks.run import run
from tests.test_contract import comparable

SMOKE_50 = ["task=binary_patterns_50", "model=plastic", "budget=smoke", "progress=false"]


def reference_bin_curve(points: list[dict[str, float]], max_points: int) -> dict[str, list[float]]:
    """The record's curve as the harness computed it from one dict per update before the columns existed."""
    if not points:
        return {}
    size = max(1, math.ceil(len(points) / max_points))
    curve: dict[str, list[float]] = {key: [] for key in points[0]}
    for start in range(0, len(points), size):
        chunk = points[start: start + size]
        for key in curve:
            curve[key].append(chunk[-1][key] if key == "episode" else sum(p[key] for p in chunk) / len(chunk))
    return curve


@pytest.mark.parametrize("updates, max_points", [(0, 5), (1, 5), (7, 3), (1000, 2000), (4999, 2000), (12345, 100)])
def test_columns_bin_exactly_as_the_dicts_did(updates, max_points):
    rng = random.Random(updates)
    dicts = [{"episode": 3 * (i + 1), "loss": rng.uniform(-1e3, 1e3) * rng.choice([1e-9, 1.0, 1e6]),
              "accuracy": rng.random()} for i in range(updates)]
    points = Points()
    for point in dicts:
        points.append(point)
    assert len(points) == updates
    ours, reference = bin_curve(points, max_points), reference_bin_curve(dicts, max_points)
    assert ours == reference  # bit for bit, episodes as ints
    assert all(type(e) is int for e in ours.get("episode", []))


def test_columns_survive_a_checkpoint_and_old_checkpoints_of_dicts_still_load(tmp_path):
    points = Points()
    for i in range(50):
        points.append({"episode": i + 1, "loss": 1.0 / (i + 1), "accuracy": 0.5})
    state = TrainState(seen=50, points=points, eval_curve={"episode": [50], "loss": [0.1]}, elapsed_s=2.5)
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.Adam(model.parameters())
    inputs = {"config_hash": "h", "data_digest": None}
    ckpt = Checkpointer(tmp_path / "ck.pt", 10, inputs)
    ckpt.save(model, optimizer, torch.Generator(), state)
    restored = Checkpointer(tmp_path / "ck.pt", 10, inputs).restore(model, optimizer, torch.Generator())
    assert restored.seen == 50 and restored.elapsed_s == 2.5 and restored.eval_curve == state.eval_curve
    assert bin_curve(restored.points, 7) == bin_curve(points, 7)
    legacy = TrainState.from_plain({"seen": 2, "points": [{"episode": 1, "loss": 0.5}, {"episode": 2, "loss": 0.25}],
                                    "eval_curve": {}, "elapsed_s": 0.0, "diverged_at": None})
    assert bin_curve(legacy.points, 10) == {"episode": [1, 2], "loss": [0.5, 0.25]}


def test_an_update_with_other_metrics_is_refused():
    points = Points()
    points.append({"episode": 1, "loss": 0.5})
    with pytest.raises(ValueError, match="same metrics every update"):
        points.append({"episode": 2, "loss": 0.5, "accuracy": 1.0})


def _loss_and_grads(cfg, compiled: bool, batch_size: int):
    cell = resolve_cell(cfg)
    task = build_task(cell.config["task"], cell.config["data_dir"])
    torch.manual_seed(cell.streams["init"])
    model = task.build_model(cell.config["model"])
    generator = torch.Generator().manual_seed(7)
    results, graphs = [], []
    for _ in range(3):  # three episodes: the compiled function's later calls reuse its graphs (no recompile per value)
        loss, metrics = training_loss(task, compiled)(model, task.sample(batch_size, generator))
        grads = torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad])
        results.append((loss.detach(), metrics, grads))
        graphs.append(counters["stats"]["unique_graphs"])
    if compiled:
        assert graphs[0] == graphs[-1], f"compiled again on later episodes: {graphs} graphs"
    return results


@pytest.mark.parametrize("overrides, batch_size", [
    (["task=binary_patterns_50", "model=plastic"], 1),
    (["task=image_memory", "model=plastic_shared", "budget=pilot"], 1),  # its fast path runs eager inside
    (["task=omniglot", "model=plastic_shared_head", "budget=pilot"], 1),  # the pilot's batch-1 cell
])
def test_compiled_training_loss_equals_the_plain_one_in_values_and_gradients(overrides, batch_size):
    cfg = compose_config(overrides)
    try:
        plain = _loss_and_grads(cfg, False, batch_size)
    except Exception as err:  # noqa: BLE001 - the task's data may be absent
        if type(err).__name__ == "DataUnavailable":
            pytest.skip(f"{overrides[0]}: {err}")
        raise
    compiled = _loss_and_grads(cfg, True, batch_size)
    for (loss, metrics, grads), (c_loss, c_metrics, c_grads) in zip(plain, compiled):
        torch.testing.assert_close(c_loss, loss, rtol=1e-5, atol=1e-6)
        assert c_metrics.keys() == metrics.keys()
        for key in metrics:
            assert c_metrics[key] == pytest.approx(metrics[key], rel=1e-5, abs=1e-6)
        assert len(c_grads) == len(grads)
        for c_grad, grad in zip(c_grads, grads):
            torch.testing.assert_close(c_grad, grad, rtol=1e-4, atol=1e-6)
            assert grad.abs().max() > 0 or c_grad.abs().max() == 0


def test_a_compiled_run_gives_the_plain_record_up_to_rounding(tmp_path):
    plain = run(compose_config(SMOKE_50 + [f"out_dir={tmp_path / 'a'}"]))
    fast = run(compose_config(SMOKE_50 + [f"out_dir={tmp_path / 'b'}", "compile=true", "memory_every=3"]))
    assert fast.config_hash == plain.config_hash  # a run setting, not another cell
    assert fast.config["compile"] is True and plain.config["compile"] is False
    assert fast.curves["episode"] == plain.curves["episode"]
    for key in plain.curves:
        assert fast.curves[key] == pytest.approx(plain.curves[key], rel=1e-4, abs=1e-6)
    for key, value in plain.final.items():
        assert fast.final[key] == pytest.approx(value, rel=1e-4, abs=1e-6)
    memory = fast.extra["memory"]
    assert memory["measured_every"] == 3 and memory["updates_run"] == fast.optimizer_steps
    assert memory["updates"] == 2 + len(range(3, fast.optimizer_steps, 3))


def test_memory_every_and_logger_every_change_no_result(tmp_path):
    plain = run(compose_config(SMOKE_50 + [f"out_dir={tmp_path / 'a'}", f"log_dir={tmp_path / 'la'}"]))
    thin = run(compose_config(SMOKE_50 + [f"out_dir={tmp_path / 'b'}", f"log_dir={tmp_path / 'lb'}",
                                          "memory_every=4", "logger.every=5"]))
    drop = lambda record: {k: v for k, v in comparable(record).items() if k != "config"}  # noqa: E731
    assert drop(thin) == drop(plain)
    assert thin.config_hash == plain.config_hash

    def train_episodes(folder):
        with (folder / "metrics.csv").open() as handle:
            return sorted({int(row["episode"]) for row in csv.DictReader(handle) if row["split"] == "train"})

    every = train_episodes(tmp_path / "la")
    assert len(every) == plain.optimizer_steps
    assert train_episodes(tmp_path / "lb") == every[::5]  # the first update, then every fifth


@pytest.mark.parametrize("key", ["memory_every=0", "logger.every=0"])
def test_thinning_settings_below_one_are_refused(key):
    from benchmarks.harness.config.checks import validate
    with pytest.raises(ValueError, match=key.split("=")[0].replace(".", r"\.") + "=0 must be >= 1"):
        validate(compose_config(SMOKE_50 + [key]))
