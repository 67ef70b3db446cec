"""Omniglot (Lake et al.) on torchvision's layout: ``omniglot-py/images_background`` (30 alphabets, 964
characters) and ``omniglot-py/images_evaluation`` (20 alphabets, 659 characters), 20 drawings per character,
105x105 PNGs.

Each half is found in the data directory (or its ``omniglot-py/`` or ``omniglot/`` subfolder) as the extracted
folder, torchvision's official zip (md5 checked) or another archive named ``images_background*`` /
``images_evaluation*`` holding the same tree (see ``archive.py``). Every listing is sorted, so class indices
never depend on the filesystem. The images are decoded once, resized and stored as one uint8 tensor in the cache,
keyed by the content digest: sha256 over the sorted lines ``f"{relpath}  {md5(png)}\\n"`` of each half.
"""
from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmarks.data.archive import (DataCorrupt, DataUnavailable, cache_dir, check_md5, extract_tree,
                                     file_digest, find_archives, resolve_data_dir)
from benchmarks.harness.atomic import atomic_torch_save, atomic_write_text

PARTS = ("images_background", "images_evaluation")
CHARACTERS = {"images_background": 964, "images_evaluation": 659}  # expected character folders per half
DRAWINGS = 20  # drawings per character
SIDE = (105, 105)  # pixels of every drawing
OFFICIAL_MD5 = {"images_background": "68d2efa1b9178cc56df9314c21c6e718",  # torchvision's Omniglot.zips_md5
                "images_evaluation": "6b91aef0f799c5bb55b94e3f2daec811"}
REFERENCE_DIGESTS = {  # content digests of the official release (PNG bytes), from the data README
    "images_background": "6936c7e0183d2f697b0c85eb3f6c0b340c41fe773dff4e6ca77539f59c0145fa",
    "images_evaluation": "20e79b4fcf7b77985452ee2f68b520a9f18c20efdcc0ee01317161087d6bd4d3"}


@dataclass
class OmniglotImages:
    images: torch.Tensor  # (C, 20, S, S) uint8 grayscale as in the PNGs (background 255), C = 964 + 659
    classes: list[str]  # "images_background/<Alphabet>/<characterNN>", sorted within each half
    digests: dict[str, str]  # half -> content digest
    sources: dict[str, str]  # half -> what was read (folder or archive path)

    @property
    def n_background(self) -> int:
        return sum(name.startswith("images_background/") for name in self.classes)


def character_folders(root: Path) -> list[Path]:
    """``root/<alphabet>/<character>`` folders, both levels sorted by name."""
    return [char for alphabet in sorted(p for p in root.iterdir() if p.is_dir())
            for char in sorted(p for p in alphabet.iterdir() if p.is_dir())]


def drawings(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix == ".png")


def validate_part(root: Path) -> str:
    """Check the tree of one half (characters x 20 PNGs) and return its content digest."""
    part = root.name
    folders = character_folders(root)
    bad = [f"{f.parent.name}/{f.name}: {len(drawings(f))}" for f in folders if len(drawings(f)) != DRAWINGS]
    if len(folders) != CHARACTERS[part] or bad:
        raise DataCorrupt(f"{root}: expected {CHARACTERS[part]} character folders with {DRAWINGS} PNGs each, "
                          f"found {len(folders)} folders" + (f"; wrong PNG counts: {bad[:5]}" if bad else ""))
    lines = []
    for folder in folders:
        for png in drawings(folder):
            rel = png.relative_to(root.parent).as_posix()
            lines.append(f"{rel}  {hashlib.md5(png.read_bytes()).hexdigest()}\n")
    return hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()


def accepted_files(part: str) -> str:
    return (f"the folder {part}/, torchvision's {part}.zip (md5 {OFFICIAL_MD5[part]}), or another zip/tar "
            f"archive named {part}*.zip|.tar|.tar.gz|.tar.xz holding {part}/ (e.g. {part}.repack.zip)")


def locate_part(data_dir: Path, part: str, download: bool = False) -> tuple[Path, str, str]:
    """(tree, content digest, source) of one half; raises DataUnavailable naming the accepted files."""
    dirs = [data_dir / "omniglot-py", data_dir, data_dir / "omniglot"]
    for folder in dirs:
        if (folder / part).is_dir():
            return folder / part, validate_part(folder / part), str(folder / part)
    official = [folder / f"{part}.zip" for folder in dirs if (folder / f"{part}.zip").is_file()]
    for archive in official:
        check_md5(archive, OFFICIAL_MD5[part])
    for archive in official + find_archives(dirs, part, exclude=(f"{part}.zip",)):
        tree, digest = extract_tree(archive, part, cache_dir(data_dir), validate_part)
        return tree, digest, str(archive)
    if download:
        from torchvision.datasets import Omniglot  # fetches and extracts into <data_dir>/omniglot-py
        Omniglot(str(data_dir), background=part == "images_background", download=True)
        return locate_part(data_dir, part, download=False)
    raise DataUnavailable(f"Omniglot {part} not found in data directory {data_dir.resolve()} (nor in its "
                          f"omniglot-py/ or omniglot/ subfolder). Accepted: {accepted_files(part)}. Point "
                          f"data_dir= or PLASTICBENCH_DATA at the folder holding them, or set task.download=true "
                          f"to let torchvision download the official zips (needs internet).")


def bilinear_no_antialias(gray: np.ndarray, size: int) -> np.ndarray:
    """(H, W) uint8 -> (size, size) uint8 by bilinear interpolation at the output pixels' centres, without
    anti-aliasing: output pixel i samples the input at (i + 0.5) * H / size - 0.5, the mapping of scikit-image's
    ``transform.resize`` at order 1 without ``anti_aliasing`` (the Omniglot script's call in 2018, before that
    option existed). Each output pixel reads its 4 nearest input pixels, so thin strokes between the sample points
    fade or vanish, unlike an anti-aliased (Lanczos) resize, which averages every input pixel it covers."""
    image = torch.from_numpy(np.ascontiguousarray(gray, dtype=np.float64))[None, None]
    out = torch.nn.functional.interpolate(image, size=(size, size), mode="bilinear", align_corners=False,
                                          antialias=False)[0, 0]
    return out.round().clamp(0, 255).to(torch.uint8).numpy()


# task.resize: how the 105x105 grayscale drawings shrink to task.image_size
RESIZERS = {"lanczos": lambda gray, size: np.asarray(gray.resize((size, size), Image.LANCZOS)),  # anti-aliased
            "bilinear": lambda gray, size: bilinear_no_antialias(np.asarray(gray), size)}  # the authors' script
RESIZES = tuple(RESIZERS)


def check_resize(resize: str) -> None:
    if resize not in RESIZERS:
        raise ValueError(f"task.resize={resize!r} is not one of {RESIZES}")


def decode(png: Path, size: int, resize: str = "lanczos") -> np.ndarray:
    """105x105 PNG -> (size, size) uint8 grayscale, shrunk by ``RESIZERS[resize]`` (``load_omniglot`` checked the
    name once). A file that does not decode, is not a PNG or has another size is rejected, naming it."""
    try:
        with Image.open(png) as image:
            kind, side = image.format, image.size
            gray = RESIZERS[resize](image.convert("L"), size) if (kind, side) == ("PNG", SIDE) else None
    except (OSError, SyntaxError, ValueError) as err:  # PIL: UnidentifiedImageError, truncated data, bad chunks
        raise DataCorrupt(f"{png}: not a readable image ({type(err).__name__}: {err}); replace it with the file "
                          "from the official release") from err
    if kind != "PNG":
        raise DataCorrupt(f"{png}: a {kind} image, not the PNG its name says; replace it with the official file")
    if gray is None:
        raise DataCorrupt(f"{png}: {side[0]}x{side[1]} pixels, expected the Omniglot drawings' "
                          f"{SIDE[0]}x{SIDE[1]}; replace it with the official file")
    return np.asarray(gray, dtype=np.uint8)


def load_omniglot(data_dir: str | Path | None, image_size: int = 31, download: bool = False,
                  resize: str = "lanczos") -> OmniglotImages:
    """Both halves as one uint8 tensor, decoded once and cached under the content digest and the resize."""
    check_resize(resize)
    data_dir = resolve_data_dir(data_dir)
    located = {part: locate_part(data_dir, part, download) for part in PARTS}
    digests = {part: located[part][1] for part in PARTS}
    sources = {part: located[part][2] for part in PARTS}
    key = hashlib.sha256("".join(digests[p] for p in PARTS).encode()).hexdigest()[:16]
    path = cache_dir(data_dir) / f"omniglot-{key}-{image_size}px{'' if resize == 'lanczos' else '-' + resize}.pt"
    cached = _load_cached(path, sum(CHARACTERS.values()), image_size)
    if cached is not None:
        return OmniglotImages(cached["images"], cached["classes"], digests, sources)
    classes, images = [], []
    for part in PARTS:
        root = located[part][0]
        for folder in character_folders(root):
            classes.append(folder.relative_to(root.parent).as_posix())
            images.append(np.stack([decode(png, image_size, resize) for png in drawings(folder)]))
    tensor = torch.from_numpy(np.stack(images))  # (C, 20, S, S)
    atomic_torch_save({"images": tensor, "classes": classes}, path)
    atomic_write_text(_digest_path(path), file_digest(path, "sha256") + "\n")  # after the cache: a pair or nothing
    return OmniglotImages(tensor, classes, digests, sources)


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _load_cached(path: Path, n_classes: int, image_size: int) -> dict | None:
    """The cached tensor, or None when absent, unreadable, or not the file this harness wrote (its sha256 differs
    from the digest stored beside it at creation: edited, replaced, or half-copied), in which case it is rebuilt from
    the source images whose content digest names it."""
    if not path.is_file():
        return None
    try:
        if _digest_path(path).read_text().strip() != file_digest(path, "sha256"):
            return None
        cached = torch.load(path, weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError):
        return None
    ok = isinstance(cached, dict) and isinstance(cached.get("images"), torch.Tensor) and \
        cached["images"].dtype == torch.uint8 and \
        tuple(cached["images"].shape) == (n_classes, DRAWINGS, image_size, image_size)
    return cached if ok and len(cached["classes"]) == n_classes else None
