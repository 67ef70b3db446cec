"""The data module on tiny synthetic Omniglot trees and archives built in tmp_path (no real data needed), plus
checks against the real archives (marked ``data``, skipped without PLASTICBENCH_DATA)."""
import hashlib
import os
import tarfile
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks.data import DataCorrupt, DataUnavailable
from benchmarks.data import archive, omniglot
from tests.conftest import data_dir_or_skip

SMALL = {"images_background": 3, "images_evaluation": 2}
# alphabet folders created in unsorted order, so the loader's sorting is what makes class indices stable
LAYOUT = {"images_background": [("Zeta", ["character02", "character01"]), ("Alpha", ["character01"])],
          "images_evaluation": [("Omega", ["character01"]), ("Beta", ["character01"])]}


@pytest.fixture(autouse=True)
def small_counts(monkeypatch, tmp_path):
    monkeypatch.setattr(omniglot, "CHARACTERS", SMALL)
    monkeypatch.setenv("PLASTICBENCH_CACHE", str(tmp_path / "cache"))


def write_part(root, part, seed=0):
    rng = np.random.default_rng(seed)
    for alphabet, chars in LAYOUT[part]:
        for char in chars:
            folder = root / part / alphabet / char
            folder.mkdir(parents=True)
            for k in (20, *range(1, 20)):  # written out of order too
                pixels = np.where(rng.random((105, 105)) < 0.1, 0, 255).astype(np.uint8)
                Image.fromarray(pixels).convert("1").save(folder / f"{char}_{k:02d}.png")


def zip_part(src, part, dest):
    with zipfile.ZipFile(dest, "w") as handle:
        for path in sorted((src / part).rglob("*")):
            handle.write(path, path.relative_to(src).as_posix())


def expected_digest(root, part):
    lines = [f"{p.relative_to(root).as_posix()}  {hashlib.md5(p.read_bytes()).hexdigest()}\n"
             for p in (root / part).rglob("*.png")]
    return hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "src"
    for part in omniglot.PARTS:
        write_part(src, part)
    return src


def test_extracted_folders_load_sorted_with_the_readme_digest(tree):
    data = omniglot.load_omniglot(tree, image_size=31)
    assert data.images.shape == (5, 20, 31, 31) and data.images.dtype == torch.uint8
    assert data.classes == sorted(data.classes[:3]) + sorted(data.classes[3:])
    assert data.classes[0] == "images_background/Alpha/character01" and data.n_background == 3
    for part in omniglot.PARTS:
        assert data.digests[part] == expected_digest(tree, part)
    first = Image.open(tree / "images_background/Alpha/character01/character01_01.png").convert("L")
    assert np.array_equal(data.images[0, 0].numpy(), np.asarray(first.resize((31, 31), Image.LANCZOS)))


def reference_bilinear(gray, size):
    """Bilinear sampling without anti-aliasing, written out per output pixel: pixel i of the output reads the
    input at (i + 0.5) * H / size - 0.5 (scikit-image's resize mapping at order 1), clamped at the border."""
    h = gray.shape[0]
    out = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            y, x = (i + 0.5) * h / size - 0.5, (j + 0.5) * h / size - 0.5
            y0, x0 = int(np.floor(y)), int(np.floor(x))
            dy, dx = y - y0, x - x0
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, h - 1)
            y0, x0 = max(y0, 0), max(x0, 0)
            out[i, j] = ((1 - dy) * (1 - dx) * gray[y0, x0] + (1 - dy) * dx * gray[y0, x1]
                         + dy * (1 - dx) * gray[y1, x0] + dy * dx * gray[y1, x1])
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def test_bilinear_resize_samples_pixel_centres_without_anti_aliasing():
    rng = np.random.default_rng(3)
    gray = np.where(rng.random((105, 105)) < 0.1, 0, 255).astype(np.uint8)
    ours = omniglot.bilinear_no_antialias(gray, 31)
    assert ours.dtype == np.uint8 and np.array_equal(ours, reference_bilinear(gray, 31))
    # a one-pixel stroke between the sample points vanishes without anti-aliasing; Lanczos keeps a trace of it
    stroke = np.full((105, 105), 255, np.uint8)
    stroke[:, 50] = 0  # output columns 14 and 15 sample at 48.6 and 52.0: nothing reads column 50
    assert (omniglot.bilinear_no_antialias(stroke, 31) == 255).all()
    assert np.asarray(Image.fromarray(stroke).resize((31, 31), Image.LANCZOS)).min() <= 200  # a faint line


def test_the_resize_is_chosen_cached_apart_and_checked(tree, tmp_path):
    lanczos = omniglot.load_omniglot(tree, image_size=31)
    bilinear = omniglot.load_omniglot(tree, image_size=31, resize="bilinear")
    first = np.asarray(Image.open(tree / "images_background/Alpha/character01/character01_01.png").convert("L"))
    assert np.array_equal(bilinear.images[0, 0].numpy(), reference_bilinear(first, 31))
    assert not torch.equal(bilinear.images, lanczos.images)
    names = sorted(p.name for p in (tmp_path / "cache").glob("omniglot-*.pt"))
    assert len(names) == 2 and any(n.endswith("-31px.pt") for n in names) and any("bilinear" in n for n in names)
    assert torch.equal(omniglot.load_omniglot(tree, image_size=31).images, lanczos.images)  # each from its own cache
    with pytest.raises(ValueError, match="task.resize='nearest'"):
        omniglot.load_omniglot(tree, resize="nearest")


def test_repacked_zips_extract_once_into_the_cache(tree, tmp_path, monkeypatch):
    data_dir = tmp_path / "data" / "omniglot"
    data_dir.mkdir(parents=True)
    for part in omniglot.PARTS:
        zip_part(tree, part, data_dir / f"{part}.repack.zip")
    first = omniglot.load_omniglot(tmp_path / "data")
    assert first.sources["images_background"].endswith("images_background.repack.zip")
    assert first.digests == {p: expected_digest(tree, p) for p in omniglot.PARTS}
    extracted = sorted((tmp_path / "cache" / "extracted").iterdir())
    assert len(extracted) == 2 and not [p for p in extracted if p.name.startswith(".")]
    monkeypatch.setattr(omniglot, "decode", lambda *a: pytest.fail("decoded twice"))
    monkeypatch.setattr(archive, "_unpack", lambda *a: pytest.fail("extracted twice"))
    again = omniglot.load_omniglot(tmp_path / "data")
    assert torch.equal(again.images, first.images) and again.classes == first.classes


def test_tar_archive_is_accepted(tree, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for part in omniglot.PARTS:
        with tarfile.open(data_dir / f"{part}.tar.xz", "w:xz") as handle:
            handle.add(tree / part, arcname=part)
    assert omniglot.load_omniglot(data_dir).digests["images_evaluation"] == expected_digest(tree, "images_evaluation")


def test_missing_data_names_the_directory_and_accepted_files(tmp_path):
    with pytest.raises(DataUnavailable, match="images_background") as info:
        omniglot.load_omniglot(tmp_path)
    assert str(tmp_path) in str(info.value) and "md5" in str(info.value) and "repack" in str(info.value)


def test_corrupt_zip_is_named_and_leaves_nothing_behind(tree, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "images_background.repack.zip").write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(DataCorrupt, match="images_background.repack.zip"):
        omniglot.load_omniglot(data_dir)
    assert not list((tmp_path / "cache" / "extracted").iterdir())  # the temporary folder was removed


def test_wrong_counts_are_reported_and_never_cached(tree, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    os.remove(tree / "images_background/Zeta/character02/character02_05.png")
    zip_part(tree, "images_background", data_dir / "images_background.repack.zip")
    with pytest.raises(DataCorrupt, match="20 PNGs each.*character02: 19"):
        omniglot.load_omniglot(data_dir)
    assert not list((tmp_path / "cache" / "extracted").iterdir())


def test_official_name_with_wrong_md5_is_rejected(tree, tmp_path):
    data_dir = tmp_path / "data" / "omniglot-py"
    data_dir.mkdir(parents=True)
    zip_part(tree, "images_background", data_dir / "images_background.zip")
    with pytest.raises(DataCorrupt, match="md5"):
        omniglot.load_omniglot(tmp_path / "data")


def test_cache_dir_respects_read_only_data_folders(tmp_path, monkeypatch):
    monkeypatch.delenv("PLASTICBENCH_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    writable, locked = tmp_path / "w", tmp_path / "ro"
    writable.mkdir()
    locked.mkdir(mode=0o555)
    assert archive.cache_dir(writable) == writable / ".cache"
    assert archive.cache_dir(locked) == tmp_path / "home" / ".cache" / "plasticbench"
    monkeypatch.setenv("PLASTICBENCH_DATA", str(writable))
    assert archive.resolve_data_dir(None) == writable and archive.resolve_data_dir("x") == archive.Path("x")


@pytest.mark.data
def test_real_archives_match_the_readme_digests(monkeypatch):
    monkeypatch.setattr(omniglot, "CHARACTERS", {"images_background": 964, "images_evaluation": 659})
    monkeypatch.delenv("PLASTICBENCH_CACHE")
    data = omniglot.load_omniglot(data_dir_or_skip())
    assert data.digests == omniglot.REFERENCE_DIGESTS
    assert data.images.shape == (1623, 20, 31, 31) and data.n_background == 964
    assert data.classes[:964] == sorted(data.classes[:964]) and data.classes[964:] == sorted(data.classes[964:])
