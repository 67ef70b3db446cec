"""Where each command writes by default, the logger files, reproduce launching only unfinished cells, the
experiment group, --help, and the records' environment."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import reproduce
from benchmarks.harness.config import compose_config
from benchmarks.harness.loggers import CSV_COLUMNS
from benchmarks.harness.records import load_record
from benchmarks.run import outside_experiment, run

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ["task=binary_patterns_50", "model=plastic", "budget=smoke"]


def snapshot(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*")} if folder.exists() else {}


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "PLASTICBENCH_JOBS": "1"}
    result = subprocess.run([sys.executable, "-m", "benchmarks.run", *args], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_run_and_sweep_write_under_outputs_of_the_working_folder(tmp_path):
    results_before, repo_outputs = snapshot(ROOT / "results"), (ROOT / "outputs").exists()
    run_cli([*SMOKE, "progress=false"], tmp_path)
    run_cli(["-m", *SMOKE, "optim.lr=1e-3,1e-4", "progress=false"], tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"outputs"}
    records = sorted((tmp_path / "outputs" / "runs").rglob("*.json"))
    assert len(records) == 3  # the default lr and the two swept ones: three config hashes
    single = list((tmp_path / "outputs" / "hydra" / "runs" / "binary_patterns_50" / "plastic").iterdir())
    assert len(single) == 1 and (single[0] / "metrics.csv").exists()
    jobs = sorted(p.name for p in (tmp_path / "outputs" / "hydra" / "multirun").glob("*/*") if p.is_dir())
    assert len(jobs) == 2 and "optim.lr=0.001" in jobs[0] and "optim.lr=0.0001" in jobs[1]  # named by overrides
    assert snapshot(ROOT / "results") == results_before and (ROOT / "outputs").exists() == repo_outputs


def test_experiment_sweep_runs_the_grid_cells_only(tmp_path):
    sweep = ["task=binary_patterns_50,cue_reward", "model=plastic,duan_rnn_gradient", "seed=0"]  # win over the file's
    result = run_cli(["-m", "experiment=reproduce", "budget=smoke", f"out_dir={tmp_path / 'runs'}", *sweep], tmp_path)
    made = sorted(p.relative_to(tmp_path / "runs").parts[:2] for p in (tmp_path / "runs").rglob("*.json"))
    assert made == [("binary_patterns_50", "plastic"), ("cue_reward", "duan_rnn_gradient")]
    assert "[cue_reward/plastic] not in experiment 'reproduce': nothing to run" in result.stdout


def test_experiment_file_is_one_grid_for_hydra_and_reproduce():
    budget, grid = reproduce.load_grid("duan")
    cfg = compose_config(["experiment=duan"])
    assert budget == cfg.budget.name == "paper" and grid == {t: list(m) for t, m in cfg.experiment.grid.items()}
    inside = compose_config(["experiment=duan", "task=regression", "model=maml_mlp"])
    outside = compose_config(["experiment=duan", "task=cue_reward", "model=maml_mlp", "progress=false"])
    assert not outside_experiment(inside) and outside_experiment(outside)
    assert not outside_experiment(compose_config(SMOKE))


def test_help_lists_public_names_only(tmp_path):
    text = run_cli(["--help"], tmp_path).stdout
    assert "model: duan_lstm_gradient" in text and "experiment: duan" in text and "logger: csv, tensorboard" in text
    assert "base_" not in text and "task_model" not in text


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("csv")
    cfg = compose_config([*SMOKE, f"out_dir={tmp / 'runs'}", f"log_dir={tmp / 'logs'}", "progress=false",
                          "budget.tasks.binary_patterns_50.eval_every=20"])
    return run(cfg), tmp


def test_csv_logger_holds_curves_lr_memory_and_wall_time(csv_run):
    record, tmp = csv_run
    with (tmp / "logs" / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    train = {r["name"] for r in rows if r["split"] == "train"}
    assert {"loss", "bit_error", "lr", "update_peak_mb"} <= train
    evals = [(int(r["episode"]), float(r["value"])) for r in rows if r["split"] == "eval" and r["name"] == "bit_error"]
    assert [e for e, _ in evals] == record.eval_curve["episode"] == [20, 40]
    assert evals[-1][1] == pytest.approx(record.final["bit_error"])
    lr = {float(r["value"]) for r in rows if r["name"] == "lr"}
    assert lr == {record.extra["lr"]}
    times = [float(r["wall_time_s"]) for r in rows if r["split"] == "train" and r["name"] == "loss"]
    assert times == sorted(times) and times[-1] > 0


def test_records_hold_versions_and_machine(csv_run):
    record, tmp = csv_run
    stored = load_record(next((tmp / "runs").rglob("*.json")))
    assert set(stored.environment) >= {"python", "numpy", "torch", "cpu", "gpu", "host"}
    assert stored.environment["torch"] and stored.environment["cpu"] and stored.environment["gpu"] is None


def test_tensorboard_logger_writes_readable_events(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    cfg = compose_config([*SMOKE, f"out_dir={tmp_path / 'runs'}", "logger=tensorboard", "progress=false"])
    record = run(cfg)
    folders = list((tmp_path / "runs").rglob("tensorboard"))  # no hydra, no log_dir: beside the record
    assert len(folders) == 1 and folders[0].parent.name.endswith(".logs")
    events = EventAccumulator(str(folders[0]))
    events.Reload()
    assert {"train/loss", "train/lr", "eval/bit_error"} <= set(events.Tags()["scalars"])
    assert events.Scalars("eval/bit_error")[-1].value == pytest.approx(record.final["bit_error"], rel=1e-6)
    assert events.Scalars("train/loss")[-1].step == record.episodes


def test_reproduce_launches_only_unfinished_cells(tmp_path, monkeypatch):
    out = tmp_path / "runs"
    cells = reproduce.plan({"binary_patterns_50": ["plastic", "rnn"]}, "smoke", str(out))
    done = run(compose_config([*SMOKE, "seed=0", f"out_dir={out}", f"log_dir={tmp_path / 'logs'}", "progress=false"]))
    assert done.status == "ok"
    assert reproduce.launches(cells) == [("binary_patterns_50", ["plastic"], [1]),
                                         ("binary_patterns_50", ["rnn"], [0, 1])]
    commands = []
    monkeypatch.setattr(reproduce.subprocess, "run", lambda cmd, env=None: commands.append(cmd) or
                        subprocess.CompletedProcess(cmd, 0))
    monkeypatch.chdir(tmp_path)
    reproduce.main(["--budget", "smoke", "--tasks", "binary_patterns_50", "--out-dir", str(out), "--no-report"])
    launched = [(next(a for a in c if a.startswith("model=")), next(a for a in c if a.startswith("seed=")))
                for c in commands]
    assert launched == [("model=plastic", "seed=1"), ("model=plastic_shared,rnn,lstm", "seed=0,1")]
    assert all("hydra/hydra_logging=disabled" in c and "progress=false" in c for c in commands)
    # hydra's job folders go under the folder given, not into the cwd's outputs/
    assert all(any(a.startswith(f"hydra.sweep.dir={out / 'hydra' / 'binary_patterns_50'}-") for a in c)
               for c in commands)
    assert reproduce.job_folder("results/runs", "binary_patterns_50") == []  # the default: hydra's outputs/hydra


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "benchmarks" / "conf" / "experiment").glob("*.yaml")))
def test_experiment_sweep_params_cover_its_grid(name):
    from omegaconf import OmegaConf
    raw = OmegaConf.load(ROOT / "benchmarks" / "conf" / "experiment" / f"{name}.yaml")
    params, grid = raw.hydra.sweeper.params, raw.experiment.grid
    fix = f"benchmarks/conf/experiment/{name}.yaml: list every task and model of experiment.grid in hydra.sweeper.params"
    assert set(params.task.split(",")) == set(grid), fix
    assert set(params.model.split(",")) == {m for models in grid.values() for m in models}, fix


def test_memory_bound_tasks_are_the_wide_plastic_layers(tmp_path):
    bound = {task: reproduce.memory_bound(reproduce.plan({task: ["plastic"]}, "smoke", str(tmp_path))[0])
             for task in ("image_memory", "binary_patterns", "binary_patterns_50")}
    assert bound == {"image_memory": True, "binary_patterns": True, "binary_patterns_50": False}
    omniglot = reproduce.plan({"omniglot": ["plastic_shared_head"]}, "smoke", str(tmp_path))[0]
    assert not reproduce.memory_bound(omniglot)


def test_run_paired_puts_memory_bound_launches_beside_the_others_never_beside_each_other():
    import threading
    import time
    events, running, lock = [], {"memory": 0, "procs": 0}, threading.Lock()
    peak = {"memory": 0, "procs": 0}
    started, memory_over = threading.Event(), threading.Event()

    def launch(task, models, seeds, n_jobs):
        kind = "memory" if task.startswith("cifar") else "compute"
        with lock:
            events.append((task, n_jobs, kind, running["memory"] > 0))
            running["procs"] += n_jobs
            running["memory"] += kind == "memory"
            peak.update({k: max(peak[k], running[k]) for k in peak})
        if task == "pat_a":
            started.set()
        if task == "cifar_a":  # the first memory-bound launch lasts until a compute-bound one has started
            assert started.wait(timeout=30)
        if task == "pat_c":  # this one lasts until the memory-bound launches are over
            assert memory_over.wait(timeout=30)
        time.sleep(0.01)
        with lock:
            running["procs"] -= n_jobs
            running["memory"] -= kind == "memory"
            if task == "cifar_b":
                memory_over.set()

    todo = [("cifar_a", ["m"], [0, 1]), ("pat_a", ["m"], [0]), ("cifar_b", ["m"], [0]),
            ("pat_b", ["m"], [0, 1]), ("pat_c", ["m"], [0]), ("pat_d", ["m"], [0]), ("pat_e", ["m"], [0])]
    reproduce.run_paired(todo, {"cifar_a", "cifar_b"}, jobs=2, memory_jobs=1, launch=launch)
    assert sorted(e[0] for e in events) == sorted(t[0] for t in todo)  # every launch ran once
    assert peak == {"memory": 1, "procs": 2}  # memory-bound launches never side by side, never above --jobs
    assert all(n == 1 for task, n, kind, _ in events if kind == "memory")
    # compute-bound launches ran beside a memory-bound one on the remaining process, and took both once it was done
    beside = [(n, memory_running) for task, n, kind, memory_running in events if kind == "compute"]
    assert (1, True) in beside and (2, False) in beside
    assert all(n == 1 for n, memory_running in beside if memory_running)
    # one process, or no limit on memory-bound cells (the default): everything one after another, in order
    started.set()
    memory_over.set()
    for jobs, memory_jobs in ((1, 1), (2, 2)):
        events.clear()
        reproduce.run_paired(todo, {"cifar_a", "cifar_b"}, jobs=jobs, memory_jobs=memory_jobs, launch=launch)
        assert [e[0] for e in events] == [t[0] for t in todo]
        assert all(e[1] == jobs for e in events)
    # only memory-bound launches: one after another, on at most memory_jobs processes
    events.clear()
    reproduce.run_paired(todo[:1], {"cifar_a"}, jobs=2, memory_jobs=1, launch=launch)
    assert [e[:2] for e in events] == [("cifar_a", 1)]


def test_reproduce_runs_a_memory_bound_task_beside_a_compute_bound_one(tmp_path, monkeypatch, capsys):
    import threading
    both = threading.Event()
    commands = []

    def fake(cmd, env=None):
        commands.append(cmd)
        if len(commands) == 2:
            both.set()
        assert both.wait(timeout=60), "the second launch did not start while the first was running"
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(reproduce.subprocess, "run", fake)
    monkeypatch.setattr(reproduce.os, "cpu_count", lambda: 2)
    reproduce.main(["--budget", "smoke", "--tasks", "binary_patterns_50", "image_memory", "--jobs", "2",
                    "--memory-jobs", "1", "--out-dir", str(tmp_path / "runs"), "--no-report"])
    jobs = {next(a for a in c if a.startswith("task=")): next(a for a in c if a.startswith("hydra.launcher.n_jobs="))
            for c in commands}
    assert jobs == {"task=image_memory": "hydra.launcher.n_jobs=1", "task=binary_patterns_50": "hydra.launcher.n_jobs=1"}
    assert "memory-bound cells (image_memory) run at most 1 at a time" in capsys.readouterr().err


def test_grid_eta_prices_cells_by_their_training_time_not_by_a_resumed_cell_s_minutes(tmp_path, monkeypatch, capsys):
    from types import SimpleNamespace
    cells = reproduce.plan({"binary_patterns_50": ["plastic", "rnn"]}, "smoke", str(tmp_path))
    assert len(cells) == 4
    done = {cells[0].record_path}  # finished by an earlier invocation: not this one's evidence
    monkeypatch.setattr(reproduce, "finished", lambda cell: cell.record_path in done)
    monkeypatch.setattr(reproduce, "load_record", lambda path: SimpleNamespace(
        wall_time_s=3600.0, final={"bit_error": 0.1}, primary_metric="bit_error", status="ok"))
    monitor = reproduce.GridMonitor(cells, jobs=2)
    assert monitor.before == 1 and monitor.eta_s() is None
    done.add(cells[1].record_path)  # resumed: minutes here, but its record says an hour of training
    monitor.poll()
    assert monitor.eta_s() == pytest.approx(2 * 3600.0 / 2)  # two cells left, an hour each, two processes
    assert "2/4 cells" in capsys.readouterr().err


def test_reproduce_does_not_limit_memory_bound_cells_unless_asked(tmp_path, monkeypatch, capsys):
    commands = []
    monkeypatch.setattr(reproduce.subprocess, "run", lambda cmd, env=None: commands.append(cmd) or
                        subprocess.CompletedProcess(cmd, 0))
    monkeypatch.setattr(reproduce.os, "cpu_count", lambda: 2)
    reproduce.main(["--budget", "smoke", "--tasks", "binary_patterns_50", "image_memory", "--jobs", "2",
                    "--out-dir", str(tmp_path / "runs"), "--no-report"])
    assert [next(a for a in c if a.startswith("hydra.launcher.n_jobs=")) for c in commands] == \
        ["hydra.launcher.n_jobs=2"] * 2
    assert "memory-bound" not in capsys.readouterr().err
