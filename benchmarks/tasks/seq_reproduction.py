"""Sequence reproduction (Duan et al. 2023).

Input = [value, sample flag, recall flag]: ``seq_length`` (n) steps show values U[-1, 1] with the sample flag,
then ``delay`` (m) all-zero steps, then n recall steps (recall flag only) on which the network must output the
values in order. Loss = MSE on the recall steps only. No-memory floor: Var U[-1, 1] = 1/3.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from benchmarks.tasks.base import Episode, SequenceTask


@dataclass(frozen=True)
class SeqReproductionConfig:
    seq_length: int = 20  # n: values shown, then recalled
    delay: int = 20  # m: all-zero steps between the sample and the recall phase
    value_dim: int = 1  # values per step (the paper uses 1)

    def __post_init__(self) -> None:
        for key in ("seq_length", "value_dim"):
            if getattr(self, key) < 1:
                raise ValueError(f"task.{key}={getattr(self, key)} must be >= 1")
        if self.delay < 0:
            raise ValueError(f"task.delay={self.delay} must be >= 0")

    @property
    def n_steps(self) -> int:
        return 2 * self.seq_length + self.delay


class SeqReproduction(SequenceTask):
    primary_metric = "mse"
    lower_is_better = True
    name = "seq_reproduction"
    config: SeqReproductionConfig

    def model_io(self) -> dict[str, Any]:
        return {"input_size": self.config.value_dim + 2, "output_size": self.config.value_dim}

    def sample(self, batch_size: int, generator: torch.Generator) -> Episode:
        c = self.config
        n, d = c.seq_length, c.value_dim
        values = torch.rand(n, batch_size, d, generator=generator) * 2 - 1  # (n, B, d)
        inputs = torch.zeros(c.n_steps, batch_size, d + 2)
        inputs[:n, :, :d] = values
        inputs[:n, :, d] = 1.0  # sample flag
        inputs[n + c.delay:, :, d + 1] = 1.0  # recall flag
        return Episode(inputs=inputs, targets=values)

    def _recall(self, outputs: Tensor) -> Tensor:
        return outputs[self.config.seq_length + self.config.delay:]  # (n, B, d)

    def loss(self, outputs: Tensor, episode: Episode) -> Tensor:
        """MSE over the recall steps."""
        return (self._recall(outputs) - episode.targets).square().mean()

    def metrics(self, outputs: Tensor, episode: Episode) -> dict[str, float]:
        err = (self._recall(outputs) - episode.targets).square().mean(dim=(1, 2))  # (n,) per recall position
        half = max(1, self.config.seq_length // 2)
        return {"mse": err.mean().item(), "mse_first_half": err[:half].mean().item(),
                "mse_last_half": err[half:].mean().item() if half < err.shape[0] else err[-1].item()}

    def record_extra(self) -> dict[str, Any]:
        return {"no_memory_floor": 1 / 3, "n_steps": self.config.n_steps}


CONFIG = SeqReproductionConfig
TASK = SeqReproduction
MODEL_FAMILIES = ("miconi", "rnn", "lstm", "duan")  # model families this task runs (checked when a config is validated)
