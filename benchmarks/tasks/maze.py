"""Maze exploration with A2C (Miconi et al. 2018, section 4.5) on the ``plasticbench/Maze-v0`` environment.

Every episode hides a reward at a random free square of a fixed 9 x 9 grid maze; the agent starts at the centre,
sees only its 3 x 3 neighbourhood, its previous reward (and, in the 17-input layouts, a bias and a step counter;
the ``batched`` layout also its previous action) and must find the reward, then return to it after every
teleport. Score: total reward per episode (+10 per hit, -0.1 per wall bump), higher is better.

Agent = a recurrent core + softmax policy head + value head (``benchmarks.tasks.a2c.ActorCritic``), trained by A2C.
The core is any model family of kind ``core`` (``benchmarks.harness.models.FAMILIES``: ``miconi_core``, ``rnn_core``,
``lstm_core``, ...), built from its own YAML with the observation size as ``input_size``; the task only wraps it.
A ``sequence`` model (``plastic``, ``rnn``, a new one) runs as the core behind a trained input projection
(``benchmarks.harness.adapters.SequenceCore``), from the same YAML it runs the sequence tasks with.

Actions are sampled from the policy in training and in evaluation (the agent explores by sampling, as trained),
from a generator seeded by the batch, so an evaluation pool scores every model on identical randomness.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmarks.envs.maze import COLOURS, N_ACTIONS, BatchedMaze, MazeLayout, MazeSpec, render_frame
from benchmarks.harness.adapters import DEFAULT_WIDTH, SequenceCore, check_stepped, describe
from benchmarks.harness.models import build_model, family_of
from benchmarks.tasks.a2c import PENALTIES, ActorCritic, a2c_loss
from benchmarks.tasks.base import Task

SEED_BOUND = 2 ** 62  # episode seeds are drawn in [0, SEED_BOUND)


@dataclass(frozen=True)
class MazeConfig:
    size: int = 9  # interior side of the maze (odd); pillars at every square with both coordinates even
    episode_steps: int = 250  # steps per episode
    reward_value: float = 10.0  # reward for reaching the hidden square (the agent is then teleported)
    wall_penalty: float = 0.1  # subtracted when the agent walks into a wall (it stays)
    # observation: paper_code (17: the 2018 code's view, zeros, previous reward, raw counter t, bias) | batched
    # (17: the later batched scripts' t / episode_steps and previous-action one-hot) | minimal (10, paper text)
    inputs: str = "paper_code"
    gamma: float = 0.9  # discount of the Monte-Carlo returns
    value_weight: float = 0.03  # weight of the value loss
    penalty: str = "sum_sq"  # policy regulariser: sum_sq (reference: + sum of squared probabilities) | entropy
    penalty_weight: float = 0.1  # weight of the regulariser (entropy: a bonus of this weight)

    def __post_init__(self) -> None:
        try:
            self.spec()
        except ValueError as err:
            raise ValueError(f"task.{err}") from None
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"task.gamma={self.gamma} must lie in [0, 1]")
        if self.value_weight < 0 or self.penalty_weight < 0:
            raise ValueError("task.value_weight and task.penalty_weight must be >= 0")
        if self.penalty not in PENALTIES:
            raise ValueError(f"task.penalty={self.penalty!r} is not one of {PENALTIES}")

    def spec(self) -> MazeSpec:
        names = {f.name for f in fields(MazeSpec)}
        return MazeSpec(**{name: getattr(self, name) for name in names})


@dataclass
class MazeBatch:
    seeds: list[int]  # one environment seed per episode (as for MazeEnv.reset(seed=...))
    action_seed: int  # seeds the generator that samples the agent's actions

    @property
    def batch_size(self) -> int:
        return len(self.seeds)


class Maze(Task):
    name = "maze"
    primary_metric = "reward"
    lower_is_better = False
    model_kinds = ("core", "sequence")  # a sequence model runs behind an input projection (harness.adapters)
    reads_adapter_width = True

    def __init__(self, config: MazeConfig, name: str | None = None, data_dir: str | None = None) -> None:
        super().__init__(config, name)
        self.spec = config.spec()
        self.trace: dict[str, Any] | None = None

    def model_io(self) -> dict[str, Any]:
        return {"input_size": self.spec.obs_size}

    def sample(self, batch_size: int, generator: torch.Generator) -> MazeBatch:
        seeds = torch.randint(0, SEED_BOUND, (batch_size + 1,), generator=generator).tolist()
        return MazeBatch(seeds=seeds[:batch_size], action_seed=seeds[batch_size])

    def build_model(self, model_cfg: dict[str, Any]) -> nn.Module:
        """The core of ``model_cfg`` under the policy and value heads: a ``core`` family as built, a ``sequence``
        family as ``SequenceCore`` (a trained input projection to ``model.adapter_width`` features, default
        ``DEFAULT_WIDTH``, the model mapping them to as many outputs)."""
        if family_of(model_cfg).kind != "sequence":
            return ActorCritic(super().build_model(model_cfg), N_ACTIONS)
        width = model_cfg.get("adapter_width") or DEFAULT_WIDTH
        sequence = build_model(model_cfg, {"input_size": width, "output_size": width}, self.model_kinds,
                               f"task {self.name!r}", reads_width=self.reads_adapter_width)
        check_stepped(sequence, model_cfg["name"], f"task {self.name!r}")
        return ActorCritic(SequenceCore(sequence, self.spec.obs_size, width), N_ACTIONS)

    def rollout(self, model: nn.Module, batch: MazeBatch) -> dict[str, Tensor]:
        """Run the agent on the batch's episodes; returns logits (T, B, A), values, actions, rewards (T, B).

        The environment and the action sampling stay on the CPU (cheap, and the same random numbers on every
        device); observations go to the model's device and actions come back.
        """
        device = next(model.parameters()).device
        env = BatchedMaze(self.spec, batch.seeds)
        obs = env.reset()
        generator = torch.Generator().manual_seed(batch.action_seed)
        state = model.initial_state(batch.batch_size)
        logits, values, actions, rewards, path = [], [], [], [], [env.agent[0].tolist()]
        for _ in range(self.spec.episode_steps):
            out, state = model.step(obs.to(device), state)  # (B, A + 1)
            probs = F.softmax(out[:, :N_ACTIONS].detach(), dim=-1).cpu()
            action = torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (B,)
            obs, reward = env.step(action)
            logits.append(out[:, :N_ACTIONS])
            values.append(out[:, N_ACTIONS])
            actions.append(action)
            rewards.append(reward)
            if not model.training:
                path.append(env.agent[0].tolist())
        result = {k: torch.stack(v).to(device) for k, v in
                  (("logits", logits), ("values", values), ("actions", actions), ("rewards", rewards))}
        if not model.training:  # evaluation: keep the first episode's path for the report's figure
            self.trace = {"size": self.spec.size, "goal": env.goal[0].tolist(), "agent": path,
                          "reward": result["rewards"][:, 0].tolist()}
        return result

    def episode_loss(self, model: nn.Module, batch: MazeBatch) -> tuple[Tensor, dict[str, float]]:
        c = self.config
        run = self.rollout(model, batch)
        loss, parts = a2c_loss(run["logits"], run["values"], run["actions"], run["rewards"], gamma=c.gamma,
                               value_weight=c.value_weight, penalty=c.penalty, penalty_weight=c.penalty_weight)
        rewards = run["rewards"]
        hits = (rewards > 0).sum(0).float()  # (B,): only reaching the reward pays (reward_value > 0)
        return loss, {"reward": rewards.sum(0).mean().item(), "hits": hits.mean().item(), **parts}

    def record_extra(self, model: nn.Module) -> dict[str, Any]:
        return {**describe(model), **({"maze_trace": self.trace} if self.trace is not None else {})}

    @staticmethod
    def report_figures(records: list[Any], out_dir: str | Path) -> list[Path]:
        return report_figures(records, out_dir)


def _frames(trace: dict[str, Any], n_frames: int, trail: int = 12) -> list:
    """``n_frames`` renders spread over the episode, each with the agent's last ``trail`` positions."""
    layout = MazeLayout(trace["size"])
    path = [tuple(p) for p in trace["agent"]]
    steps = [round(i * (len(path) - 1) / (n_frames - 1)) for i in range(n_frames)]
    return [(t, render_frame(layout, path[t], tuple(trace["goal"]), trail=path[max(0, t - trail):t])) for t in steps]


def _legend_handles() -> list:
    """What the frames' colours mean (the colours render_frame paints)."""
    from matplotlib.patches import Patch
    meaning = {"agent": "agent", "trail": "its last 12 steps", "goal": "hidden reward square", "wall": "wall"}
    return [Patch(facecolor=np.asarray(COLOURS[key]) / 255, edgecolor="gray", label=label)
            for key, label in meaning.items()]


def report_figures(records: list[Any], out_dir: str | Path, n_frames: int = 8) -> list[Path]:
    """One PNG strip per maze task: for each model, frames of the final evaluation's first episode of its
    lowest seed (blue = agent, light blue = its last steps, gold = the hidden reward square)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmarks.harness.atomic import atomic_savefig

    chosen: dict[str, dict[str, Any]] = {}
    for rec in records:
        get = rec.get if isinstance(rec, dict) else lambda key, r=rec: getattr(r, key)
        trace = (get("extra") or {}).get("maze_trace")
        task, model, seed = get("task"), get("model"), get("seed")
        if trace and seed <= chosen.setdefault(task, {}).get(model, (seed, trace))[0]:
            chosen[task][model] = (seed, trace)
    paths = []
    for task, by_model in sorted(chosen.items()):
        fig, axes = plt.subplots(len(by_model), n_frames, figsize=(1.6 * n_frames, 1.9 * len(by_model)),
                                 squeeze=False)
        for row, (model, (seed, trace)) in enumerate(sorted(by_model.items())):
            rewards = trace["reward"]
            for col, (t, image) in enumerate(_frames(trace, n_frames)):
                ax = axes[row][col]
                ax.imshow(image)
                ax.set_xticks([]), ax.set_yticks([])
                ax.set_title(f"t={t}  R={sum(rewards[:t]):.1f}", fontsize=7)
            axes[row][0].set_ylabel(f"{model}\nseed {seed}", fontsize=8)
        fig.suptitle(f"{task}: one evaluation episode per model (total reward at step t)", fontsize=9)
        fig.tight_layout(rect=(0, 0.06, 1, 1))
        fig.legend(handles=_legend_handles(), loc="lower center", ncol=4, fontsize=7, frameon=False)
        path = Path(out_dir) / f"{task}_episode.png"
        atomic_savefig(fig, path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
