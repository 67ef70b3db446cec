"""CIFAR-10, python version: ``cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}``.

Found in the data directory (or its ``cifar10/`` or ``cifar-10/`` subfolder) as the extracted folder,
torchvision's official ``cifar-10-python.tar.gz`` (md5 checked) or another archive named ``cifar-10*`` holding
the same tree (see ``archive.py``; extracted once into the cache). Every copy is validated by structure and
counts (10,000 images of 3x32x32 and 10,000 labels in 0..9 per batch: 50,000 training, 10,000 test images).
Content digest: sha256 over the sorted lines ``f"{member}  {md5(member)}\\n"`` of the seven members; the
per-member md5s go into the run record.
"""
from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks.data.archive import (DataCorrupt, DataUnavailable, cache_dir, check_md5, extract_tree,
                                     file_digest, find_archives, resolve_data_dir)
from benchmarks.harness.safe_load import load_data_pickle

TREE = "cifar-10-batches-py"
TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST = ("test_batch",)
META = "batches.meta"
PER_BATCH = 10_000
BATCH_LABELS = {**{f"data_batch_{i}": f"training batch {i} of 5" for i in range(1, 6)},
                "test_batch": "testing batch 1 of 1"}
OFFICIAL_ARCHIVE = ("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a")  # torchvision's
OFFICIAL_MD5 = {"data_batch_1": "c99cafc152244af753f735de768cd75f", "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
                "data_batch_3": "54ebc095f3ab1f0389bbae665268c751", "data_batch_4": "634d18415352ddfa80567beed471001a",
                "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb", "test_batch": "40351d587109b95175f43aff81a1287e",
                "batches.meta": "5ff9c542aee3614f3951f8cda6e48888"}
RECONSTRUCTED_MD5 = {  # the data README's copy: original pixels and labels, rebuilt `filenames` field
    "data_batch_1": "283aa45168190278c18c6bc78497da1f", "data_batch_2": "0db3b2c037ffbf4f7b4012eb6be3321a",
    "data_batch_3": "08abc2da4f1765e5cf7c78ea2d06bfe3", "data_batch_4": "bc81bed95b226fad031a2f2fc46004f4",
    "data_batch_5": "4ef796393f73f53118429fdbc1b9f1f4", "test_batch": "3ce15b0a1fd02469dfe61e477c11cbfb",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888"}


@dataclass
class Cifar10:
    train_images: torch.Tensor  # (50000, 3, 32, 32) uint8
    train_labels: torch.Tensor  # (50000,) long
    test_images: torch.Tensor  # (10000, 3, 32, 32) uint8
    test_labels: torch.Tensor  # (10000,) long
    digest: str
    member_md5: dict[str, str]
    source: str

    @property
    def copy(self) -> str:
        """'official', 'reconstructed' (the data README's) or 'other' (valid structure, unknown bytes)."""
        if self.member_md5 == OFFICIAL_MD5:
            return "official"
        return "reconstructed" if self.member_md5 == RECONSTRUCTED_MD5 else "other"


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> (images (N, 3, 32, 32) uint8, labels (N,) int64), checked: pixels stored as uint8 (no
    silent cast of floats or wider integers), integer labels in 0..9, and a ``batch_label`` (when the copy has
    one) that matches the file's name."""
    try:
        entry = load_data_pickle(path)  # arrays, lists and dicts only: a planted pickle runs nothing
        raw, raw_labels = entry["data"], np.asarray(entry["labels"])
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError, IndexError) as err:
        raise DataCorrupt(f"{path}: not a CIFAR-10 python batch ({type(err).__name__}: {err})") from err
    if not isinstance(raw, np.ndarray) or raw.dtype != np.uint8:
        raise DataCorrupt(f"{path}: pixel data of type {getattr(raw, 'dtype', type(raw).__name__)}, expected a uint8 "
                          "array (0..255); this is not the CIFAR-10 python version")
    if raw_labels.dtype.kind not in "iu":
        raise DataCorrupt(f"{path}: labels of type {raw_labels.dtype}, expected integers 0..9")
    expected = BATCH_LABELS.get(path.name)
    label = entry.get("batch_label") if isinstance(entry, dict) else None
    if label is not None and expected is not None and label != expected:
        raise DataCorrupt(f"{path}: holds {label!r}, not the {expected!r} its name says; the batch files are "
                          "mixed up (renamed?)")
    data, labels = raw, raw_labels.astype(np.int64)
    if data.shape != (PER_BATCH, 3072) or labels.shape != (PER_BATCH,) or labels.min() < 0 or labels.max() > 9:
        raise DataCorrupt(f"{path}: expected {PER_BATCH} images of 3x32x32 and {PER_BATCH} labels in 0..9, found "
                          f"data {data.shape} and {labels.size} labels")
    return data.reshape(PER_BATCH, 3, 32, 32), labels


def validate_tree(root: Path) -> str:
    """Check every member (present, readable, counts) and return the content digest."""
    missing = [name for name in (*TRAIN, *TEST, META) if not (root / name).is_file()]
    if missing:
        raise DataCorrupt(f"{root}: missing {missing}; expected {list(TRAIN + TEST)} and {META}")
    for name in TRAIN + TEST:
        read_batch(root / name)
    return tree_digest(member_md5(root))


def member_md5(root: Path) -> dict[str, str]:
    return {name: file_digest(root / name) for name in (*TRAIN, *TEST, META)}


def tree_digest(md5s: dict[str, str]) -> str:
    return hashlib.sha256("".join(sorted(f"{n}  {m}\n" for n, m in md5s.items())).encode()).hexdigest()


def accepted_files() -> str:
    name, md5 = OFFICIAL_ARCHIVE
    return (f"the folder {TREE}/, torchvision's {name} (md5 {md5}), or another archive named "
            f"cifar-10*.tar.gz|.tar.xz|.tar|.zip holding {TREE}/ (e.g. cifar-10-python.reconstructed.tar.xz)")


def locate(data_dir: Path, download: bool) -> tuple[Path, str]:
    """(tree, source); archives are extracted once and validated in the process."""
    dirs = [data_dir, data_dir / "cifar10", data_dir / "cifar-10"]
    for folder in dirs:
        if (folder / TREE).is_dir():
            validate_tree(folder / TREE)
            return folder / TREE, str(folder / TREE)
    name, md5 = OFFICIAL_ARCHIVE
    official = [folder / name for folder in dirs if (folder / name).is_file()]
    for archive in official:
        check_md5(archive, md5)
    for archive in official + find_archives(dirs, "cifar-10", exclude=(name,)):
        tree, _ = extract_tree(archive, TREE, cache_dir(data_dir), validate_tree)
        return tree, str(archive)
    if download:
        from torchvision.datasets import CIFAR10  # fetches and extracts into <data_dir>/cifar-10-batches-py
        CIFAR10(str(data_dir), train=True, download=True)
        return locate(data_dir, download=False)
    raise DataUnavailable(f"CIFAR-10 not found in data directory {data_dir.resolve()} (nor in its cifar10/ or "
                          f"cifar-10/ subfolder). Accepted: {accepted_files()}. Point data_dir= or "
                          f"PLASTICBENCH_DATA at the folder holding it, or set task.download=true to let torchvision "
                          f"download the official archive (needs internet).")


def load_cifar10(data_dir: str | Path | None, download: bool = False) -> Cifar10:
    tree, source = locate(resolve_data_dir(data_dir), download)
    train = [read_batch(tree / name) for name in TRAIN]
    test_images, test_labels = read_batch(tree / TEST[0])
    md5s = member_md5(tree)
    return Cifar10(train_images=torch.from_numpy(np.concatenate([x for x, _ in train])),
                   train_labels=torch.from_numpy(np.concatenate([y for _, y in train])),
                   test_images=torch.from_numpy(test_images), test_labels=torch.from_numpy(test_labels),
                   digest=tree_digest(md5s), member_md5=md5s, source=source)
