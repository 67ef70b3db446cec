"""Resumable runs: a cell's training state saved every K episodes, atomically, and restored on re-run.

A checkpoint holds the model and optimizer states, every random state the run draws from (the training-episode
generator, torch's global generator, Python's ``random`` and numpy's global state, which learn2learn uses), and
the curves so far. Resuming from it gives exactly the record an uninterrupted run gives (on CPU).

Everything in it is plain data (tensors, numbers, strings, lists, dicts): it is loaded with torch's restricted
unpickler (``benchmarks.harness.safe_load``), so a file planted at a checkpoint's path cannot run code on resume.

It also holds the run's inputs (``benchmarks.harness.train.run_inputs``): a checkpoint whose config or data digest
differs from the resuming run's is refused (its half of the training saw other data or settings); one written by
other code, torch or device is used. The record's ``extra.resumed`` lists every resume of the run (from which
episode, when, and what differed from the checkpoint's writer), so a run that crossed a session boundary says so.
"""
from __future__ import annotations

import json
import random
from array import array
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.harness.atomic import atomic_torch_save, leftover_temps
from benchmarks.harness.safe_load import UnsafeFile, load_torch


class Points:
    """The training metrics of every optimizer update, stored column by column (``episode`` as int64, the metrics
    as float64): a 1,000,000-update run keeps 8 MB per metric, not a million dicts, and a checkpoint saves one
    tensor per column. ``benchmarks.harness.train.bin_curve`` bins them exactly as it bins a list of dicts."""

    def __init__(self) -> None:
        self.columns: dict[str, array] = {}

    def append(self, point: dict[str, float]) -> None:
        if not self.columns:
            self.columns = {key: array("q" if key == "episode" else "d") for key in point}
        elif point.keys() != self.columns.keys():
            raise ValueError(f"an update logged metrics {sorted(point)} where earlier updates logged "
                             f"{sorted(self.columns)}: a task's episode_loss must return the same metrics every update")
        for key, column in self.columns.items():
            column.append(point[key])

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def keys(self) -> list[str]:
        return list(self.columns)

    def sums(self, key: str, start: int, stop: int) -> float:
        """sum of ``key`` over updates [start, stop), added in order (as ``sum`` over the dicts did)."""
        return sum(self.columns[key][start:stop])

    def to_plain(self) -> dict[str, torch.Tensor]:
        """Plain data for a checkpoint (loaded by torch's restricted unpickler)."""
        return {key: torch.frombuffer(column, dtype=torch.int64 if column.typecode == "q" else torch.float64).clone()
                if len(column) else torch.zeros(0, dtype=torch.int64 if column.typecode == "q" else torch.float64)
                for key, column in self.columns.items()}

    @classmethod
    def from_plain(cls, data: Any) -> "Points":
        """A checkpoint's points: columns of tensors, or (checkpoints written before columns) a list of dicts."""
        points = cls()
        if isinstance(data, dict):
            for key, values in data.items():
                column = points.columns[key] = array("q" if key == "episode" else "d")
                column.frombytes(values.to(torch.int64 if key == "episode" else torch.float64).numpy().tobytes())
        else:
            for point in data:
                points.append(point)
        return points


@dataclass
class TrainState:
    seen: int = 0  # training episodes done
    points: Points = field(default_factory=Points)  # the metrics of each optimizer update
    eval_curve: dict[str, list[float]] = field(default_factory=dict)
    elapsed_s: float = 0.0  # wall time spent training so far, over every resumed part
    diverged_at: int | None = None
    # every resume of this run, oldest first: from which episode, when (UTC), what differed from the checkpoint's
    # writer (code, torch, device); the record's ``extra.resumed``, so a run that crossed sessions says so
    resumes: list[dict[str, Any]] = field(default_factory=list)

    def to_plain(self) -> dict[str, Any]:
        return {"seen": self.seen, "points": self.points.to_plain(), "eval_curve": self.eval_curve,
                "elapsed_s": self.elapsed_s, "diverged_at": self.diverged_at, "resumes": self.resumes}

    @classmethod
    def from_plain(cls, data: dict[str, Any]) -> "TrainState":
        """A checkpoint's state; one written before ``resumes`` existed has no earlier resume to list."""
        return cls(**{"resumes": [], **data, "points": Points.from_plain(data["points"])})


REFUSED_IF_DIFFERENT = ("config_hash", "data_digest")


class Checkpointer:
    def __init__(self, path: Path, every: int, inputs: dict[str, Any]) -> None:
        self.path, self.every, self.inputs = path, every, inputs
        self.resumed: dict[str, Any] | None = None  # set by restore: from which episode, when, what differed

    def due(self, seen: int, n: int) -> bool:
        return self.every > 0 and seen // self.every > (seen - n) // self.every

    def save(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, train_gen: torch.Generator,
             state: TrainState) -> None:
        payload = {
            "config_hash": self.inputs["config_hash"], "inputs": json.loads(json.dumps(self.inputs, default=str)), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "train_gen": train_gen.get_state(), "torch_rng": torch.get_rng_state(), "py_random": random.getstate(),
            "np_random": _numpy_state_out(), "state": state.to_plain(),
        }
        atomic_torch_save(payload, self.path)

    def restore(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                train_gen: torch.Generator) -> TrainState | None:
        """The saved state, loaded into model/optimizer/generators; None when there is no checkpoint."""
        self.remove_partial_writes()
        if self.every <= 0 or not self.path.exists():
            return None
        fix = f"delete {self.path} to train this cell from the start"
        try:
            payload: dict[str, Any] = load_torch(self.path)
        except UnsafeFile as err:
            raise ValueError(f"{err}; a checkpoint holds plain data only, so this one was not written by "
                             f"plasticbench: {fix}") from err
        except Exception as err:  # torch raises many types for truncated or foreign files
            raise ValueError(f"checkpoint {self.path} is corrupt or not a plasticbench checkpoint "
                             f"({short_reason(err)}); {fix}") from err
        if not isinstance(payload, dict) or payload.get("config_hash") != self.inputs["config_hash"]:
            raise ValueError(f"checkpoint {self.path} belongs to another config; {fix}")
        saved = payload.get("inputs", {"config_hash": payload["config_hash"]})
        differ = {key: {"checkpoint": saved.get(key), "now": value} for key, value in self.inputs.items()
                  if saved.get(key) != value}
        for key in REFUSED_IF_DIFFERENT:
            if key in differ:
                raise ValueError(f"checkpoint {self.path} was written with {key}={differ[key]['checkpoint']!r} but "
                                 f"this run has {differ[key]['now']!r}: resuming would mix two inputs in one record; "
                                 f"restore the original input, or {fix}")
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        train_gen.set_state(payload["train_gen"])
        torch.set_rng_state(payload["torch_rng"])
        random.setstate(payload["py_random"])
        _numpy_state_in(payload["np_random"])
        state = TrainState.from_plain(payload["state"])
        self.resumed = {"from_episode": state.seen,
                        "at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "differences": differ}
        state.resumes.append(self.resumed)
        return state

    def remove_partial_writes(self) -> None:
        """A run killed mid-save leaves its temporary file beside a whole checkpoint; the next run of the same
        cell, which owns this path, removes the leftovers."""
        for tmp in leftover_temps(self.path):
            tmp.unlink(missing_ok=True)

    def clear(self) -> None:
        self.remove_partial_writes()
        self.path.unlink(missing_ok=True)


def short_reason(err: Exception) -> str:
    """torch's load errors are paragraphs of advice; the line that says what is wrong, on one line."""
    noise = ("Weights only load failed", "Please file", "Check the documentation", "(1)", "(2)", "WeightsUnpickler")
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(noise)]
    return (useful or lines or [type(err).__name__])[0][:200]


def _numpy_state_out() -> dict[str, Any]:
    """numpy's global state as plain data (a tensor and numbers), so the checkpoint loads without unpickling code."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def _numpy_state_in(saved: dict[str, Any]) -> None:
    np.random.set_state((saved["kind"], saved["keys"].numpy().astype(np.uint32), saved["pos"], saved["has_gauss"],
                         saved["cached_gaussian"]))
