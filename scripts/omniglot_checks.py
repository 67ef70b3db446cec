"""Checks on a trained Omniglot network, to tell a harness bug from a failure to reach the paper's accuracy.

    python scripts/omniglot_checks.py --checkpoint CK.pt --out DIR [--episodes 3000] OVERRIDE ...
    e.g. OVERRIDE = experiment=pilot task=omniglot model=plastic_shared_head budget=pilot seed=1

The overrides name the cell whose checkpoint (``checkpoint_every``) is read; its config hash must be the
checkpoint's. The network is scored, on the same number of fresh episodes each, under:

- ``held_out``: the harness's protocol (held-out classes, the query a drawing other than its class's labelled one,
  every class rotated by a random multiple of 90 degrees);
- ``training_classes``: the same on the training classes (a gap to ``held_out`` is overfitting; none means the
  limit is in what training reached, so the reference's split pitfall cannot explain a gap to the paper);
- ``reference_sampling``: held-out, the query drawn from all 20 drawings as the reference code draws it, so one
  query in 20 is the very drawing shown with its label;
- ``no_rotation``: held-out, no rotation;
- ``identical_query``: held-out, the query always the very drawing shown with its label (the plastic readout's
  ceiling: a network that stores and matches what it was shown scores 100% here, so a gap elsewhere lies in how
  well its features generalise across drawings, not in the Hebbian memory).

- ``without_w``: held-out, the head's fixed weights w zeroed (the readout from the plastic trace alone).

Beside them, the backbone's features on held-out drawings: mean and spread of their norms and the fraction of
saturated units (|f| > 0.95); a dot-product readout favours classes whose features are longer unless the norms
are alike.

``held_out``, ``reference_sampling``, ``identical_query`` and ``without_w`` draw the same episodes (the same seed), so they differ
only in the query.

Each line gives the accuracy with its Wilson 95% interval; ``DIR/omniglot_checks.json`` keeps them with the
network's learned eta and alpha and the checkpoint's episode count.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.harness.atomic import atomic_write_text  # noqa: E402
from benchmarks.harness.config import compose_config, resolve_cell  # noqa: E402
from benchmarks.harness.errors import UserError, command_errors, writable_dir  # noqa: E402
from benchmarks.harness.safe_load import load_torch  # noqa: E402
from benchmarks.harness.train import build_task  # noqa: E402
from benchmarks.tasks.omniglot import DRAWINGS, FewShotBatch, Omniglot, sample_episodes  # noqa: E402

BATCH = 500


def wilson(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    p = correct / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


def with_shown_query(batch: FewShotBatch, same: torch.Tensor) -> FewShotBatch:
    """The batch with the query of the episodes in ``same`` (B,) replaced by its class's labelled drawing. The
    reference draws the query from all 20 drawings of its class: with probability 1/20 the labelled one itself
    (same rotation), otherwise one of the other 19 uniformly, which is what the harness draws."""
    positions = (batch.support_labels == batch.query_labels).float().argmax(1)  # where the query's class was shown
    shown = batch.support[torch.arange(batch.batch_size), positions]  # (B, 1, S, S)
    query = torch.where(same[:, None, None, None, None], shown.unsqueeze(1), batch.query)
    return replace(batch, query=query)


def score(task: Omniglot, model: torch.nn.Module, episodes: int, seed: int, classes: torch.Tensor, rotate: bool,
          shown_query: float = 0.0) -> dict[str, float]:
    """Accuracy over ``episodes`` fresh episodes; ``shown_query``: the probability that an episode's query is
    its class's labelled drawing (drawn from a stream of its own, so the episodes are those of ``shown_query=0``)."""
    generator, swaps = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1)
    correct = done = 0
    with torch.no_grad():
        while done < episodes:
            n = min(BATCH, episodes - done)
            batch = sample_episodes(task.images, classes, n, task.config.n_way, rotate, task.config.invert, generator)
            if shown_query > 0:
                batch = with_shown_query(batch, torch.rand(n, generator=swaps) < shown_query)
            _, metrics = task.episode_loss(model, batch)
            correct += round(metrics["accuracy"] * n)
            done += n
    low, high = wilson(correct, episodes)
    return {"accuracy": correct / episodes, "ci95": [low, high], "episodes": episodes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/omniglot_checks.py", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="a checkpoint of the cell the overrides name")
    parser.add_argument("--out", required=True, help="folder for omniglot_checks.json")
    parser.add_argument("--episodes", type=int, default=3000, help="episodes per check (default 3000)")
    parser.add_argument("--seed", type=int, default=12345, help="seed of the checks' episodes")
    parser.add_argument("overrides", nargs="+", help="the cell: task=omniglot model=... budget=... seed=...")
    args = parser.parse_args(argv)
    with command_errors("omniglot_checks"):
        if args.episodes < 1:
            raise UserError(f"--episodes {args.episodes} must be >= 1")
        cell = resolve_cell(compose_config(args.overrides))
        if cell.config["task"]["kind"] != "omniglot":
            raise UserError(f"the overrides name a {cell.config['task']['kind']!r} cell; these checks are Omniglot's")
        path = Path(args.checkpoint)
        if not path.is_file():
            raise UserError(f"--checkpoint {path} is not a file")
        payload = load_torch(path)
        if not isinstance(payload, dict) or payload.get("config_hash") != cell.config_hash:
            raise UserError(f"--checkpoint {path} belongs to another config than the overrides' cell "
                            f"({cell.label}, hash {cell.config_hash[:10]}): give that cell's overrides")
        out = Path(args.out)
        writable_dir(str(out), "--out")
        task = build_task(cell.config["task"], cell.config["data_dir"])
        model = task.build_model(cell.config["model"])
        model.load_state_dict(payload["model"])
        model.eval()
        held, train = task.test_classes, task.train_classes
        checks = {
            "held_out": score(task, model, args.episodes, args.seed, held, True),
            "training_classes": score(task, model, args.episodes, args.seed, train, True),
            "reference_sampling": score(task, model, args.episodes, args.seed, held, True, 1.0 / DRAWINGS),
            "no_rotation": score(task, model, args.episodes, args.seed, held, False),
            "identical_query": score(task, model, args.episodes, args.seed, held, True, 1.0),
        }
        w = model.head.w.data.clone()
        model.head.w.data.zero_()
        checks["without_w"] = score(task, model, args.episodes, args.seed, held, True)
        model.head.w.data.copy_(w)
        with torch.no_grad():
            batch = task.sample_eval(BATCH, torch.Generator().manual_seed(args.seed))
            features = model._features(batch.support.flatten(2))  # (B, K, F)
            norms = features.norm(dim=-1)
            feature_stats = {"norm_mean": norms.mean().item(), "norm_sd": norms.std().item(),
                             "saturated_fraction": (features.abs() > 0.95).float().mean().item()}
        small = {name: value.flatten().tolist() for name, value in model.state_dict().items() if value.numel() == 1}
        result = {"cell": cell.label, "config_hash": cell.config_hash, "checkpoint": str(path),
                  "episodes_trained": payload["state"]["seen"], "scalars": small, "features": feature_stats,
                  "checks": checks}
        atomic_write_text(out / "omniglot_checks.json", json.dumps(result, indent=1) + "\n")
        print(f"{cell.label}, {result['episodes_trained']} episodes trained; {small}; held-out features: norm "
              f"{feature_stats['norm_mean']:.2f} ± {feature_stats['norm_sd']:.2f}, "
              f"{feature_stats['saturated_fraction']:.0%} of units saturated")
        for name, check in checks.items():
            low, high = check["ci95"]
            print(f"  {name:20s} {check['accuracy']:.4f}  [{low:.4f}, {high:.4f}]  ({check['episodes']} episodes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
