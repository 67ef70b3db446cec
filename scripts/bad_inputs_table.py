"""Feed the harness each class of bad input and print the Markdown table of what it gets (for the README).

    python scripts/bad_inputs_table.py

Every row is produced live, from the code as it is; tests/test_bad_inputs.py (one test per class, more cases
each), tests/test_config_errors.py, tests/test_resume.py, tests/test_report.py and the data tests hold the same
cases as assertions.
"""
from __future__ import annotations

import errno
import io
import os
import pickle
import sys
import tempfile
import zipfile
from contextlib import redirect_stderr
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness.config import compose_config, resolve_cell  # noqa: E402
from benchmarks.run import run  # noqa: E402

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
    from benchmarks.report import main as report
    runs = TMP / "records" / "binary_patterns_50" / "plastic"
    runs.mkdir(parents=True)
    (runs / "half-written.json").write_text('{"task": "binary_patterns_50", "mod')
    stderr = io.StringIO()
    with redirect_stderr(stderr):
        report.main([str(TMP / "records"), "--out", str(TMP / "report"), "--readme", str(TMP / "none.md")])
    return next(line for line in stderr.getvalue().splitlines() if "skipped" in line)


def corrupt_checkpoint() -> object:
    cfg = compose_config(["task=binary_patterns_50", "budget=smoke", "progress=false", "checkpoint_every=4",
                          f"out_dir={TMP / 'ckpt'}"])
    path = resolve_cell(cfg).checkpoint_path
    path.parent.mkdir(parents=True)
    path.write_bytes(b"truncated")
    return run(cfg)


COMMANDS = {"report": "benchmarks.report.main", "reproduce": "benchmarks.reproduce"}  # the modules holding main


def cli_case(command: str, *argv: str) -> Callable[[], object]:
    """``python -m benchmarks.<command> ARGV`` in this process: its exit status and its message."""
    def case() -> object:
        import importlib
        stderr = io.StringIO()
        with redirect_stderr(stderr):
            try:
                status = importlib.import_module(COMMANDS[command]).main(list(argv))
            except SystemExit as exit_:
                status = exit_.code
        said = [line for line in stderr.getvalue().splitlines() if "error" in line or "skipped" in line]
        return f"exit {status}: {' '.join(said)}"
    return case


def folder(name: str, files: dict[str, str] | None = None) -> Path:
    path = TMP / name
    path.mkdir(parents=True, exist_ok=True)
    for rel, text in (files or {}).items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    return path


def symlink_loop() -> Path:
    (TMP / "loop_a").symlink_to(TMP / "loop_b")
    (TMP / "loop_b").symlink_to(TMP / "loop_a")
    return TMP / "loop_a"


def full_disk_figure() -> object:
    from benchmarks.harness.atomic import atomic_savefig

    class FillsTheDisk:
        def savefig(self, tmp: str, **kwargs: object) -> None:
            Path(tmp).write_bytes(b"half a png")
            raise OSError(errno.ENOSPC, "No space left on device", tmp)

    target = folder("figures") / "curves.png"
    target.write_bytes(b"the previous figure")
    try:
        atomic_savefig(FillsTheDisk(), target)
    except OSError as err:
        left = sorted(p.name for p in target.parent.iterdir())
        return f"`OSError` {err.strerror}; {target.name} still holds the previous figure " \
               f"({target.read_bytes() == b'the previous figure'}), files left: {left}"
    return "no error"


def undecodable_png() -> object:
    from benchmarks.data import omniglot
    from PIL import Image
    root = folder("omniglot-corrupt")
    saved = dict(omniglot.CHARACTERS)
    omniglot.CHARACTERS.update({"images_background": 1, "images_evaluation": 1})
    for part in omniglot.PARTS:
        chars = root / part / "Alphabet" / "character01"
        chars.mkdir(parents=True)
        for k in range(omniglot.DRAWINGS):
            Image.new("1", (105, 105), 1).save(chars / f"{k:02d}.png")
    (root / "images_background" / "Alphabet" / "character01" / "03.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 8)
    os.environ["PLASTICBENCH_CACHE"] = str(TMP / "cache")
    try:
        return omniglot.load_omniglot(root)
    finally:
        omniglot.CHARACTERS.update(saved)


def cifar_float_pixels(tree_root: Path) -> None:
    tree = tree_root / "cifar-10-batches-py"
    tree.mkdir()
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"):
        (tree / name).write_bytes(pickle.dumps({"data": np.full((10000, 3072), 0.5), "labels": [0] * 10000}))
    (tree / "batches.meta").write_bytes(pickle.dumps({}))


def non_finite_curve_record() -> object:
    from tests.test_report import curve, make_record
    from benchmarks.harness.records import write_record
    from benchmarks.report import main as report
    runs = TMP / "nan-records"
    for seed in (0, 1):
        record = make_record("binary_patterns_50", "plastic", seed, 0.1, curve(0.3, 0.1, 100))
        if seed:
            record.curves["bit_error"][5] = float("nan")
        write_record(runs, record)
    report.generate([str(runs)], TMP / "nan-report", report.PUBLISHED)
    text = (TMP / "nan-report" / "REPORT.md").read_text()
    return next(line for line in text.splitlines() if "non-finite" in line).lstrip("- ")


def resume_other_data() -> object:
    import torch
    from benchmarks.harness.checkpoint import Checkpointer, TrainState
    inputs = {"config_hash": "c" * 64, "data_digest": "sha256:official", "git_commit": "abc", "device": "cpu"}
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.Adam(model.parameters())
    path = folder("resume") / "cell.pt"
    Checkpointer(path, 4, inputs).save(model, optimizer, torch.Generator(), TrainState(seen=4))
    return Checkpointer(path, 4, {**inputs, "data_digest": "sha256:other"}).restore(model, optimizer,
                                                                                    torch.Generator())


def record_mode() -> object:
    from benchmarks.harness.atomic import atomic_write_text
    previous = os.umask(0o022)
    try:
        atomic_write_text(TMP / "mode" / "record.json", "{}")
    finally:
        os.umask(previous)
    return f"written with mode {oct((TMP / 'mode' / 'record.json').stat().st_mode & 0o777)} under umask 022"


class Planted:
    """What an attacker puts in a shared results folder: a pickle whose loading would create a marker folder."""

    def __reduce__(self):
        return (os.mkdir, (str(TMP / "PWNED"),))


def planted(result: object) -> str:
    return f"{result}; the payload ran: {(TMP / 'PWNED').exists()}"


def planted_checkpoint() -> object:
    import torch
    cfg = compose_config(["task=binary_patterns_50", "budget=smoke", "progress=false", "checkpoint_every=4",
                          f"out_dir={TMP / 'planted'}"])
    path = resolve_cell(cfg).checkpoint_path
    path.parent.mkdir(parents=True)
    torch.save({"config_hash": resolve_cell(cfg).config_hash, "model": Planted()}, path)
    try:
        return run(cfg)
    except ValueError as err:
        return planted(f"`ValueError`: {err}")


def planted_cifar_batch() -> object:
    from benchmarks.data.cifar10 import read_batch
    path = folder("planted-cifar") / "data_batch_1"
    path.write_bytes(pickle.dumps({"data": Planted(), "labels": [0]}))
    try:
        return read_batch(path)
    except ValueError as err:
        return planted(f"`{type(err).__name__}`: {err}")


def hostile_record(change: dict, name: str = "odd.json") -> Callable[[], object]:
    def case() -> object:
        import json
        from tests.test_report import curve, make_record
        from benchmarks.harness.records import write_record
        from benchmarks.report import main as report
        runs = folder(f"hostile-{len(list(TMP.glob('hostile-*')))}")
        write_record(runs, make_record("binary_patterns_50", "plastic", 0, 0.1, curve(0.3, 0.1, 100)))
        odd = json.loads(make_record("binary_patterns_50", "plastic", 1, 0.1, curve(0.3, 0.1, 100)).to_json())
        (runs / name).write_text(json.dumps({**odd, **change}))
        report.generate([str(runs)], runs / "report", report.PUBLISHED)
        text = (runs / "report" / "REPORT.md").read_text()
        line = next((line for line in text.splitlines() if "odd" in line or "Injected" in line), "used")
        outside = sorted(p.name for p in TMP.rglob("evil*"))
        return f"{line.lstrip('- ')}; files written outside the report folder: {outside or 'none'}"
    return case


def conflicting_copies() -> object:
    from tests.test_report import curve, make_record
    from benchmarks.harness.records import write_record
    from benchmarks.report import main as report
    a, b = folder("copy-a"), folder("copy-b")
    write_record(a, make_record("binary_patterns_50", "plastic", 0, 0.049, curve(0.3, 0.1, 100)))
    write_record(b, make_record("binary_patterns_50", "plastic", 0, 0.49, curve(0.3, 0.1, 100)))
    write_record(a, make_record("binary_patterns_50", "plastic", 1, 0.05, curve(0.3, 0.1, 100)))
    report.generate([str(a), str(b)], TMP / "copies-report", report.PUBLISHED)
    text = (TMP / "copies-report" / "REPORT.md").read_text()
    return next(line for line in text.splitlines() if "conflicting" in line).lstrip("- ")


def edited_cache() -> object:
    import torch
    from benchmarks.data import omniglot
    root = TMP / "omniglot-cache"
    saved = dict(omniglot.CHARACTERS)
    omniglot.CHARACTERS.update({"images_background": 1, "images_evaluation": 1})
    os.environ["PLASTICBENCH_CACHE"] = str(TMP / "cache2")
    try:
        from PIL import Image
        for part in omniglot.PARTS:
            chars = root / part / "Alphabet" / "character01"
            chars.mkdir(parents=True)
            for k in range(omniglot.DRAWINGS):
                Image.new("1", (105, 105), k % 2).save(chars / f"{k:02d}.png")
        first = omniglot.load_omniglot(root)
        cache = next((TMP / "cache2").rglob("omniglot-*.pt"))
        torch.save({"images": torch.zeros_like(first.images), "classes": first.classes}, cache)
        again = omniglot.load_omniglot(root)
        return f"cache replaced by zeros: rebuilt from the images (same tensor as before: " \
               f"{bool(torch.equal(again.images, first.images))})"
    finally:
        omniglot.CHARACTERS.update(saved)


def perf_partial() -> object:
    from benchmarks.perf import main as perf
    return f"written to {perf.out_folder(perf.parse_args(['--only', 'binary50', '--quick']))}/, not results/"


def maze_step_before_reset() -> object:
    from benchmarks.envs.maze import MazeEnv
    return MazeEnv().step(0)


def archive_bomb(folder_: Path) -> None:
    from benchmarks.data import archive
    archive.MAX_EXPANDED_BYTES = 10_000  # the cap scaled down: a 50 kB member stands for a many-GB one
    with zipfile.ZipFile(folder_ / "images_background.repack.zip", "w", compression=zipfile.ZIP_DEFLATED) as handle:
        handle.writestr("images_background/a/b/c.png", b"\0" * 50_000)


BP = "budget.tasks.binary_patterns_50"
CASES: list[tuple[str, str, Callable[[], object]]] = [
    ("config value", "unknown model `model=nope`", lambda: compose_config(["model=nope"])),
    ("config value", "unknown task `task=nope`", lambda: compose_config(["task=nope"])),
    ("config value", "unknown budget `budget=nope`", lambda: compose_config(["budget=nope"])),
    ("config value", "misspelt key `model.rulez=oja`", lambda: compose_config(["model.rulez=oja"])),
    ("config value", "wrong type `task.n_bits=many`", lambda: compose_config(["task.n_bits=many"])),
    ("config value", "negative episodes", config_case("budget.tasks.binary_patterns_50.episodes=-5")),
    ("config value", "batch of 0 episodes", config_case("budget.tasks.binary_patterns_50.batch_size=0")),
    ("config value", "eta outside (0, 1] `model.eta=1.5`", config_case("model.eta=1.5")),
    ("config value", "unknown rule `model.rule=stdp`", config_case("model.rule=stdp")),
    ("config value", "unknown alpha mode `model.alpha=yoked`", config_case("model.alpha=yoked")),
    ("config value", "negative learning rate `optim.lr=-1`", config_case("optim.lr=-1")),
    ("config value", "task missing from the budget", config_case("~budget.tasks.binary_patterns_50")),
    ("data content", "Omniglot absent from the data directory", omniglot_case(lambda d: None)),
    ("data content", "Omniglot archive that is not a zip (repacked name)",
     omniglot_case(lambda d: (d / "images_background.repack.zip").write_bytes(b"not a zip"))),
    ("data content", "Omniglot archive with the wrong image counts", omniglot_case(omniglot_too_few)),
    ("data content", "Omniglot zip with the official name but other bytes (md5)",
     omniglot_case(lambda d: zipfile.ZipFile(d / "images_background.zip", "w").close())),
    ("data content", "CIFAR-10 folder missing batch files", cifar_case(cifar_missing_batches)),
    ("data content", "CIFAR-10 tarball truncated", cifar_case(lambda d: (d / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8b\x08"))),
    ("records & checkpoints", "half-written run record in a results folder", corrupt_record),
    ("records & checkpoints", "corrupt checkpoint of a resumed run", corrupt_checkpoint),
    ("loss", "report on an empty records folder", cli_case("report", str(folder("empty")))),
    ("loss", "report on a missing records folder", cli_case("report", str(TMP / "missing"))),
    ("loss", "full disk while writing a figure", full_disk_figure),
    ("loss", "record file permissions", record_mode),
    ("config value", "infinite learning rate `optim.lr=inf`", config_case("optim.lr=inf")),
    ("config value", "batch larger than the episodes", config_case(f"{BP}.batch_size=100")),
    ("config value", "evaluation batch larger than the pool", config_case(f"{BP}.eval_batch_size=100")),
    ("config value", "empty `out_dir=`", config_case("out_dir=")),
    ("config value", "`task.name` disagreeing with the task file", config_case("task.name=binary_patterns")),
    ("config value", "a name that leaves the records folder `model.name=../../x`",
     config_case("model.name=../../x")),
    ("config value", "unsupported pair `task=binary_patterns_50 model=protonet`", config_case("model=protonet")),
    ("config value", "unsupported pair `task=omniglot model=lstm`",
     config_case("task=omniglot", "model=lstm")),
    ("config value", "negative seed `seed=-1`", config_case("seed=-1")),
    ("data content", "Omniglot PNG that does not decode", undecodable_png),
    ("data content", "CIFAR-10 batch of float pixels", cifar_case(cifar_float_pixels)),
    ("data content", "record with status ok but a NaN training curve", non_finite_curve_record),
    ("data content", "resuming a checkpoint made from other data", resume_other_data),
    ("paths & commands", "wrong device string `device=gpu`", config_case("device=gpu")),
    ("paths & commands", "`out_dir` that is a file", config_case(f"out_dir={TMP / 'afile'}")),
    ("paths & commands", "`out_dir` that is a symlink loop", lambda: config_case(f"out_dir={symlink_loop()}")()),
    ("paths & commands", "a folder named `*.json` among records",
     cli_case("report", str(folder("dir-json", {"x.json/inner": ""})), "--out", str(TMP / "dj"))),
    ("paths & commands", "`reproduce --jobs 0`", cli_case("reproduce", "--jobs", "0")),
    ("paths & commands", "unknown experiment `reproduce --experiment nope`", cli_case("reproduce", "--experiment", "nope")),
    ("file is code", "pickle planted as a cell's checkpoint", planted_checkpoint),
    ("file is code", "pickle planted as a CIFAR-10 batch", planted_cifar_batch),
    ("name into path", "record whose task is `../../../x/evil`", hostile_record({"task": "../../../x/evil"})),
    ("name into path", "record file name with a newline and a heading",
     hostile_record({"seed": "x"}, name="odd\n# Injected.json")),
    ("committed results", "`benchmarks.perf --only binary50 --quick`", perf_partial),
    ("committed results", "`benchmarks.perf --publish --only binary50`",
     lambda: __import__("benchmarks.perf.main", fromlist=["out_folder"]).out_folder(
         __import__("benchmarks.perf.main", fromlist=["parse_args"]).parse_args(["--publish", "--only", "x"]))),
    ("data as recorded", "Omniglot cache tensor replaced by zeros", edited_cache),
    ("silent change", "typo `+optim.lrr=0.5`", config_case("+optim.lrr=0.5")),
    ("silent change", "two copies of one run that disagree (0.049 vs 0.49)", conflicting_copies),
    ("silent change", "record whose episodes contradict its budget", hostile_record({"episodes": 7})),
    ("resources", "archive that expands without bound", omniglot_case(archive_bomb)),
    ("one message", "record whose seed is a string", hostile_record({"seed": "3"})),
    ("one message", "`MazeEnv.step` before `reset`", maze_step_before_reset),
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
    (TMP / "afile").write_text("x")
    print("| class | bad input | what happens |\n|---|---|---|")
    for kind, label, case in CASES:
        print(f"| {kind} | {label} | {outcome(case).replace('|', '/')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
