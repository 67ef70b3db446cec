"""Files the harness reads are written by someone else (results folders are shared and merged): reading one never
runs its code, and a cache holds what its digest says, or is rebuilt."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.data import cifar10, omniglot
from benchmarks.data.archive import DataCorrupt
from benchmarks.harness.config import compose_config, resolve_cell
from benchmarks.harness.safe_load import UnsafeFile, load_data_pickle, load_torch
from benchmarks.run import run
from tests.test_omniglot_data import SMALL, write_part
from tests.test_resume import OVERRIDES


class Payload:
    """A pickle that, when loaded by plain pickle, creates the marker file: the code an attacker would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


@pytest.mark.parametrize("wrap", ["bare", "in_a_dict", "in_a_checkpoint"])
def test_a_planted_checkpoint_runs_nothing_on_resume(tmp_path, wrap):
    cfg = compose_config(OVERRIDES + [f"out_dir={tmp_path}"])
    ckpt = resolve_cell(cfg).checkpoint_path
    ckpt.parent.mkdir(parents=True)
    marker = tmp_path / "pwned"
    payload = {"bare": Payload(marker), "in_a_dict": {"model": Payload(marker)},
               "in_a_checkpoint": {"config_hash": resolve_cell(cfg).config_hash, "state": Payload(marker)}}[wrap]
    torch.save(payload, ckpt)
    with pytest.raises(ValueError, match=f"{ckpt}.*not loaded, so nothing in it ran.*delete"):
        run(cfg)
    assert not marker.exists()


def test_the_numpy_state_round_trips_as_plain_data(tmp_path):
    """The harness's own checkpoints load under the restricted loader: numpy's global state is stored as a tensor
    and numbers (tests/test_resume.py resumes a killed run from such a checkpoint to the identical record)."""
    from benchmarks.harness.checkpoint import _numpy_state_in, _numpy_state_out
    np.random.seed(5)
    torch.save(_numpy_state_out(), tmp_path / "np.pt")
    first = np.random.random(3)
    _numpy_state_in(load_torch(tmp_path / "np.pt"))
    assert np.array_equal(np.random.random(3), first)


def test_torch_loader_names_the_file_it_refused(tmp_path):
    path = tmp_path / "planted.pt"
    torch.save({"x": Payload(tmp_path / "pwned")}, path)
    with pytest.raises(UnsafeFile, match="planted.pt holds more than plain data.*names posix.mkdir"):
        load_torch(path)
    assert not (tmp_path / "pwned").exists()


def test_a_planted_cifar_batch_is_refused_before_it_runs(tmp_path):
    marker = tmp_path / "pwned"
    batch = tmp_path / "data_batch_1"
    batch.write_bytes(pickle.dumps({"data": Payload(marker), "labels": [0]}))
    with pytest.raises(DataCorrupt, match="data_batch_1.*refused before anything in it ran"):
        cifar10.read_batch(batch)
    assert not marker.exists()
    plain = tmp_path / "plain"
    plain.write_bytes(pickle.dumps({"data": np.zeros((2, 3), np.uint8), "labels": [1, 2], b"k": b"v"}, protocol=2))
    assert load_data_pickle(plain)["labels"] == [1, 2]


def test_an_edited_omniglot_cache_is_rebuilt_not_used(tmp_path, monkeypatch):
    """The statistics issue's case: the cached decoded tensor replaced by zeros was used, the record still claiming
    the official digest. Now the cache must match the sha256 written beside it when it was made."""
    monkeypatch.setattr(omniglot, "CHARACTERS", SMALL)
    monkeypatch.setenv("PLASTICBENCH_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "src"
    for part in omniglot.PARTS:
        write_part(src, part)
    first = omniglot.load_omniglot(src, image_size=31)
    cache = next((tmp_path / "cache").rglob("omniglot-*.pt"))
    assert (cache.parent / (cache.name + ".sha256")).is_file()
    torch.save({"images": torch.zeros_like(first.images), "classes": first.classes}, cache)  # a valid, wrong file
    again = omniglot.load_omniglot(src, image_size=31)
    assert torch.equal(again.images, first.images) and again.images.any()
    (cache.parent / (cache.name + ".sha256")).unlink()  # a cache without its digest is not trusted either
    assert torch.equal(omniglot.load_omniglot(src, image_size=31).images, first.images)
