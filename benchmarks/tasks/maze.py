"""Maze exploration with A2C (Miconi et al. 2018, section 4.5) on the ``plasticbench/Maze-v0`` environment.

Every episode hides a reward at a random free square of a fixed 9 x 9 grid maze; the agent starts at the centre,
sees only its 3 x 3 neighbourhood, its previous reward (and, in the reference layout, a bias, a step counter and
its previous action) and must find the reward, then return to it after every teleport. Score: total reward per
episode (+10 per hit, -0.1 per wall bump), higher is better.

Agent = a recurrent core + softmax policy head + value head (``benchmarks.a2c.ActorCritic``), trained by A2C.
``build_model`` reads the arm's model config: family ``miconi`` -> ``plastic.miconi_core.PlasticRecurrentCore``
(rule, alpha, eta, init from the config; ``extra_neurons`` = its recurrent units, since in this network every
unit is "extra": inputs arrive through ``i2h`` and outputs leave through the heads), ``rnn`` -> the same core
without plasticity, ``lstm`` -> ``baselines.lstm.LSTMBaseline`` whose hidden state feeds the heads.

Actions are sampled from the policy in training and in evaluation (the agent explores by sampling, as trained),
from a generator seeded by the batch, so an evaluation pool scores every model on identical randomness.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from baselines.lstm import LSTMBaseline
from benchmarks.a2c import PENALTIES, ActorCritic, a2c_loss
from benchmarks.envs.maze import N_ACTIONS, BatchedMaze, MazeLayout, MazeSpec, render_frame
from benchmarks.models import FAMILIES
from plastic.miconi_core import PlasticRecurrentCore

SEED_BOUND = 2 ** 62  # episode seeds are drawn in [0, SEED_BOUND)


@dataclass(frozen=True)
class MazeConfig:
    size: int = 9  # interior side of the maze (odd); pillars at every square with both coordinates even
    episode_steps: int = 250  # steps per episode
    reward_value: float = 10.0  # reward for reaching the hidden square (the agent is then teleported)
    wall_penalty: float = 0.1  # subtracted when the agent walks into a wall (it stays)
    inputs: str = "reference"  # observation: reference (17 values, reference code) | minimal (10, paper text)
    step_counter: str = "normalised"  # counter input: normalised t / episode_steps (reference code) | raw t
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


class Maze:
    primary_metric = "reward"
    lower_is_better = False

    def __init__(self, config: MazeConfig, name: str = "maze") -> None:
        self.config, self.name, self.spec = config, name, config.spec()
        self.trace: dict[str, Any] | None = None

    def model_io(self) -> dict[str, Any]:
        return {"input_size": self.spec.obs_size, "output_size": N_ACTIONS + 1}

    def sample(self, batch_size: int, generator: torch.Generator) -> MazeBatch:
        seeds = torch.randint(0, SEED_BOUND, (batch_size + 1,), generator=generator).tolist()
        return MazeBatch(seeds=seeds[:batch_size], action_seed=seeds[batch_size])

    def build_model(self, model_cfg: dict[str, Any]) -> nn.Module:
        return ActorCritic(build_core(model_cfg, self.spec.obs_size), N_ACTIONS)

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

    def record_extra(self) -> dict[str, Any]:
        return {"maze_trace": self.trace} if self.trace is not None else {}

    def data_digest(self) -> str | None:
        return None


# Keys of each family's config the maze agent does not use: they must keep their defaults (else: ValueError).
UNUSED = {"miconi": ("coupling", "input_scale", "bias_neuron", "checkpoint_every"),
          "rnn": ("coupling", "input_scale", "bias_neuron", "checkpoint_every"),
          "lstm": ("readout", "clamp_inputs")}


def build_core(model_cfg: dict[str, Any], input_size: int) -> nn.Module:
    """The recurrent core of the maze agent for a model config of family miconi, rnn or lstm."""
    family = model_cfg["family"]
    if family not in UNUSED:
        raise ValueError(f"model.family={family!r} has no maze agent; use one of {sorted(UNUSED)}")
    defaults = inspect.signature(FAMILIES[family].__init__).parameters
    for key in UNUSED[family]:
        if model_cfg[key] != defaults[key].default:
            raise ValueError(f"model.{key}={model_cfg[key]!r} has no meaning for the maze agent; leave it unset")
    if family == "lstm":
        hidden = model_cfg["hidden_size"]
        return LSTMBaseline(input_size, hidden, hidden, input_scale=model_cfg["input_scale"], readout="slice")
    if model_cfg["extra_neurons"] < 1:
        raise ValueError("model.extra_neurons must be >= 1: it is the maze agent's number of recurrent units; "
                         f"set it in benchmarks/conf/task_model/maze_{model_cfg['name']}.yaml")
    plastic = {"rule": model_cfg["rule"], "alpha": model_cfg["alpha"], "eta": model_cfg["eta"],
               "learn_eta": model_cfg["learn_eta"], "alpha_init": model_cfg["alpha_init"],
               "impl": model_cfg["impl"], "chunk": model_cfg["chunk"]} \
        if family == "miconi" else {"alpha": "none"}
    return PlasticRecurrentCore(input_size, model_cfg["extra_neurons"], init=model_cfg["init"],
                                init_scale=model_cfg["init_scale"], **plastic)


def _frames(trace: dict[str, Any], n_frames: int, trail: int = 12) -> list:
    """``n_frames`` renders spread over the episode, each with the agent's last ``trail`` positions."""
    layout = MazeLayout(trace["size"])
    path = [tuple(p) for p in trace["agent"]]
    steps = [round(i * (len(path) - 1) / (n_frames - 1)) for i in range(n_frames)]
    return [(t, render_frame(layout, path[t], tuple(trace["goal"]), trail=path[max(0, t - trail):t])) for t in steps]


def report_figures(records: list[Any], out_dir: str | Path, n_frames: int = 8) -> list[Path]:
    """One PNG strip per maze task: for each model, frames of the final evaluation's first episode of its
    lowest seed (blue = agent, light blue = its last steps, gold = the hidden reward square)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmarks.atomic import atomic_savefig

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
        fig.tight_layout()
        path = Path(out_dir) / f"{task}_episode.png"
        atomic_savefig(fig, path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


CONFIG = MazeConfig
TASK = Maze
MODEL_FAMILIES = tuple(UNUSED)  # model families this task runs (checked when a config is validated)
