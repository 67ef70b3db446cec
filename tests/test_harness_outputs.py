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
