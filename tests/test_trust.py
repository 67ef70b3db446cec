"""Files the harness reads are written by someone else (results folders are shared and merged): reading one never
runs its code, and a cache holds what its digest says, or is rebuilt."""
from __future__ import annotations

import json
import os
import pickle
import re
import shutil
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
from tests.test_resume import OVERRIDES, ROOT


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


def _records_with(tmp_path, change: dict, name: str = "odd.json") -> Path:
    """A folder with one good record and one whose fields were edited by someone else."""
    from benchmarks.harness.records import write_record
    from tests.test_report import curve, make_record
    runs = tmp_path / "runs"
    write_record(runs, make_record("binary_patterns_50", "plastic", 0, 0.1, curve(0.3, 0.1, 100)))
    odd = make_record("binary_patterns_50", "plastic", 1, 0.1, curve(0.3, 0.1, 100))  # another seed: no duplicate
    data = json.loads(odd.to_json()) | change
    (runs / name).write_text(json.dumps(data))
    return runs


@pytest.mark.parametrize("change, field", [
    ({"task": "../../../x/evil"}, "'task'"), ({"model": "a/b"}, "'model'"), ({"budget": ".."}, "'budget'"),
    ({"task": "ok\n# heading"}, "'task'"), ({"seed": "3"}, "'seed'"), ({"seed": -1}, "'seed'"),
    ({"final": [0.1]}, "'final'"), ({"episodes": "many"}, "'episodes'"), ({"lower_is_better": "yes"},
                                                                            "'lower_is_better'"),
    ({"primary_metric": "../loss"}, "'primary_metric'"), ({"wall_time_s": True}, "'wall_time_s'"),
])
def test_a_hostile_record_is_listed_with_its_field_and_the_rest_reported(tmp_path, change, field):
    from benchmarks.report import main as report
    runs = _records_with(tmp_path, change)
    out = tmp_path / "deep" / "out"
    report.generate([str(runs)], out, report.PUBLISHED, experiment=None)
    text = (out / "REPORT.md").read_text()
    assert "binary_patterns_50 — budget quick" in text  # the good record is still reported
    listed = [line for line in text.splitlines() if "odd.json" in line]
    assert len(listed) == 1 and field in listed[0] and listed[0].startswith("- not a run record, skipped")
    written = {p.resolve() for p in tmp_path.rglob("*") if p.is_file()}
    assert all(p.is_relative_to(out.resolve()) or p.is_relative_to(runs.resolve()) for p in written)
    assert "\n# heading" not in text


def test_a_file_name_with_a_newline_is_shown_escaped(tmp_path):
    from benchmarks.report import main as report
    runs = _records_with(tmp_path, {"seed": "x"}, name="a\n# Injected heading.json")
    report.generate([str(runs)], tmp_path / "out", report.PUBLISHED, experiment=None)
    text = (tmp_path / "out" / "REPORT.md").read_text()
    assert "\n# Injected heading" not in text and "a\\n# Injected heading.json" in text


def test_a_linked_folder_in_out_is_never_written_through(tmp_path):
    from benchmarks.harness.errors import UserError
    from benchmarks.report import folders, main as report
    runs = _records_with(tmp_path, {})
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "tables").symlink_to(elsewhere)
    with pytest.raises(UserError, match="resolves outside --out"):
        report.generate([str(runs)], out, report.PUBLISHED, experiment=None)
    assert not list(elsewhere.iterdir())
    (out / "tables").unlink()
    shutil.rmtree(out / "figures")
    (elsewhere / "keep.md").write_text("someone else's")
    (out / "figures").symlink_to(elsewhere)
    (out / folders.MANIFEST).write_text("figures/keep.md\n")  # a planted manifest names a file through the link
    folders.remove_stale(out, set())
    assert (elsewhere / "keep.md").exists()


def test_a_partial_or_quick_perf_run_never_replaces_the_published_table(tmp_path, monkeypatch, capsys):
    from benchmarks.perf import main as perf
    published = ROOT / "results" / "perf.json"
    before = published.read_bytes()
    assert perf.out_folder(perf.parse_args(["--quick", "--only", "binary50"])) == Path("outputs/perf")
    assert perf.out_folder(perf.parse_args(["--out", "~/perf"])) == Path.home() / "perf"  # ~ as a shell means it
    assert perf.out_folder(perf.parse_args(["--publish"])) == Path("results")
    for args, message in ((["--publish", "--only", "binary50"], "takes a full measurement"),
                          (["--publish", "--quick"], "takes a full measurement"),
                          (["--out", str(ROOT / "results"), "--quick"], "only a full run with --publish")):
        monkeypatch.chdir(ROOT)
        with pytest.raises(SystemExit) as exit_info:
            perf.main(args)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert published.read_bytes() == before


@pytest.mark.parametrize("override, message", [
    ("+optim.lrr=0.5", "optim.lrr is not a setting that anything reads; did you mean optim.lr?"),
    ("+model.etaa=2", "model.etaa is not a setting that anything reads; did you mean model.eta?"),
    ("+budget.tasks.binary_patterns_50.episdoes=5", "budget.tasks.binary_patterns_50.episdoes is not a setting"),
    ("+seeed=3", "seeed is not a setting that anything reads; did you mean seed?"),
])
def test_a_key_nothing_reads_is_refused_not_stored(override, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        resolve_cell(compose_config(["task=binary_patterns_50", "model=plastic", "budget=smoke", override]))


def test_two_copies_of_one_run_that_disagree_are_a_conflict_neither_used(tmp_path):
    from benchmarks.harness.records import write_record
    from benchmarks.report import main as report
    from benchmarks.report.collect import load_dirs
    from tests.test_report import curve, make_record
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, final in ((a, 0.049), (b, 0.49)):
        write_record(folder, make_record("binary_patterns_50", "plastic", 0, final, curve(0.3, 0.1, 100)))
        write_record(folder, make_record("binary_patterns_50", "plastic", 1, 0.05, curve(0.3, 0.1, 100)))
    for order in ([a, b], [b, a]):
        loaded = load_dirs([str(d) for d in order])
        assert [r.seed for _, r in loaded.records] == [1] and len(loaded.conflicts) == 1
        assert len(loaded.duplicates) == 1  # seed 1: the same in both copies, counted once
    report.generate([str(a), str(b)], tmp_path / "out", report.PUBLISHED, experiment=None)
    text = (tmp_path / "out" / "REPORT.md").read_text()
    line = next(line for line in text.splitlines() if "conflicting copies" in line)
    assert str(a) in line and str(b) in line


@pytest.mark.parametrize("change, reason", [
    ({"episodes": 123}, "trained 123 episodes but its budget 'quick' entry says 1000"),
    ({"config_hash": "0" * 64}, "does not hash to its config_hash"),
    ({"budget": "overnight"}, "its budget 'overnight' contradicts its config's 'quick'"),
    ({"final": {"bit_error": 1.7}}, "outside the metric's range [0, 1]: impossible"),
])
def test_a_record_that_contradicts_itself_is_flagged_not_pooled(tmp_path, change, reason):
    from benchmarks.report.collect import build_sections, load_dirs
    from benchmarks.report.published import load_published
    runs = _records_with(tmp_path, change)
    published = load_published()
    sections = build_sections(load_dirs([str(runs)]).records, published)
    excluded = [why for s in sections for *_, why in s.excluded]
    assert any(reason in why for why in excluded), excluded


def test_a_record_resumed_across_code_versions_is_marked(tmp_path):
    from benchmarks.report.collect import build_sections, load_dirs
    from benchmarks.report.published import load_published
    resumed = {"from_episode": 40, "differences": {"git_commit": {"checkpoint": "aaa", "now": "bbb"}}}
    runs = _records_with(tmp_path, {"extra": {"resumed": resumed}})
    sections = build_sections(load_dirs([str(runs)]).records, load_published())
    notes = [n for s in sections for n in s.notes]
    assert any("resumed from a checkpoint written by other code" in n and "seed 1 (git_commit)" in n for n in notes)


def test_a_huge_budget_is_planned_lazily():
    from benchmarks.harness.train import batch_sizes, distinct_batch_sizes
    plan = batch_sizes(10 ** 12, 1)  # a list of 10^12 sizes would not fit in memory
    assert next(plan) == 1 and distinct_batch_sizes(10 ** 12, 64) == [64]
    assert list(batch_sizes(10, 4)) == [4, 4, 2] and list(batch_sizes(10, 4, skip=2)) == [2]
    assert list(batch_sizes(10, 4, skip=3)) == [] and distinct_batch_sizes(10, 4) == [4, 2]


def test_jobs_far_above_the_cores_are_capped_and_said(tmp_path, monkeypatch, capsys):
    from benchmarks import reproduce
    seen = []
    monkeypatch.setattr(reproduce.subprocess, "run",
                        lambda cmd, env=None: seen.append(cmd) or reproduce.subprocess.CompletedProcess(cmd, 0))
    reproduce.main(["--jobs", "1000", "--tasks", "binary_patterns_50", "--budget", "smoke", "--out-dir",
                    str(tmp_path), "--no-report"])
    cores = os.cpu_count()
    assert f"--jobs 1000 capped to {cores}" in capsys.readouterr().err
    assert all(f"hydra.launcher.n_jobs={cores}" in cmd for cmd in seen)


def test_an_oversized_record_file_is_not_read(tmp_path, monkeypatch):
    from benchmarks.harness import records
    monkeypatch.setattr(records, "MAX_RECORD_BYTES", 1000)
    path = tmp_path / "big.json"
    path.write_text(" " * 2000)
    with pytest.raises(ValueError, match="big.json.*larger than any run record.*not read"):
        records.load_record(path)


def test_an_archive_that_would_expand_without_bound_is_refused(tmp_path, monkeypatch):
    import zipfile
    from benchmarks.data import archive
    monkeypatch.setattr(archive, "MAX_EXPANDED_BYTES", 10_000)
    bomb = tmp_path / "images_background.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as handle:
        handle.writestr("images_background/a.png", b"\0" * 50_000)  # compresses to a few hundred bytes
    with pytest.raises(DataCorrupt, match="would expand to 1 files, 0.0 MB.*not extracted"):
        archive.extract_tree(bomb, "images_background", tmp_path / "cache", lambda tree: "digest")
    assert not list((tmp_path / "cache" / "extracted").iterdir())


def test_the_maze_env_refuses_steps_before_reset_and_after_truncation():
    from benchmarks.envs.maze import MazeEnv
    env = MazeEnv(episode_steps=3)
    with pytest.raises(RuntimeError, match=r"step\(\) before reset\(\)"):
        env.step(0)
    env.reset(seed=0)
    for _ in range(3):
        *_, truncated, _ = env.step(0)
    assert truncated
    with pytest.raises(RuntimeError, match="after the episode was truncated at step 3"):
        env.step(0)
    env.reset()
    env.step(1)


def test_ctrl_c_is_one_line_and_exit_130(capsys):
    from benchmarks.harness.errors import command_errors
    with pytest.raises(SystemExit) as exit_info:
        with command_errors("report"):
            raise KeyboardInterrupt
    err = capsys.readouterr().err
    assert exit_info.value.code == 130 and err.count("\n") == 1 and "[report] interrupted" in err


def test_names_and_sweep_values_become_one_safe_folder_name():
    from omegaconf import OmegaConf
    from benchmarks.harness.config.schema import path_part
    assert path_part("../../../x/evil") == "_________x_evil" and path_part("a\nb") == "a_b"
    assert path_part("optim.lr=0.0001,seed=1") == "optim.lr=0.0001,seed=1" and path_part("") == "_"
    hydra = OmegaConf.to_container(OmegaConf.load(ROOT / "benchmarks" / "conf" / "config.yaml").hydra, resolve=False)
    assert "plasticbench_path:${hydra.job.override_dirname}" in hydra["sweep"]["subdir"]
    assert all(f"plasticbench_path:${{{key}}}" in hydra["run"]["dir"] for key in ("task.name", "model.name",
                                                                                   "budget.name"))


def test_a_second_order_gradient_through_the_fast_path_raises_instead_of_missing_terms():
    from plastic.miconi import PlasticRecurrentNet
    torch.manual_seed(0)
    net = PlasticRecurrentNet(8, 8, impl="fast")
    loss = (net(torch.randn(2, 12, 8))[0] ** 2).sum()
    with pytest.raises(RuntimeError, match="first-order backward only.*impl='plain'"):  # before, silently zeros
        torch.autograd.grad(loss, list(net.parameters()), create_graph=True)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_idle_workers_end_with_the_driver_within_seconds(tmp_path):
    """A run process watching the driver also ends the children it spawned (an idle pool worker never starts a
    watcher of its own): the driver killed, nothing below it is left after a few seconds."""
    import subprocess
    import sys
    import time
    from benchmarks.harness.lifeline import ENV, descendants
    driver = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    code = ("import subprocess, time; from benchmarks.harness.lifeline import watch_driver; watch_driver(); "
            "subprocess.Popen(['sleep', '60']); time.sleep(60)")
    run = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, ENV: str(driver.pid)})
    deadline = time.monotonic() + 20
    while not descendants(run.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    idle = descendants(run.pid)
    assert idle
    driver.kill()
    driver.wait()
    deadline = time.monotonic() + 5
    while (run.poll() is None or any(Path(f"/proc/{pid}").exists() and "Z" not in
                                     Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3] for pid in idle)) \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert run.poll() is not None
    alive = [pid for pid in idle if Path(f"/proc/{pid}").exists()
             and "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]]
    assert not alive, f"{alive} outlived the driver"


@pytest.mark.parametrize("text, message", [
    ("- just a list\n", "expected task entries"), ("t: 3\n", "t must be a mapping"),
    ("t:\n  metric: m\n  lower_is_better: true\n  claims: [3]\n", "claims are a list of mappings"),
    ("t: [unclosed\n", "not valid YAML"),
])
def test_a_broken_published_yaml_is_one_message_from_the_report(tmp_path, capsys, text, message):
    from benchmarks.report import main as report
    runs = _records_with(tmp_path, {})
    (tmp_path / "published.yaml").write_text(text)
    with pytest.raises(SystemExit) as exit_info:
        report.main([str(runs), "--published", str(tmp_path / "published.yaml"), "--experiment", ""])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and "Traceback" not in err


@pytest.mark.parametrize("args, message", [
    (["task=nope"], "Could not find 'task/nope' Available options in 'task': binary_patterns"),
    (["-m", "seed=range(0,x)"], "Error parsing override 'seed=range(0,x)'"),
])
def test_hydra_composition_errors_are_one_line_and_exit_2(tmp_path, args, message):
    import subprocess
    import sys
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PLASTICBENCH_TRACEBACK": "", "HYDRA_FULL_ERROR": ""}
    result = subprocess.run([sys.executable, "-m", "benchmarks.run", *args, f"hydra.run.dir={tmp_path}"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and message in lines[0], result.stderr
    assert "Config search path" not in lines[0] and "base_" not in lines[0]
