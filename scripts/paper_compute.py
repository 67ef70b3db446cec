"""Print README's table of the claims a CPU night cannot reach, with the compute each needs at the paper budget.

    python scripts/paper_compute.py [--budget overnight] [--updates 12]

A claim is listed when ``benchmarks/report/published.yaml`` makes it comparable neither at any budget nor at
``--budget``. Each model the claim involves is timed on this machine: ``benchmarks.run`` at the paper budget's
batch size for ``--updates`` optimizer updates (after the harness's own start-up; no evaluation), in a scratch
folder that is deleted afterwards. Core-hours = the paper budget's episodes x its seeds x the measured seconds per
training episode, summed over the claim's models (held-out evaluation, start-up and checkpoints not counted, so
it is a floor). Nights = core-hours / 16 (8 hours on 2 cores).

Timings vary with the host's load (this project's machine swung by 2.4x in memory bandwidth between days), so
the table prints the seconds per episode it used next to every estimate.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.harness.config import compose_config  # noqa: E402
from benchmarks.report.published import comparable_at, load_published  # noqa: E402

MODEL_KEYS = ("model", "better", "worse", "fast", "slow")


def claims_beyond(budget: str) -> list[tuple[str, dict]]:
    """(task, claim) for every verdict-bearing claim that is not comparable at ``budget`` but is at ``paper`` (a
    check judged only at the pilot, such as omniglot_bilinear's, is not left for the paper budget)."""
    out = []
    for task, spec in load_published().items():
        for claim in spec["claims"]:
            if not comparable_at(claim, budget) and comparable_at(claim, "paper"):
                out.append((task, claim))
    return out


def seconds_per_episode(task: str, model: str, batch: int, updates: int, scratch: Path) -> float:
    episodes = batch * updates
    command = [sys.executable, "-m", "benchmarks.run", f"task={task}", f"model={model}", "budget=paper", "seed=0",
               f"out_dir={scratch}", "skip_existing=false", "progress=false", f"hydra.run.dir={scratch}/hydra",
               f"budget.tasks.{task}.episodes={episodes}", f"budget.tasks.{task}.eval_every=0",
               f"budget.tasks.{task}.eval_episodes={batch}", f"budget.tasks.{task}.eval_batch_size={batch}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"timing {task}/{model} failed:\n{done.stderr[-2000:]}")
    record = next((scratch / task / model).glob("paper-seed0-*.json"))
    return json.loads(record.read_text())["extra"]["seconds_per_episode"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="overnight", help="the longest budget that runs here (default overnight)")
    parser.add_argument("--updates", type=int, default=12, help="optimizer updates timed per model (default 12)")
    args = parser.parse_args(argv)
    cost: dict[tuple[str, str], tuple[float, int]] = {}
    rows = []
    with tempfile.TemporaryDirectory(prefix="paper-compute-") as tmp:
        for task, claim in claims_beyond(args.budget):
            entry = compose_config([f"task={task}", "budget=paper"]).budget.tasks[task]
            models = list(dict.fromkeys(claim[k] for k in MODEL_KEYS if k in claim))
            per_model = []
            for model in models:
                if (task, model) not in cost:
                    scratch = Path(tmp) / f"{task}-{model}"
                    cost[(task, model)] = (seconds_per_episode(task, model, entry.batch_size, args.updates, scratch),
                                           entry.batch_size)
                per_model.append((model, *cost[(task, model)]))
            hours = sum(s for _, s, _ in per_model) * entry.episodes * entry.seeds / 3600
            rows.append([task, claim["id"], f"{entry.episodes:,} episodes x {entry.seeds} seeds, batch {entry.batch_size}",
                         ", ".join(f"{m} {s:.3g}" for m, s, _ in per_model), f"{hours:,.0f}", f"{hours / 16:,.1f}"])
    header = ["Task", "Claim", "Paper budget (benchmarks/conf/budget/paper.yaml)", "Seconds per episode here",
              "Core-hours", "Nights on 2 cores"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
