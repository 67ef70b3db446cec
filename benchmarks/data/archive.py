"""Finding a data set in the data directory and extracting archives once, shared by every real-data loader.

A data set part (an Omniglot half, the CIFAR-10 batches) is a folder ``tree/`` that may be present as

1. the extracted folder itself (``<dir>/<tree>/``),
2. an official archive (fixed name, checked against torchvision's md5),
3. another zip/tar archive whose name starts with the tree's name and which holds ``tree/`` (a repack).

Archives are extracted once into ``<cache>/extracted/<archive name>-<sha256 prefix>/``: the members go into a
temporary folder, the tree is validated (structure, counts) and its content digest written next to it, and only
then is the folder renamed into place. A folder under that name is therefore always complete and validated;
a crash or a concurrent run never leaves a half-extracted tree that a later run would trust.
"""
from __future__ import annotations

import hashlib
import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Callable

from benchmarks.harness.atomic import shared_mode
from benchmarks.harness.errors import writable_dir

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2")
DIGEST_FILE = "CONTENT_DIGEST"
ENV_DATA, ENV_CACHE = "PLASTICBENCH_DATA", "PLASTICBENCH_CACHE"


class DataUnavailable(FileNotFoundError):
    """The data set is not in the data directory. The harness reports the run as skipped, with this message."""


class DataCorrupt(ValueError):
    """A data file or folder exists but is not what it should be (bad archive, wrong md5, wrong counts)."""


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    """The configured ``data_dir``; if none is given, ``$PLASTICBENCH_DATA``, else ``./data``."""
    chosen = data_dir if data_dir not in (None, "") else os.environ.get(ENV_DATA) or "data"
    return Path(chosen).expanduser()


def cache_dir(data_dir: Path) -> Path:
    """Where extracted trees and decoded tensors go: ``$PLASTICBENCH_CACHE``, else ``<data_dir>/.cache`` when
    the data directory is writable, else ``~/.cache/plasticbench`` (read-only shared data folders). The mode
    bits are checked as well as access(): root may write anywhere, but a folder marked read-only stays so."""
    if os.environ.get(ENV_CACHE):
        return writable_dir(os.environ[ENV_CACHE], ENV_CACHE)
    if data_dir.is_dir() and os.access(data_dir, os.W_OK) and data_dir.stat().st_mode & stat.S_IWUSR:
        return writable_dir(data_dir / ".cache", f"the data cache (set {ENV_CACHE} to put it elsewhere)")
    return writable_dir(Path.home() / ".cache" / "plasticbench",
                        f"the data cache (set {ENV_CACHE} to put it elsewhere)")


def file_digest(path: Path, algorithm: str = "md5") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_md5(path: Path, expected: str) -> None:
    actual = file_digest(path)
    if actual != expected:
        raise DataCorrupt(f"{path}: md5 {actual} differs from the official file's {expected} (truncated or "
                          f"modified download?). Delete it and fetch it again; a repacked copy with the same tree "
                          f"is accepted under another name (e.g. {path.name.split('.')[0]}.repack.zip).")


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.endswith(ARCHIVE_SUFFIXES)


def find_archives(dirs: list[Path], prefix: str, exclude: tuple[str, ...] = ()) -> list[Path]:
    """Archives in ``dirs`` whose name starts with ``prefix`` (sorted, so the choice never depends on the
    filesystem), leaving out the names in ``exclude`` (the official ones, handled with their md5)."""
    found = []
    for folder in dirs:
        if folder.is_dir():
            found += sorted(p for p in folder.iterdir()
                            if p.name.startswith(prefix) and is_archive(p) and p.name not in exclude)
    return found


def extract_tree(archive: Path, tree: str, cache: Path, validate: Callable[[Path], str]) -> tuple[Path, str]:
    """Extract ``tree/`` from ``archive`` once; returns (the extracted tree, its content digest).

    ``validate(tree_path)`` checks structure and counts (raising DataCorrupt) and returns the content digest.
    """
    root = cache / "extracted"
    root.mkdir(parents=True, exist_ok=True)
    dest = root / f"{archive.name}-{file_digest(archive, 'sha256')[:16]}"
    if dest.is_dir():  # renamed into place only after validation: complete by construction
        return dest / tree, (dest / DIGEST_FILE).read_text().strip()
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{archive.name}-"))
    tmp.chmod(shared_mode(directory=True))  # mkdtemp's 0700 would hide the shared cache from colleagues
    try:
        _unpack(archive, tree, tmp)
        if not (tmp / tree).is_dir():
            raise DataCorrupt(f"{archive}: holds no '{tree}/' folder at its top level")
        digest = validate(tmp / tree)
        (tmp / DIGEST_FILE).write_text(digest + "\n")
        try:
            os.rename(tmp, dest)
        except OSError:  # another run finished the same extraction first: keep theirs
            if not dest.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest / tree, digest


MAX_EXPANDED_BYTES = 4 << 30  # the data sets this harness reads expand to ~0.2 GB (CIFAR-10) and ~0.1 GB (Omniglot)
MAX_MEMBERS = 100_000  # Omniglot, the largest: 32,460 drawings


def check_expansion(archive: Path, out: Path, members: int, size: int) -> None:
    """Refuse, before writing anything, an archive that would expand beyond any data set here or the free disk."""
    free = shutil.disk_usage(out).free
    if members > MAX_MEMBERS or size > min(MAX_EXPANDED_BYTES, free):
        raise DataCorrupt(f"{archive}: would expand to {members} files, {size / 2**20:.1f} MB ({free / 2**20:.0f} MB "
                          f"free; no data set here needs more than {MAX_EXPANDED_BYTES / 2**20:.1f} MB or "
                          f"{MAX_MEMBERS} files): not extracted")


def _unpack(archive: Path, tree: str, out: Path) -> None:
    """Members under ``tree/`` only; zip paths are sanitised by zipfile, tar members by the 'data' filter."""
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as handle:
                infos = [i for i in handle.infolist() if i.filename.startswith(f"{tree}/")]
                check_expansion(archive, out, len(infos), sum(i.file_size for i in infos))
                for info in infos:  # zipfile reads at most the declared size of each member, then checks its CRC
                    handle.extract(info, out)
        else:
            with tarfile.open(archive) as handle:
                members = [m for m in handle.getmembers() if m.name.startswith(f"{tree}/")]
                check_expansion(archive, out, len(members), sum(m.size for m in members))
                handle.extractall(out, members=members, filter="data")
    except (zipfile.BadZipFile, tarfile.TarError, lzma.LZMAError, zlib.error, EOFError, OSError) as err:
        if isinstance(err, OSError) and err.errno is not None:
            raise  # disk full, permissions: not the archive's fault (bad gzip data has no errno)
        raise DataCorrupt(f"{archive}: not a readable archive ({type(err).__name__}: {err})") from err
