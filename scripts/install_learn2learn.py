"""Install learn2learn 0.2.0 into the running Python environment (Python 3.11, numpy 2).

learn2learn 0.2.0 ships only an sdist whose pre-generated C files include ``longintrepr.h`` and fail to compile
on Python 3.11. This script: downloads the sdist, regenerates the three extension C files with Cython 3,
builds a wheel without build isolation (against the torch/numpy already installed), caches the wheel, and
installs it with ``--no-deps``. Its runtime imports (gym, tqdm, requests, scipy, pillow, torchvision) come from
constraints.txt; its other declared dependencies (qpth, gsutil) pin numpy<2 and are not needed.

    python scripts/install_learn2learn.py [--force]

Wheel cache: $PLASTICBENCH_WHEELHOUSE, else ~/.cache/plasticbench/wheels.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "0.2.0"
EXTENSIONS = ("meta_dataset", "task_dataset", "transforms")


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)


def installed() -> bool:
    probe = "import learn2learn, sys; sys.exit(learn2learn.__version__ != %r)" % VERSION
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0


def build_wheel(wheelhouse: Path) -> Path:
    with tempfile.TemporaryDirectory(prefix="l2l-") as tmp:
        tmp_path = Path(tmp)
        pip("download", "--no-deps", "--no-binary", ":all:", "--no-build-isolation", "-d", str(tmp_path),
            f"learn2learn=={VERSION}")
        sdist = next(tmp_path.glob(f"learn2learn-{VERSION}.tar.gz"))
        with tarfile.open(sdist) as archive:
            archive.extractall(tmp_path, filter="data")
        source = tmp_path / f"learn2learn-{VERSION}"
        for name in EXTENSIONS:
            pyx = source / "learn2learn" / "data" / f"{name}.pyx"
            subprocess.run([sys.executable, "-m", "cython", "-3", str(pyx)], check=True)
        pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(wheelhouse), str(source))
    return next(wheelhouse.glob(f"learn2learn-{VERSION}-*.whl"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild the wheel even if one is cached")
    args = parser.parse_args()
    if installed() and not args.force:
        print(f"learn2learn {VERSION} already importable")
        return 0
    default = Path.home() / ".cache" / "plasticbench" / "wheels"
    wheelhouse = Path(os.environ.get("PLASTICBENCH_WHEELHOUSE", default))
    wheelhouse.mkdir(parents=True, exist_ok=True)
    cached = sorted(wheelhouse.glob(f"learn2learn-{VERSION}-cp{sys.version_info.major}{sys.version_info.minor}-*.whl"))
    wheel = cached[-1] if cached and not args.force else build_wheel(wheelhouse)
    pip("install", "--no-deps", "--force-reinstall", str(wheel))
    if not installed():
        print("learn2learn installed but does not import; see the output above", file=sys.stderr)
        return 1
    print(f"learn2learn {VERSION} installed from {wheel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
