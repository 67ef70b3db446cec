"""Independent random streams, derived from names so that adding a task or model never shifts another's seeds.

Streams (each a numpy SeedSequence spawn key of stable CRC32 hashes):
- ``init``:  (task, model, seed)  -> parameter initialisation
- ``train``: (task, seed)         -> training episodes; the same for every model (common random numbers)
- ``eval``:  (task, seed)         -> the held-out evaluation pool: the same for every model of a seed (paired
  comparisons), a different pool for every seed (so the seeds' scores pool over distinct test episodes)
- ``bootstrap`` for the reporter: (task, model)
"""
from __future__ import annotations

import zlib

import numpy as np
import torch

ROOT_ENTROPY = 20180411  # fixed project-wide root; changing it changes every stream


def _key(*parts: str | int) -> tuple[int, ...]:
    return tuple(p if isinstance(p, int) else zlib.crc32(p.encode()) for p in parts)


def stream_seed(*parts: str | int) -> int:
    """A 63-bit seed for the stream named by ``parts``."""
    state = np.random.SeedSequence(ROOT_ENTROPY, spawn_key=_key(*parts)).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


def torch_generator(*parts: str | int) -> torch.Generator:
    return torch.Generator().manual_seed(stream_seed(*parts))


def numpy_generator(*parts: str | int) -> np.random.Generator:
    return np.random.default_rng(stream_seed(*parts))


def run_streams(task: str, model: str, seed: int) -> dict[str, int]:
    """The seeds a run uses, recorded in its record."""
    return {"init": stream_seed("init", task, model, seed), "train": stream_seed("train", task, seed),
            "eval": stream_seed("eval", task, seed)}
