"""Resumability: a run killed at a random point and re-run gives exactly the uninterrupted record (CPU)."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from benchmarks.harness.config import compose_config, resolve_cell
from benchmarks.run import run
from tests.test_contract import comparable

ROOT = Path(__file__).resolve().parents[1]
OVERRIDES = ["task=binary_patterns_50", "model=rnn", "budget=smoke", "budget.tasks.binary_patterns_50.episodes=160",
             "budget.tasks.binary_patterns_50.eval_every=32", "checkpoint_every=8", "progress=false"]


def test_killed_run_resumes_to_the_identical_record(tmp_path):
    uninterrupted = run(compose_config(OVERRIDES + [f"out_dir={tmp_path / 'a'}"]))
    out = tmp_path / "b"
    cfg = compose_config(OVERRIDES + [f"out_dir={out}"])
    ckpt = resolve_cell(cfg).checkpoint_path
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.run", *OVERRIDES, f"out_dir={out}"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(random.uniform(0.0, 0.3))  # a random point after the first checkpoint
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ckpt.exists(), "the run never wrote a checkpoint"
    assert not list(out.rglob("*.json")), "the run finished before it was killed: make it longer"
    assert torch.load(ckpt, weights_only=False)["state"]["seen"] > 0, "the checkpoint is whole even if killed mid-save"
    seen = torch.load(ckpt, weights_only=False)["state"]["seen"]
    resumed = run(cfg)
    parts = resumed.extra.pop("resumed")  # the one field an interrupted run adds: where it resumed
    assert [(p["from_episode"], p["differences"]) for p in parts] == [(seen, {})] and parts[0]["at"].endswith("Z")
    assert "resumed" not in uninterrupted.extra
    assert comparable(resumed) == comparable(uninterrupted)
    assert not ckpt.exists(), "the checkpoint is removed once the record is written"
    assert not list(out.rglob("*.tmp")), "a temporary file of a killed save outlived the resumed run"


def test_resumed_run_removes_a_killed_save_s_temporary_file(tmp_path):
    cfg = compose_config(OVERRIDES + [f"out_dir={tmp_path}"])
    ckpt = resolve_cell(cfg).checkpoint_path
    ckpt.parent.mkdir(parents=True)
    partial = ckpt.parent / f".{ckpt.name}.abc123.tmp"
    partial.write_bytes(b"PK\x03\x04half")
    other = ckpt.parent / ".another-cell.pt.abc123.tmp"  # another cell's file: not this run's to remove
    other.write_bytes(b"x")
    run(cfg)
    assert not partial.exists()
    assert other.exists()


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", b"PK\x03\x04truncated"])
def test_corrupt_checkpoint_is_refused_by_path(tmp_path, content):
    cfg = compose_config(OVERRIDES + [f"out_dir={tmp_path}"])
    ckpt = resolve_cell(cfg).checkpoint_path
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(content)
    with pytest.raises(ValueError, match=f"checkpoint {ckpt} is corrupt.*delete"):
        run(cfg)


def test_checkpoint_of_another_config_is_refused(tmp_path):
    import torch
    cfg = compose_config(OVERRIDES + [f"out_dir={tmp_path}"])
    ckpt = resolve_cell(cfg).checkpoint_path
    ckpt.parent.mkdir(parents=True)
    torch.save({"config_hash": "0" * 64}, ckpt)
    with pytest.raises(ValueError, match="belongs to another config"):
        run(cfg)


def test_every_resume_is_listed_in_the_record(tmp_path):
    """A run resumed twice (two session boundaries) lists both resumes, oldest first, each with its episode; one
    whose checkpoint predates the list (no ``resumes`` in its state) starts the list at its own resume."""
    from benchmarks.harness.checkpoint import Checkpointer, TrainState
    inputs = {"config_hash": "c" * 64, "data_digest": None, "git_commit": "abc"}
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.Adam(model.parameters())
    path = tmp_path / "ck.pt"
    first = Checkpointer(path, 4, inputs)
    first.save(model, optimizer, torch.Generator(), TrainState(seen=4))
    state = Checkpointer(path, 4, {**inputs, "git_commit": "def"}).restore(model, optimizer, torch.Generator())
    state.seen = 8
    first.save(model, optimizer, torch.Generator(), state)
    again = Checkpointer(path, 4, {**inputs, "git_commit": "def"}).restore(model, optimizer, torch.Generator())
    assert [p["from_episode"] for p in again.resumes] == [4, 8]
    assert again.resumes[0]["differences"] == {"git_commit": {"checkpoint": "abc", "now": "def"}}
    legacy = TrainState.from_plain({"seen": 3, "points": [], "eval_curve": {}, "elapsed_s": 1.0, "diverged_at": None})
    assert legacy.resumes == []
