"""Every class of bad input a user can cause, one test per class, parametrised over its cases: each stops with
one message naming the key or file (and the fix), a non-zero exit, and nothing written outside its folder or
left half-written. scripts/bad_inputs_table.py shows one live example of each class in README."""
from __future__ import annotations

import errno
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks import reproduce
from benchmarks.data import DataCorrupt, cifar10, omniglot
from benchmarks.harness import atomic
from benchmarks.harness.checkpoint import Checkpointer, TrainState
from benchmarks.harness.config import compose_config, resolve_cell
from benchmarks.harness.errors import UserError, writable_dir
from benchmarks.harness.lifeline import descendants
from benchmarks.harness.records import load_record, write_record
from benchmarks.report import folders, main as report
from benchmarks.run import run
from tests.test_report import SMALL, curve, make_record

ROOT = Path(__file__).resolve().parents[1]
BP = "budget.tasks.binary_patterns_50"


def tree_snapshot(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


def loop(tmp_path: Path) -> Path:
    (tmp_path / "loop_a").symlink_to(tmp_path / "loop_b")
    (tmp_path / "loop_b").symlink_to(tmp_path / "loop_a")
    return tmp_path / "loop_a"


# --- loss: the report never writes outside --out, never empties it, never touches README unasked ------------

@pytest.mark.parametrize("case", ["empty", "missing", "file", "dangling link", "symlink loop"])
def test_report_refuses_a_folder_without_records(tmp_path, case, capsys):
    target = {"empty": tmp_path / "empty", "missing": tmp_path / "missing", "file": tmp_path / "afile",
              "dangling link": tmp_path / "dangling", "symlink loop": loop(tmp_path)}[case]
    (tmp_path / "empty").mkdir()
    (tmp_path / "afile").write_text("x")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    readme = tmp_path / "README.md"
    readme.write_text(f"{folders.START}\nkeep\n{folders.END}\n")
    with pytest.raises(SystemExit) as exit_info:
        report.main([str(target), "--out", str(tmp_path / "out"), "--update-readme", "--readme", str(readme)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert str(target) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() and readme.read_text() == f"{folders.START}\nkeep\n{folders.END}\n"


def test_report_default_out_and_readme_only_when_asked(tmp_path):
    runs = tmp_path / "runs"
    write_record(runs, make_record("binary_patterns_50", "plastic", 0, 0.1, curve(0.3, 0.1, 100)))
    readme_before = (ROOT / "README.md").read_bytes()
    results_before = tree_snapshot(ROOT / "results")
    assert report.main([str(runs), "--published", str(SMALL), "--experiment", ""]) == 0
    assert (runs / "report" / "REPORT.md").is_file() and (runs / "report" / folders.MANIFEST).is_file()
    assert (ROOT / "README.md").read_bytes() == readme_before and tree_snapshot(ROOT / "results") == results_before
    assert folders.default_out([folders.DEFAULT_RUNS]) == Path("results")


def test_reproduce_with_out_dir_writes_records_and_report_only_there(tmp_path, monkeypatch):
    """The training subprocess is replaced by one that writes a record per cell: what is tested is where the
    driver and its report write."""
    def fake_training(command, env=None):
        out = Path(next(a for a in command if a.startswith("out_dir=")).split("=", 1)[1])
        model = next(a for a in command if a.startswith("model=")).split("=", 1)[1].split(",")[0]
        record = make_record("binary_patterns_50", model, 0, 0.1, curve(0.3, 0.1, 100), budget="smoke")
        write_record(out, record)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(reproduce.subprocess, "run", fake_training)
    readme_before, results_before = (ROOT / "README.md").read_bytes(), tree_snapshot(ROOT / "results")
    out = tmp_path / "grid"
    reproduce.main(["--tasks", "binary_patterns_50", "--budget", "smoke", "--out-dir", str(out), "--jobs", "1"])
    assert (out / "report" / "REPORT.md").is_file() and list(out.rglob("*.json"))
    assert (ROOT / "README.md").read_bytes() == readme_before and tree_snapshot(ROOT / "results") == results_before


@pytest.mark.parametrize("writer", ["text", "figure"])
def test_full_disk_leaves_the_previous_file_whole(tmp_path, monkeypatch, writer):
    target = tmp_path / ("REPORT.md" if writer == "text" else "curves.png")
    target.write_bytes(b"previous")

    def fill_then_fail(tmp, *args, **kwargs):
        Path(tmp).write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device", tmp)

    if writer == "text":
        monkeypatch.setattr(atomic, "open", lambda tmp, mode: fill_then_fail(tmp), raising=False)
        write = lambda: atomic.atomic_write_text(target, "new")  # noqa: E731
    else:
        from matplotlib.figure import Figure
        fig = Figure()
        monkeypatch.setattr(fig, "savefig", fill_then_fail)
        write = lambda: atomic.atomic_savefig(fig, target)  # noqa: E731
    with pytest.raises(OSError):
        write()
    assert target.read_bytes() == b"previous" and [p.name for p in tmp_path.iterdir()] == [target.name]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_written_files_follow_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        atomic.atomic_write_text(tmp_path / "record.json", "{}")
    finally:
        os.umask(previous)
    assert (tmp_path / "record.json").stat().st_mode & 0o777 == mode


# --- silently accepted config values: refused before training, naming the key ---------------------------

CONFIG_CASES = [
    (["optim.lr=inf"], "optim.lr=inf"),
    (["optim.lr=nan"], "optim.lr=nan"),
    (["optim.eps=inf"], "optim.eps=inf"),
    (["optim.eps=0"], "optim.eps=0.0 must be > 0"),
    (["optim.weight_decay=-1"], "optim.weight_decay=-1.0"),
    (["optim.grad_clip=inf"], "optim.grad_clip=inf"),
    (["model=plastic", "model.eta=nan"], "model.eta=nan"),
    ([f"{BP}.lr=inf"], f"{BP}.lr=inf"),
    ([f"{BP}.batch_size=100"], "batch_size=100 exceeds"),
    ([f"{BP}.eval_batch_size=100"], "eval_batch_size=100 exceeds the evaluation pool"),
    ([f"{BP}.eval_every=1000"], "eval_every=1000 must lie in"),
    ([f"{BP}.episodes=0"], "episodes=0 must be >= 1"),
    (["seed=-1"], "seed=-1 must be >= 0"),
    (["curve_points=0"], "curve_points=0 must be >= 1"),
    (["threads=-2"], "threads=-2"),
    (["out_dir="], "out_dir is empty"),
    (["out_dir=  "], "out_dir is empty"),
    (["device=gpu"], "device='gpu' is not a device"),
    (["device=cuda:x"], "device='cuda:x' is not a device"),
    (["task.name=binary_patterns"], "task.name='binary_patterns' disagrees with the task file"),
    (["model.name=../../escape"], "model.name='../../escape' disagrees"),
    (["budget.name=../x"], "budget.name='../x' disagrees"),
    (["model=protonet"], "model=protonet (family protonet, a fewshot model) does not fit task=binary_patterns_50 "
                         "(kind binary_patterns, which takes sequence models)"),
    (["task=omniglot", "model=plastic_core"], "model=plastic_core (family miconi_core, a core model) does not fit "
                                              "task=omniglot (kind omniglot, which takes fewshot or head or sequence "
                                              "models)"),
    (["task=maze", "model=plastic_head"], "To run it here, provide a core model: a class built from (input_size, "
                                          "hidden_size, ...)"),
    (["task=cue_reward", "model=plastic", "model.adapter_width=50"], "model.adapter_width=50 is read only where a "
                                                                     "task wraps a sequence model"),
    (["task=cue_reward", "model=lstm"], "model.hidden_size has no value for task=cue_reward model=lstm"),
]


@pytest.mark.parametrize("overrides, message", CONFIG_CASES, ids=[" ".join(c[0]) for c in CONFIG_CASES])
def test_meaningless_config_values_fail_before_training(tmp_path, overrides, message):
    base = ["task=binary_patterns_50", "model=rnn", "budget=smoke", "progress=false", f"out_dir={tmp_path / 'o'}"]
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        run(compose_config(base + overrides))
    assert not (tmp_path / "o").exists() and not list(ROOT.glob("escape*"))


def test_names_that_would_leave_the_records_folder_are_refused():
    from benchmarks.harness.config.checks import check_paths
    cfg = compose_config(["task=binary_patterns_50", "budget=smoke"])
    for key, value in (("model", "../up"), ("task", "a/b"), ("budget", ".hidden")):
        cfg[key].name = value
        with pytest.raises(ValueError, match=f"{key}.name='{value}' is not a plain name"):
            check_paths(cfg)
        cfg[key].name = "ok"


SYNTHETIC_TASK = {"binary_patterns": "binary_patterns_50", "cue_reward": "cue_reward",
                  "seq_reproduction": "seq_reproduction_n5_m0", "regression": "regression", "maze": "maze"}
ONE_MODEL = {"miconi": "plastic", "rnn": "rnn", "lstm": "lstm", "duan": "duan_rnn_hebbian", "maml_mlp": "maml_mlp",
             "miconi_core": "plastic_core", "rnn_core": "rnn_core", "lstm_core": "lstm_core"}


def _supported_pairs() -> list[tuple[str, str]]:
    from benchmarks.harness.config import supported_families
    return [(task, ONE_MODEL[family]) for kind, task in SYNTHETIC_TASK.items() for family in supported_families(kind)]


@pytest.mark.parametrize("task, model", _supported_pairs())
def test_every_supported_pair_builds_and_trains_one_step(task, model):
    """The matrix is a promise: each pair it lists (one model per family, data-free tasks) composes, validates,
    builds and takes a gradient step."""
    from benchmarks.harness.train import build_task
    if model == "maml_mlp":
        pytest.importorskip("learn2learn")
    width = [] if (ROOT / f"benchmarks/conf/task_model/{task}_{model}.yaml").exists() or model != "lstm" \
        else ["model.hidden_size=64", "model.readout=linear"]
    config = resolve_cell(compose_config([f"task={task}", f"model={model}", "budget=smoke", *width])).config
    built = build_task(config["task"])
    net = built.build_model(config["model"])
    loss, _ = built.episode_loss(net, built.sample(2, torch.Generator().manual_seed(0)))
    loss.backward()
    assert torch.isfinite(loss)


def test_support_matrix_in_readme_is_the_code_s():
    from benchmarks.harness.config import support_table
    assert support_table() in (ROOT / "README.md").read_text(), "regenerate with python scripts/support_matrix.py"


# --- data content rejected by its loader, naming the file; provenance and resumption ------------------------

def _cifar_tree(root: Path, monkeypatch, change: str) -> Path:
    monkeypatch.setattr(cifar10, "PER_BATCH", 4)
    monkeypatch.setenv("PLASTICBENCH_CACHE", str(root / "cache"))
    tree = root / cifar10.TREE
    tree.mkdir(parents=True)
    for name in cifar10.TRAIN + cifar10.TEST:
        entry = {"data": np.zeros((4, 3072), np.uint8), "labels": [0, 1, 2, 3], "batch_label": cifar10.BATCH_LABELS[name]}
        if name == "data_batch_1":
            entry.update({"float pixels": {"data": np.zeros((4, 3072), np.float64)},
                          "wide pixels": {"data": np.full((4, 3072), 300, np.int64)},
                          "float labels": {"labels": [0.5, 1.0, 2.0, 3.0]},
                          "renamed test batch": {"batch_label": "testing batch 1 of 1"},
                          "not a pickle": {}}[change])
        (tree / name).write_bytes(b"\x89PNG not a pickle" if change == "not a pickle" and name == "data_batch_1"
                                  else pickle.dumps(entry))
    (tree / cifar10.META).write_bytes(pickle.dumps({}))
    return tree / "data_batch_1"


def _omniglot_tree(root: Path, monkeypatch, change: str) -> Path:
    monkeypatch.setattr(omniglot, "CHARACTERS", {"images_background": 1, "images_evaluation": 1})
    monkeypatch.setenv("PLASTICBENCH_CACHE", str(root / "cache"))
    for part in omniglot.PARTS:
        folder = root / part / "Alphabet" / "character01"
        folder.mkdir(parents=True)
        for k in range(omniglot.DRAWINGS):
            Image.fromarray(np.full((105, 105), 255, np.uint8)).convert("1").save(folder / f"{k:02d}.png")
    bad = root / "images_background" / "Alphabet" / "character01" / "03.png"
    if change == "undecodable":
        bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    elif change == "JPEG named .png":
        Image.fromarray(np.full((105, 105), 255, np.uint8)).save(bad, format="JPEG")
    elif change == "wrong size":
        Image.fromarray(np.full((64, 64), 255, np.uint8)).save(bad)
    elif change == "empty file":
        bad.write_bytes(b"")
    return bad


DATA_CASES = [("cifar", c) for c in ("float pixels", "wide pixels", "float labels", "renamed test batch",
                                     "not a pickle")] + \
             [("omniglot", c) for c in ("undecodable", "JPEG named .png", "wrong size", "empty file")]


@pytest.mark.parametrize("dataset, change", DATA_CASES, ids=[f"{d}: {c}" for d, c in DATA_CASES])
def test_wrong_data_content_is_rejected_naming_the_file(tmp_path, monkeypatch, dataset, change):
    if dataset == "cifar":
        bad, load = _cifar_tree(tmp_path, monkeypatch, change), lambda: cifar10.load_cifar10(tmp_path)
    else:
        bad, load = _omniglot_tree(tmp_path, monkeypatch, change), lambda: omniglot.load_omniglot(tmp_path)
    with pytest.raises(DataCorrupt, match=str(bad)):
        load()


@pytest.mark.parametrize("case, expected", [
    ("other CIFAR copy", "read data copy 'other', not the official files"),
    ("non-reference Omniglot", "read a non-reference data copy"),
    ("non-finite training curve", "status ok but non-finite curve values: training bit_error (1 of 50 points)"),
    ("non-finite held-out curve", "status ok but non-finite curve values: held-out bit_error (1 of 2 points)"),
])
def test_report_shows_what_records_say_about_their_inputs(tmp_path, case, expected):
    extra = {"other CIFAR copy": {"data_copy": "other"},
             "non-reference Omniglot": {"data_matches_reference": False}}.get(case, {})
    records = [make_record("binary_patterns_50", "plastic", s, 0.1, curve(0.3, 0.1, 100), extra=extra) for s in (0, 1)]
    if case == "non-finite training curve":
        records[1].curves["bit_error"][3] = float("nan")
    if case == "non-finite held-out curve":
        records[1].eval_curve = {"episode": [500, 1000], "bit_error": [0.2, float("inf")]}
    for record in records:
        write_record(tmp_path / "runs", record)
    report.generate([str(tmp_path / "runs")], tmp_path / "out", SMALL)
    text = (tmp_path / "out" / "REPORT.md").read_text()
    assert expected in text
    if "non-finite" in case:
        assert "| plastic | 1 (+1 excluded) |" in text


@pytest.mark.parametrize("changed, refused", [("data_digest", "data_digest='sha256:aaa' but this run has 'other'"),
                                              ("config_hash", "belongs to another config"),
                                              ("git_commit", None), ("device", None)])
def test_resuming_with_other_inputs_is_refused_or_recorded(tmp_path, changed, refused):
    inputs = {"config_hash": "c" * 64, "data_digest": "sha256:aaa", "git_commit": "abc", "torch_version": "t",
              "device": "cpu"}
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.Adam(model.parameters())
    Checkpointer(tmp_path / "ck.pt", 4, inputs).save(model, optimizer, torch.Generator(), TrainState(seen=4))
    later = Checkpointer(tmp_path / "ck.pt", 4, {**inputs, changed: "other"})
    if refused:
        with pytest.raises(ValueError, match=f"{refused}.*delete {tmp_path / 'ck.pt'}"):
            later.restore(model, optimizer, torch.Generator())
    else:
        assert later.restore(model, optimizer, torch.Generator()).seen == 4
        assert later.resumed["differences"] == {changed: {"checkpoint": inputs[changed], "now": "other"}}


def _descendants(pid: int) -> set[int]:
    return set(descendants(pid))


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the driver's processes")
@pytest.mark.parametrize("how", [signal.SIGKILL, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)])
def test_killing_the_reproduce_driver_ends_its_training_processes(tmp_path, how):
    out = tmp_path / "grid"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    driver = subprocess.Popen([sys.executable, "-m", "benchmarks.reproduce", "--tasks", "binary_patterns_50",
                               "--budget", "smoke", "--jobs", "2", "--out-dir", str(out), "--no-report",
                               f"{BP}.episodes=1000000", "checkpoint_every=4", "progress=false",
                               f"hydra.sweep.dir={tmp_path / 'sweep'}"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(out.glob(".checkpoints/**/*.pt")) and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.2)
    training = _descendants(driver.pid)
    assert list(out.glob(".checkpoints/**/*.pt")) and training, "training never started"
    driver.send_signal(how)
    driver.wait()
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in training) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [pid for pid in training if _alive(pid)]
    for pid in left:  # do not leave them behind even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not left, f"training processes {left} outlived the killed driver"


# --- failures a user can cause: one line, the key or file named, exit status 2 ------------------------------

def _outcome(command: str, args: list[str], capsys) -> tuple[int, str]:
    """(exit status, stderr) of ``python -m benchmarks.<command> ARGS``: the hydra entry point in a subprocess,
    the argparse ones in this process (faster, same code path)."""
    if command == "run":
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PLASTICBENCH_TRACEBACK": ""}
        result = subprocess.run([sys.executable, "-m", "benchmarks.run", *args], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=300)
        return result.returncode, result.stderr
    module = {"report": report, "reproduce": reproduce}[command]
    with pytest.raises(SystemExit) as exit_info:
        module.main(args)
    return exit_info.value.code, capsys.readouterr().err


def test_command_line_failures_are_one_line_with_the_key_or_file(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PLASTICBENCH_TRACEBACK", raising=False)
    (tmp_path / "afile").write_text("x")
    write_record(tmp_path / "records", make_record("binary_patterns_50", "plastic", 0, 0.1, curve(0.3, 0.1, 100)))
    one_run = ["task=binary_patterns_50", "model=rnn", "budget=smoke", "progress=false",
               f"hydra.run.dir={tmp_path / 'hydra'}"]
    cases = [
        ("run", one_run + [f"out_dir={tmp_path / 'afile' / 'sub'}"], "a component of the path is a file"),
        ("run", one_run + [f"out_dir={loop(tmp_path)}"], "symbolic link that leads nowhere or round a loop"),
        ("run", one_run + ["seed=-1", "device=gpu", f"out_dir={tmp_path}"], "seed=-1 must be >= 0"),
        ("reproduce", ["--experiment", "nope", "--out-dir", str(tmp_path)], "--experiment 'nope'"),
        ("reproduce", ["--budget", "nope", "--out-dir", str(tmp_path)], "budget/nope"),
        ("reproduce", ["--jobs", "0"], "--jobs: '0' is not a whole number >= 1"),
        ("reproduce", ["--tasks", "omniglot", "--out-dir", str(tmp_path / "afile")], "--out-dir="),
        ("report", [str(tmp_path / "records"), "--experiment", "nope"], "--experiment 'nope'"),
        ("report", [str(tmp_path / "records"), "--out", str(tmp_path / "afile")], "--out="),
        ("report", [str(tmp_path / "records"), "--update-readme", "--readme", str(tmp_path / "afile")],
         "lacks the markers"),
        ("report", [str(tmp_path / "records"), "--update-readme"], "from the published records"),
        ("reproduce", ["--tasks", "omniglot", "--out-dir", str(tmp_path / "elsewhere"), "--update-readme"],
         "from the published records"),
    ]
    for command, args, message in cases:
        code, err = _outcome(command, args, capsys)
        lines = [line for line in err.splitlines() if "error" in line]
        assert code == 2 and message in err and "Traceback" not in err and len(lines) == 1, (args, err[-2000:])


@pytest.mark.parametrize("code, fix", [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "read-only"),
                                       (errno.EACCES, "permission denied"), (errno.ELOOP, "loop of symbolic links")])
def test_unwritable_output_is_found_before_training(tmp_path, monkeypatch, code, fix):
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(tmp_path / "o"))

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    with pytest.raises(UserError, match=f"out_dir={tmp_path / 'o'} is not a writable folder.*{fix}"):
        writable_dir(tmp_path / "o", "out_dir")


def test_a_nearly_full_disk_is_refused_before_training(tmp_path, monkeypatch):
    import shutil
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10 << 20, 10 << 20, 4096))
    with pytest.raises(UserError, match="out_dir=.*only 4096 bytes free"):
        writable_dir(tmp_path / "o", "out_dir")


@pytest.mark.parametrize("kind", ["folder", "dangling link", "link loop", "binary"])
def test_non_record_files_named_json_are_listed_not_fatal(tmp_path, kind):
    runs = tmp_path / "runs"
    write_record(runs, make_record("binary_patterns_50", "plastic", 0, 0.1, curve(0.3, 0.1, 100)))
    odd = runs / "odd.json"
    if kind == "folder":
        odd.mkdir()
    elif kind == "dangling link":
        odd.symlink_to(tmp_path / "nowhere")
    elif kind == "link loop":
        odd.symlink_to(odd)
    else:
        odd.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ValueError, match=str(odd)):
        load_record(odd)
    report.generate([str(runs)], tmp_path / "out", SMALL)
    assert f"not a run record, skipped: `{odd}`" in (tmp_path / "out" / "REPORT.md").read_text()
    assert json.loads(next(runs.rglob("*-seed0-*.json")).read_text())["seed"] == 0
