"""Run an experiment grid (tasks x models x seeds) at a budget, then write the report.

    python -m benchmarks.reproduce [--budget quick] [--experiment reproduce] [--jobs 2] [--tasks T ...]
                                   [--out-dir DIR] [--update-readme]
                                   [--launcher local|submitit_local|slurm|slurm_cpu] [OVERRIDE ...]

Records go to ``--out-dir`` (default results/runs); the report to results/ for the default folder, else to
``DIR/report`` (``benchmarks.report``'s default), so a run elsewhere never touches the repository's results.
README.md's results block is updated only with ``--update-readme`` (``tox -e reproduce`` passes it).
Every run started on this machine ends when this driver ends, even by SIGKILL (``benchmarks.lifeline``).

Each task's cells run as one hydra multirun: on the joblib launcher by default (local processes, one torch
thread each), or on SLURM through submitit (``--launcher slurm``).
Cells whose record already exists are skipped, so an interrupted reproduction resumes where it stopped.
Progress: every run prints its own line; this driver prints the grid's progress and an ETA.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from omegaconf import OmegaConf

from benchmarks.errors import UserError, command_errors, writable_dir
from benchmarks.lifeline import ENV as DRIVER_ENV
from benchmarks.progress import format_seconds
from benchmarks.run import cell_path, compose_config

CONF = Path(__file__).parent / "conf"
LAUNCHERS = ("local", "submitit_local", "slurm", "slurm_cpu")
LOCAL_LAUNCHERS = ("local", "submitit_local")  # cells run on this machine: they watch the driver's pid


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return value


def load_grid(experiment: str) -> tuple[str, dict[str, list[str]]]:
    path = CONF / "experiment" / f"{experiment}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise UserError(f"--experiment {experiment!r} is unknown; known: {known}")
    exp = OmegaConf.load(path)
    return exp.budget, {task: list(models) for task, models in exp.grid.items()}


def plan(grid: dict[str, list[str]], budget: str, out_dir: str,
         overrides: list[str] = ()) -> list[tuple[str, str, int, Path]]:
    """Every (task, model, seed) cell of the grid with the path of its record."""
    cells = []
    for task, models in grid.items():
        seeds = compose_config([f"task={task}", f"budget={budget}"]).budget.tasks[task].seeds
        for model in models:
            for seed in range(seeds):
                cfg = compose_config([f"task={task}", f"model={model}", f"budget={budget}", f"seed={seed}",
                                      f"out_dir={out_dir}", *overrides])
                cells.append((task, model, seed, cell_path(cfg)))
    return cells


class GridMonitor(threading.Thread):
    """Prints cells done / total and an ETA from the wall time of the cells finished so far."""

    def __init__(self, cells: list[tuple[str, str, int, Path]], jobs: int, interval_s: float = 30.0) -> None:
        super().__init__(daemon=True)
        self.cells, self.jobs, self.interval_s = cells, jobs, interval_s
        self.start_time = time.perf_counter()
        self.stop_event = threading.Event()

    def report(self) -> None:
        done = sum(path.exists() for *_, path in self.cells)
        elapsed = time.perf_counter() - self.start_time
        remaining = len(self.cells) - done
        eta = f"ETA ~{format_seconds(elapsed / done * remaining)}" if done else "ETA after the first cell"
        print(f"[reproduce] {done}/{len(self.cells)} cells done, elapsed {format_seconds(elapsed)}, {eta}",
              file=sys.stderr, flush=True)

    def run(self) -> None:
        while not self.stop_event.wait(self.interval_s):
            self.report()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="reproduce", help="experiment config (benchmarks/conf/experiment)")
    parser.add_argument("--budget", default=None, help="budget name (default: the experiment's)")
    parser.add_argument("--jobs", type=positive_int, default=os.cpu_count() or 1,
                        help="parallel runs, >= 1 (default: cores)")
    parser.add_argument("--out-dir", default="results/runs",
                        help="where records go (default results/runs); the report goes to DIR/report, or to "
                             "results/ for the default")
    parser.add_argument("--launcher", default="local", choices=LAUNCHERS,
                        help="hydra launcher: local (joblib processes), submitit_local, slurm (GPU), slurm_cpu")
    parser.add_argument("overrides", nargs="*", help="extra hydra overrides for every run (e.g. device=cuda)")
    parser.add_argument("--tasks", nargs="*", default=None, help="only these tasks of the grid")
    parser.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    parser.add_argument("--update-readme", action="store_true",
                        help="copy the report's headline into README.md's results block (tox -e reproduce)")
    args = parser.parse_args(argv)
    with command_errors("reproduce"):
        return reproduce(args)


def reproduce(args: argparse.Namespace) -> int:
    default_budget, grid = load_grid(args.experiment)
    budget = args.budget or default_budget
    if args.tasks:
        unknown = sorted(set(args.tasks) - set(grid))
        if unknown:
            raise UserError(f"--tasks {unknown} are not in experiment {args.experiment!r}: {sorted(grid)}")
        grid = {t: m for t, m in grid.items() if t in args.tasks}
    cells = plan(grid, budget, args.out_dir, args.overrides)  # every cell's config validated before any training
    writable_dir(args.out_dir, "--out-dir")
    print(f"[reproduce] {args.experiment} at budget {budget}: {len(cells)} cells "
          f"({sum(p.exists() for *_, p in cells)} already done), {args.jobs} parallel jobs", file=sys.stderr)
    monitor = GridMonitor(cells, args.jobs)
    monitor.start()
    failed = []
    env = {**os.environ, DRIVER_ENV: str(os.getpid())} if args.launcher in LOCAL_LAUNCHERS else None
    for task, models in grid.items():
        seeds = sorted({seed for t, _, seed, _ in cells if t == task})
        launcher = [f"hydra/launcher={args.launcher}"]
        if args.launcher == "local":
            launcher.append(f"hydra.launcher.n_jobs={args.jobs}")
        command = [sys.executable, "-m", "benchmarks.run", "--multirun", *launcher, f"task={task}",
                   f"model={','.join(models)}",
                   f"seed={','.join(map(str, seeds))}", f"budget={budget}", f"out_dir={args.out_dir}",
                   "skip_existing=true", *args.overrides]
        if subprocess.run(command, env=env).returncode != 0:
            failed.append(task)
        monitor.report()
    monitor.stop_event.set()
    missing = [(t, m, s) for t, m, s, p in cells if not p.exists()]
    if missing:
        print(f"[reproduce] {len(missing)} cells have no record: {missing}", file=sys.stderr)
    if not args.no_report:
        from benchmarks import report
        report.main([args.out_dir, *(["--update-readme"] if args.update_readme else [])])
    return 1 if failed or missing else 0


if __name__ == "__main__":
    sys.exit(main())
