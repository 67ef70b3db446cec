"""Feed the harness each kind of bad input and print the Markdown table of the errors it gets (for the README).

    python scripts/bad_inputs_table.py

Every row is produced live, from the code as it is; tests/test_config_errors.py, tests/test_resume.py,
tests/test_report.py and the data tests hold the same cases as assertions.
"""
from __future__ import annotations

import io
import os
import sys
import tempfile
import zipfile
from contextlib import redirect_stderr
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.run import compose_config, run  # noqa: E402

TMP = Path(tempfile.mkdtemp(prefix="badinputs-"))


def config_case(*overrides: str) -> Callable[[], object]:
    return lambda: run(compose_config(["task=binary_patterns_50", "budget=smoke", "progress=false",
                                       f"out_dir={TMP / 'runs'}", *overrides]))


def omniglot_case(setup: Callable[[Path], None]) -> Callable[[], object]:
    def case() -> object:
        from benchmarks.data.omniglot import load_omniglot
        folder = Path(tempfile.mkdtemp(dir=TMP))
        setup(folder)
        return load_omniglot(folder)
    return case


def cifar_case(setup: Callable[[Path], None]) -> Callable[[], object]:
    def case() -> object:
        from benchmarks.data.cifar10 import load_cifar10
        folder = Path(tempfile.mkdtemp(dir=TMP))
        setup(folder)
        return load_cifar10(folder)
    return case


def omniglot_too_few(folder: Path) -> None:
    with zipfile.ZipFile(folder / "images_background.repack.zip", "w") as archive:
        archive.writestr("images_background/Alphabet/character01/0001_01.png", b"")


def cifar_missing_batches(folder: Path) -> None:
    tree = folder / "cifar-10-batches-py"
    tree.mkdir()
    for name in ("data_batch_1", "batches.meta"):
        (tree / name).write_bytes(b"")


def corrupt_record() -> object:
    from benchmarks import report
    runs = TMP / "records" / "binary_patterns_50" / "plastic"
    runs.mkdir(parents=True)
    (runs / "half-written.json").write_text('{"task": "binary_patterns_50", "mod')
    stderr = io.StringIO()
    with redirect_stderr(stderr):
        report.main([str(TMP / "records"), "--out", str(TMP / "report"), "--readme", str(TMP / "none.md")])
    return next(line for line in stderr.getvalue().splitlines() if "skipped" in line)


def corrupt_checkpoint() -> object:
    from benchmarks.run import checkpoint_path, resolved_config
    cfg = compose_config(["task=binary_patterns_50", "budget=smoke", "progress=false", "checkpoint_every=4",
                          f"out_dir={TMP / 'ckpt'}"])
    path = checkpoint_path(cfg, resolved_config(cfg))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"truncated")
    return run(cfg)


CASES: list[tuple[str, Callable[[], object]]] = [
    ("unknown model `model=nope`", lambda: compose_config(["model=nope"])),
    ("unknown task `task=nope`", lambda: compose_config(["task=nope"])),
    ("unknown budget `budget=nope`", lambda: compose_config(["budget=nope"])),
    ("misspelt key `model.rulez=oja`", lambda: compose_config(["model.rulez=oja"])),
    ("wrong type `task.n_bits=many`", lambda: compose_config(["task.n_bits=many"])),
    ("negative episodes", config_case("budget.tasks.binary_patterns_50.episodes=-5")),
    ("batch of 0 episodes", config_case("budget.tasks.binary_patterns_50.batch_size=0")),
    ("eta outside (0, 1] `model.eta=1.5`", config_case("model.eta=1.5")),
    ("unknown rule `model.rule=stdp`", config_case("model.rule=stdp")),
    ("unknown alpha mode `model.alpha=yoked`", config_case("model.alpha=yoked")),
    ("negative learning rate `optim.lr=-1`", config_case("optim.lr=-1")),
    ("task missing from the budget", config_case("~budget.tasks.binary_patterns_50")),
    ("Omniglot absent from the data directory", omniglot_case(lambda d: None)),
    ("Omniglot archive that is not a zip (repacked name)",
     omniglot_case(lambda d: (d / "images_background.repack.zip").write_bytes(b"not a zip"))),
    ("Omniglot archive with the wrong image counts", omniglot_case(omniglot_too_few)),
    ("Omniglot zip with the official name but other bytes (md5)",
     omniglot_case(lambda d: zipfile.ZipFile(d / "images_background.zip", "w").close())),
    ("CIFAR-10 folder missing batch files", cifar_case(cifar_missing_batches)),
    ("CIFAR-10 tarball truncated", cifar_case(lambda d: (d / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8b\x08"))),
    ("half-written run record in a results folder", corrupt_record),
    ("corrupt checkpoint of a resumed run", corrupt_checkpoint),
]


def outcome(case: Callable[[], object]) -> str:
    try:
        result = case()
    except Exception as err:  # the point: show what each bad input raises
        cause = f" (cause: {err.__cause__})" if err.__cause__ and type(err).__name__.startswith("Config") else ""
        text = f"`{type(err).__name__}`: {err}{cause}"
    else:
        text = f"reported: {result}" if isinstance(result, str) else f"no error ({type(result).__name__})"
    text = " ".join(text.replace(str(TMP), "<tmp>").replace(os.getcwd(), ".").split())
    return (text[:400] + " ...") if len(text) > 400 else text


def main() -> int:
    print("| bad input | what happens |\n|---|---|")
    for label, case in CASES:
        print(f"| {label} | {outcome(case).replace('|', '/')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
