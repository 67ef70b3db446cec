"""Cue-reward association (Duan et al. 2023).

Each episode draws ``n_cues`` cues, each a random stimulus U[0, 1)^stimulus_dim with a reward U[-1, 1]. Every
step shows one cue, drawn with replacement, plus N(0, noise_std^2) noise on the stimulus. Input =
[stimulus, reward channel, query flag]: during the first ``reward_steps`` steps the reward is shown (flag 0),
afterwards it is hidden (reward channel 0, flag 1). Target = the shown cue's reward at every step; loss = MSE
over all steps.

No-memory floor: shown steps can be copied (error 0); on hidden steps the best guess is 0, error Var U[-1, 1]
= 1/3; over 10 + 10 steps that is 1/6.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from benchmarks.tasks.base import Episode, SequenceTask


@dataclass(frozen=True)
class CueRewardConfig:
    n_cues: int = 5  # distinct cues (stimulus, reward) per episode
    stimulus_dim: int = 14  # size of each cue's stimulus, U[0, 1)
    n_steps: int = 20  # steps per episode; each shows a cue drawn with replacement
    reward_steps: int = 10  # the first steps show the reward (flag 0); the rest hide it (flag 1)
    noise_std: float = 0.1  # std of the Gaussian noise added to the stimulus at every step

    def __post_init__(self) -> None:
        for key in ("n_cues", "stimulus_dim", "n_steps"):
            if getattr(self, key) < 1:
                raise ValueError(f"task.{key}={getattr(self, key)} must be >= 1")
        if not 0 <= self.reward_steps <= self.n_steps:
            raise ValueError(f"task.reward_steps={self.reward_steps} must lie in [0, task.n_steps={self.n_steps}]")
        if self.noise_std < 0:
            raise ValueError(f"task.noise_std={self.noise_std} must be >= 0")


class CueReward(SequenceTask):
    primary_metric = "mse"
    lower_is_better = True
    name = "cue_reward"
    config: CueRewardConfig

    def model_io(self) -> dict[str, Any]:
        return {"input_size": self.config.stimulus_dim + 2, "output_size": 1}

    def no_memory_floor(self) -> float:
        """MSE of the best memoryless predictor: copy shown rewards, predict 0 when hidden."""
        c = self.config
        return (c.n_steps - c.reward_steps) / c.n_steps / 3

    def sample(self, batch_size: int, generator: torch.Generator) -> Episode:
        c = self.config
        stimuli = torch.rand(batch_size, c.n_cues, c.stimulus_dim, generator=generator)  # (B, C, S)
        rewards = torch.rand(batch_size, c.n_cues, generator=generator) * 2 - 1  # (B, C)
        shown = torch.randint(0, c.n_cues, (c.n_steps, batch_size), generator=generator)  # (T, B)
        noise = torch.randn(c.n_steps, batch_size, c.stimulus_dim, generator=generator) * c.noise_std
        rows = torch.arange(batch_size)
        reward = rewards[rows, shown]  # (T, B)
        hidden = torch.arange(c.n_steps) >= c.reward_steps  # (T,)
        inputs = torch.cat([stimuli[rows, shown] + noise,  # (T, B, S)
                            torch.where(hidden[:, None], 0.0, reward).unsqueeze(2),
                            hidden[:, None, None].float().expand(-1, batch_size, 1)], dim=2)
        return Episode(inputs=inputs, targets=reward.unsqueeze(2), extras={"cue": shown})

    def loss(self, outputs: Tensor, episode: Episode) -> Tensor:
        """MSE over all steps and episodes."""
        return (outputs - episode.targets).square().mean()

    def metrics(self, outputs: Tensor, episode: Episode) -> dict[str, float]:
        err = (outputs - episode.targets).square()  # (T, B, 1)
        k = self.config.reward_steps
        return {"mse": err.mean().item(), "mse_hidden": err[k:].mean().item() if k < err.shape[0] else 0.0,
                "mse_shown": err[:k].mean().item() if k else 0.0}

    def record_extra(self) -> dict[str, Any]:
        return {"no_memory_floor": self.no_memory_floor()}


CONFIG = CueRewardConfig
TASK = CueReward
MODEL_FAMILIES = ("miconi", "rnn", "lstm", "duan")  # model families this task runs (checked when a config is validated)
