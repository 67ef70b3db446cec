"""Run an experiment grid (tasks x models x seeds) at a budget, then write the report.

    python -m benchmarks.reproduce [--budget quick] [--experiment reproduce] [--jobs 2] [--memory-jobs 1] [--tasks T ...]
                                   [--out-dir DIR] [--update-readme]
                                   [--launcher local|submitit_local|slurm|slurm_cpu] [OVERRIDE ...]

Records go to a fresh folder, ``outputs/reproduce/<experiment>/<budget>/<date>-<commit>/``, so that the grid is
trained again and set beside the published records: a re-run agreement table (``agreement.md`` in that folder,
``benchmarks.report.agreement``) and a summary on the terminal say, cell by cell, whether this machine reproduced
the published numbers, and whether every verdict comes out the same. A rerun after an interruption resumes the
newest such folder of the same commit that has not finished (a finished one holds ``.reproduce-complete``);
otherwise a new folder is started. ``--out-dir DIR`` chooses the folder (its cells that have a record are not
relaunched). ``--publish`` writes into the committed ``results/runs`` instead (skipping cells that have a record):
the maintainers' publishing runs (``tox -e overnight``) pass it. The report goes to results/ for results/runs,
else to ``DIR/report``; README.md's results block is updated only with ``--update-readme``, from results/runs.
Every run started on this machine ends when this driver ends, even by SIGKILL (``benchmarks.harness.lifeline``).

Each task's cells run as one hydra multirun: on the joblib launcher by default (local processes, one torch
thread each), or on SLURM through submitit (``--launcher slurm``). On the local launcher, memory-bound cells (tasks
whose ``Task.memory_bound`` says so: CIFAR, 1000-bit patterns) run at most ``--memory-jobs`` at a time, beside the
compute-bound tasks' cells rather than beside each other (``run_paired``; default: no limit, as measured on this
machine at batch 1 the pairing gained nothing).
Cells whose record already exists are never launched, so an interrupted reproduction resumes where it stopped.
Progress: on the local launcher one line per finished cell with the grid's count and an ETA from the cells this
invocation ran (runs on SLURM print their own progress into their job logs).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from benchmarks.harness.config import CONF, TASK_HARNESS_FIELDS, Cell, compose_config, resolve_cell
from benchmarks.harness.errors import UserError, command_errors, writable_dir
from benchmarks.harness.lifeline import ENV as DRIVER_ENV
from benchmarks.harness.progress import format_seconds
from benchmarks.harness.records import current_record, git_commit, load_record
from benchmarks.tasks import lookup

DEFAULT_OUT_DIR = "results/runs"  # the published records: written only with --publish
FRESH_ROOT = Path("outputs") / "reproduce"
COMPLETE = ".reproduce-complete"  # written into a fresh folder once every cell of its grid has a record
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
    """The experiment's default budget and grid, from the same file ``plasticbench-run -m experiment=NAME`` uses."""
    path = CONF / "experiment" / f"{experiment}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise UserError(f"--experiment {experiment!r} is unknown; known: {known}")
    cfg = compose_config([f"experiment={experiment}"])
    return cfg.budget.name, {task: list(models) for task, models in cfg.experiment.grid.items()}



def plan(grid: dict[str, list[str]], budget: str, out_dir: str, overrides: list[str] = ()) -> list[Cell]:
    """Every (task, model, seed) cell of the grid, resolved (and so validated) before anything trains."""
    cells = []
    for task, models in grid.items():
        seeds = compose_config([f"task={task}", f"budget={budget}"]).budget.tasks[task].seeds
        for model in models:
            for seed in range(seeds):
                cfg = compose_config([f"task={task}", f"model={model}", f"budget={budget}", f"seed={seed}",
                                      f"out_dir={out_dir}", *overrides])
                cells.append(resolve_cell(cfg))
    return cells


def finished(cell: Cell) -> bool:
    """A record that a re-run would not redo (``records.current_record``)."""
    return current_record(cell) is not None


def launches(cells: list[Cell]) -> list[tuple[str, list[str], list[int]]]:
    """The hydra multiruns that train exactly the unfinished cells: per task, the models that miss the same seeds
    share one multirun (a multirun is a product of models and seeds)."""
    todo: dict[str, dict[str, list[int]]] = {}
    for cell in cells:
        if not finished(cell):
            todo.setdefault(cell.task, {}).setdefault(cell.model, []).append(cell.seed)
    out = []
    for task, by_model in todo.items():
        groups: dict[tuple[int, ...], list[str]] = {}
        for model, seeds in by_model.items():
            groups.setdefault(tuple(seeds), []).append(model)
        out += [(task, models, list(seeds)) for seeds, models in groups.items()]
    return out


def memory_bound(cell: Cell) -> bool:
    """Whether the cell's task streams more than a core's cache each step (``Task.memory_bound``)."""
    task_cfg = cell.config["task"]
    task_cls, config_cls = lookup(task_cfg["kind"])
    return task_cls.memory_bound(config_cls(**{k: v for k, v in task_cfg.items() if k not in TASK_HARNESS_FIELDS}))


def run_paired(todo: list[tuple[str, list[str], list[int]]], bound: set[str], jobs: int, memory_jobs: int,
               launch: Callable[[str, list[str], list[int], int], None]) -> None:
    """Run the launches on ``jobs`` local processes, at most ``memory_jobs`` of them memory-bound (tasks in
    ``bound``), the memory-bound ones beside the compute-bound ones.

    Where two memory-bound cells side by side share a memory bus and slow each other (measured once here: CIFAR at
    batch 1, 0.57 s an episode alone and 1.5 s each beside a second one; not seen again at the pilot's code, README
    "Budgets"), ``memory_jobs < jobs`` runs the memory-bound launches one after another on ``memory_jobs``
    processes and, at the same time, the others on the remaining ``jobs - memory_jobs``; once the memory-bound ones
    are done, later compute-bound launches take every process. With ``memory_jobs >= jobs`` (the default) or only
    one kind of task, the launches run one after another in their order, memory-bound ones on at most
    ``memory_jobs`` processes. Each launch is ``launch(task, models, seeds, n_jobs)``, which blocks until its
    multirun ends."""
    memory = [item for item in todo if item[0] in bound]
    compute = [item for item in todo if item[0] not in bound]
    if not memory or not compute or memory_jobs >= jobs:
        for task, models, seeds in todo:
            launch(task, models, seeds, min(memory_jobs, jobs) if task in bound else jobs)
        return
    memory_done = threading.Event()

    def memory_stream() -> None:
        try:
            for task, models, seeds in memory:
                launch(task, models, seeds, memory_jobs)
        finally:
            memory_done.set()

    threading.Thread(target=memory_stream, daemon=True).start()
    for task, models, seeds in compute:
        launch(task, models, seeds, jobs if memory_done.is_set() else jobs - memory_jobs)
    memory_done.wait()


class GridMonitor(threading.Thread):
    """One line per cell as its record appears (status, metric, training time) with the grid's count and an ETA.

    The ETA prices each unfinished cell at the mean training time (``wall_time_s``, every resumed part included) of
    the finished cells of its task that this invocation ran (of any task when none of its own has finished), over
    ``jobs`` processes: a cell resumed near its end, which took minutes here, does not make a fresh one of hours
    look short."""

    def __init__(self, cells: list[Cell], interval_s: float = 5.0, jobs: int = 1) -> None:
        super().__init__(daemon=True)
        self.cells, self.interval_s, self.jobs = cells, interval_s, jobs
        self.start_time = time.perf_counter()
        self.seen = {cell.record_path for cell in cells if finished(cell)}
        self.before = len(self.seen)
        self.trained: dict[str, list[float]] = {}  # task -> training seconds of the cells this invocation finished
        self.stop_event = threading.Event()
        self.lock = threading.Lock()  # the driver polls once more after the launches, beside this thread

    def poll(self) -> None:
        with self.lock:
            for cell in self.cells:
                if cell.record_path not in self.seen and finished(cell):
                    self.seen.add(cell.record_path)
                    record = load_record(cell.record_path)
                    self.trained.setdefault(cell.task, []).append(float(record.wall_time_s))
                    print(f"[reproduce] {self.counts()} | {cell.label}: {_outcome(record)}",
                          file=sys.stderr, flush=True)

    def eta_s(self) -> float | None:
        """Seconds left by the finished cells' training times, or None before this invocation finished one."""
        every = [t for times in self.trained.values() for t in times]
        if not every:
            return None
        left = [cell for cell in self.cells if cell.record_path not in self.seen]
        mean = {task: sum(times) / len(times) for task, times in self.trained.items()}
        return sum(mean.get(cell.task, sum(every) / len(every)) for cell in left) / max(self.jobs, 1)

    def counts(self) -> str:
        done, eta = len(self.seen), self.eta_s()
        elapsed = time.perf_counter() - self.start_time
        eta_text = f"ETA ~{format_seconds(eta)}" if eta is not None else "ETA after this run's first cell"
        return f"{done}/{len(self.cells)} cells, elapsed {format_seconds(elapsed)}, {eta_text}"

    def run(self) -> None:
        while not self.stop_event.wait(self.interval_s):
            self.poll()


def _outcome(record: Any) -> str:
    value = record.final.get(record.primary_metric, float("nan"))
    return f"{record.status}, {record.primary_metric} {value:.4g}, trained {format_seconds(record.wall_time_s)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reproduce", description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="reproduce", help="experiment config (benchmarks/conf/experiment)")
    parser.add_argument("--budget", default=None, help="budget name (default: the experiment's)")
    parser.add_argument("--jobs", type=positive_int, default=os.cpu_count() or 1,
                        help="parallel runs, >= 1 (default: cores)")
    parser.add_argument("--memory-jobs", type=positive_int, default=None,
                        help="at most this many memory-bound cells (CIFAR, 1000-bit patterns) at once on the local "
                             "launcher, beside the compute-bound tasks' cells (default: --jobs, no limit)")
    parser.add_argument("--out-dir", default=None,
                        help="where records go (default: a fresh folder under outputs/reproduce/, resumed when "
                             "unfinished); the report goes to DIR/report")
    parser.add_argument("--publish", action="store_true",
                        help="write the records into the committed results/runs (skips cells that have a record) "
                             "and the report into results/; for the maintainers' publishing runs")
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


def job_folder(out_dir: str, task: str) -> list[str]:
    """Hydra's job folders (configs, logs, logger files) of one task's sweep: hydra's default, outputs/hydra/, for
    the default records folder (results/ holds only what is published); under ``<out-dir>/hydra/`` for any other,
    so a command given a folder writes only there."""
    if Path(out_dir).resolve() == Path(DEFAULT_OUT_DIR).resolve():
        return []
    return [f"hydra.sweep.dir={Path(out_dir) / 'hydra' / task}-{time.strftime('%Y-%m-%d_%H-%M-%S')}"]


def commit_tag() -> str:
    commit = git_commit()
    return commit[:12] + ("-dirty" if commit.endswith("+dirty") else "")


def fresh_folder(experiment: str, budget: str, root: Path | None = None) -> Path:
    """The newest unfinished folder of this commit under root/<experiment>/<budget>/ (root: outputs/reproduce; an
    interrupted run resumes there), else a new one named <date>-<commit>[-k]."""
    base, tag = (root or FRESH_ROOT) / experiment / budget, commit_tag()
    mine = sorted((p for p in base.glob(f"*-{tag}*") if p.is_dir() and _tag_of(p.name) == tag), key=lambda p: p.name)
    unfinished = [p for p in mine if not (p / COMPLETE).exists()]
    if unfinished:
        return unfinished[-1]
    name = f"{time.strftime('%Y-%m-%d')}-{tag}"
    folder, k = base / name, 2
    while folder.exists():
        folder, k = base / f"{name}-{k}", k + 1
    return folder


def _tag_of(name: str) -> str:
    """The commit tag of a folder name <YYYY-MM-DD>-<tag>[-k]."""
    rest = name[11:]
    head, _, last = rest.rpartition("-")
    return head if last.isdigit() and head else rest


def out_dir_of(args: argparse.Namespace, budget: str) -> str:
    if args.publish and args.out_dir is not None:
        raise UserError("--publish writes results/runs: give it or --out-dir, not both")
    if args.publish:
        return DEFAULT_OUT_DIR
    if args.out_dir is not None:
        return str(Path(args.out_dir).expanduser())  # "~" means what a shell means
    return str(fresh_folder(args.experiment, budget))


def reproduce(args: argparse.Namespace) -> int:
    default_budget, grid = load_grid(args.experiment)
    budget = args.budget or default_budget
    if args.tasks:
        unknown = sorted(set(args.tasks) - set(grid))
        if unknown:
            raise UserError(f"--tasks {unknown} are not in experiment {args.experiment!r}: {sorted(grid)}")
        grid = {t: m for t, m in grid.items() if t in args.tasks}
    out_dir = out_dir_of(args, budget)
    cores = os.cpu_count() or 1
    if args.launcher in LOCAL_LAUNCHERS and args.jobs > cores:
        print(f"[reproduce] --jobs {args.jobs} capped to {cores}, this machine's cores: more training processes than "
              "cores only share them, each holding its own memory", file=sys.stderr, flush=True)
        args.jobs = cores
    # the experiment's own run settings (its file's top-level keys, e.g. the pilot's compile and checkpoint_every)
    # apply here as in ``plasticbench-run -m experiment=NAME``; the command line's overrides come after them
    args.overrides = [f"experiment={args.experiment}", *args.overrides]
    cells = plan(grid, budget, out_dir, args.overrides)  # every cell's config validated before any training
    writable_dir(out_dir, "--out-dir")
    if args.update_readme and not args.no_report:  # refused before hours of training, not after
        from benchmarks.report.folders import check_readme_source
        check_readme_source([out_dir], "README.md")
    monitor = GridMonitor(cells, jobs=args.jobs)
    print(f"[reproduce] {args.experiment} at budget {budget} into {out_dir}: {len(cells)} cells, "
          f"{len(cells) - monitor.before} to train ({monitor.before} already have a record there, not relaunched), "
          f"{args.jobs} parallel jobs", file=sys.stderr, flush=True)
    monitor.start()
    failed = []
    env = {**os.environ, DRIVER_ENV: str(os.getpid())} if args.launcher in LOCAL_LAUNCHERS else None
    bound = {cell.task for cell in cells if memory_bound(cell)}
    memory_jobs = min(args.memory_jobs or args.jobs, args.jobs)
    if bound and args.launcher == "local" and memory_jobs < args.jobs:
        print(f"[reproduce] memory-bound cells ({', '.join(sorted(bound))}) run at most {memory_jobs} at a time, "
              f"beside the others", file=sys.stderr, flush=True)

    def launch(task: str, models: list[str], seeds: list[int], n_jobs: int) -> None:
        launcher = [f"hydra/launcher={args.launcher}"]
        if args.launcher == "local":  # one line per cell from the monitor instead of each run's progress lines
            launcher += [f"hydra.launcher.n_jobs={n_jobs}", "hydra/hydra_logging=disabled", "progress=false"]
        command = [sys.executable, "-m", "benchmarks.run", "--multirun", *launcher, f"task={task}",
                   f"model={','.join(models)}", f"seed={','.join(map(str, seeds))}", f"budget={budget}",
                   f"out_dir={out_dir}", "skip_existing=true", *job_folder(out_dir, task), *args.overrides]
        if subprocess.run(command, env=env).returncode != 0:
            failed.append(task)
        monitor.poll()

    todo = launches(cells)
    if args.launcher == "local":
        run_paired(todo, bound, args.jobs, memory_jobs, launch)
    else:  # a cluster's scheduler places the jobs
        for task, models, seeds in todo:
            launch(task, models, seeds, args.jobs)
    monitor.stop_event.set()
    monitor.poll()
    missing = [(c.task, c.model, c.seed) for c in cells if not c.record_path.exists()]
    if missing:
        print(f"[reproduce] {len(missing)} cells have no record: {missing}", file=sys.stderr)
    elif not args.publish and args.out_dir is None and not args.tasks:
        (Path(out_dir) / COMPLETE).write_text(f"{len(cells)} cells\n")
    if not args.no_report:
        from benchmarks.report import main as report
        report.main([out_dir, "--experiment", args.experiment, *(["--update-readme"] if args.update_readme else [])])
    if Path(out_dir).resolve() != Path(DEFAULT_OUT_DIR).resolve():
        from benchmarks.report import agreement
        rows, path = agreement.write(out_dir, DEFAULT_OUT_DIR)
        agreement.report_to_terminal(rows, path)
    return 1 if failed or missing else 0


if __name__ == "__main__":
    sys.exit(main())
