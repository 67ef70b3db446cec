"""The CIFAR-10 loader on tiny synthetic batch files built in tmp_path, plus the real archive (marked ``data``)."""
import pickle
import tarfile

import numpy as np
import pytest

from benchmarks.data import DataCorrupt, DataUnavailable
from benchmarks.data import archive, cifar10
from tests.conftest import data_dir_or_skip

PER_BATCH = 6


@pytest.fixture(autouse=True)
def small_batches(monkeypatch, tmp_path):
    monkeypatch.setattr(cifar10, "PER_BATCH", PER_BATCH)
    monkeypatch.setenv("PLASTICBENCH_CACHE", str(tmp_path / "cache"))


def write_tree(root, skip=(), per_batch=PER_BATCH):
    tree = root / cifar10.TREE
    tree.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in cifar10.TRAIN + cifar10.TEST:
        if name in skip:
            continue
        entry = {"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                 "labels": rng.integers(0, 10, per_batch).tolist(), "filenames": [b"x.png"] * per_batch}
        (tree / name).write_bytes(pickle.dumps(entry))
    (tree / cifar10.META).write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))
    return tree


def tar_tree(root, dest):
    with tarfile.open(dest, "w:xz") as handle:
        handle.add(root / cifar10.TREE, arcname=cifar10.TREE)


def test_extracted_folder_loads_with_member_digest(tmp_path):
    tree = write_tree(tmp_path)
    data = cifar10.load_cifar10(tmp_path)
    assert data.train_images.shape == (5 * PER_BATCH, 3, 32, 32) and data.test_images.shape == (PER_BATCH, 3, 32, 32)
    first = pickle.loads((tree / "data_batch_1").read_bytes())
    assert np.array_equal(data.train_images[0].numpy().reshape(-1), first["data"][0])
    assert data.train_labels[:PER_BATCH].tolist() == first["labels"]
    assert data.digest == cifar10.tree_digest(cifar10.member_md5(tree)) and data.copy == "other"


def test_other_archive_is_extracted_once(tmp_path, monkeypatch):
    write_tree(tmp_path / "src")
    (tmp_path / "data" / "cifar10").mkdir(parents=True)
    tar_tree(tmp_path / "src", tmp_path / "data" / "cifar10" / "cifar-10-python.mine.tar.xz")
    first = cifar10.load_cifar10(tmp_path / "data")
    assert first.source.endswith("cifar-10-python.mine.tar.xz")
    monkeypatch.setattr(archive, "_unpack", lambda *a: pytest.fail("extracted twice"))
    assert cifar10.load_cifar10(tmp_path / "data").digest == first.digest


def test_missing_batch_in_an_archive_is_named(tmp_path):
    write_tree(tmp_path / "src", skip=("data_batch_3",))
    (tmp_path / "data").mkdir()
    tar_tree(tmp_path / "src", tmp_path / "data" / "cifar-10-python.repack.tar.xz")
    with pytest.raises(DataCorrupt, match="data_batch_3"):
        cifar10.load_cifar10(tmp_path / "data")
    assert not list((tmp_path / "cache" / "extracted").iterdir())


def test_wrong_image_count_is_named(tmp_path):
    write_tree(tmp_path, per_batch=PER_BATCH - 1)
    with pytest.raises(DataCorrupt, match=f"expected {PER_BATCH} images"):
        cifar10.load_cifar10(tmp_path)


def test_unreadable_batch_and_truncated_archive(tmp_path):
    tree = write_tree(tmp_path / "a")
    (tree / "test_batch").write_bytes(b"garbage")
    with pytest.raises(DataCorrupt, match="test_batch"):
        cifar10.load_cifar10(tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "cifar-10-python.repack.tar.xz").write_bytes(b"\xfd7zXZ\x00 truncated")
    with pytest.raises(DataCorrupt, match="cifar-10-python.repack.tar.xz"):
        cifar10.load_cifar10(tmp_path / "b")


def test_official_name_with_wrong_md5_and_missing_data(tmp_path):
    write_tree(tmp_path / "src")
    (tmp_path / "data").mkdir()
    with tarfile.open(tmp_path / "data" / "cifar-10-python.tar.gz", "w:gz") as handle:
        handle.add(tmp_path / "src" / cifar10.TREE, arcname=cifar10.TREE)
    with pytest.raises(DataCorrupt, match="md5"):
        cifar10.load_cifar10(tmp_path / "data")
    with pytest.raises(DataUnavailable, match="cifar-10-python.tar.gz") as info:
        cifar10.load_cifar10(tmp_path / "empty")
    assert str(tmp_path / "empty") in str(info.value)


@pytest.mark.data
def test_real_archive_is_the_reconstructed_copy(monkeypatch):
    monkeypatch.setattr(cifar10, "PER_BATCH", 10_000)
    monkeypatch.delenv("PLASTICBENCH_CACHE")
    data = cifar10.load_cifar10(data_dir_or_skip())
    assert data.copy == "reconstructed" and data.member_md5 == cifar10.RECONSTRUCTED_MD5
    assert data.train_images.shape == (50_000, 3, 32, 32) and data.test_images.shape == (10_000, 3, 32, 32)
