"""What every task offers the harness.

A task samples batches of episodes from an explicit ``torch.Generator`` and scores a model on them. The harness
owns the loop, the optimizer and the seeds; the task owns what an episode is and what the loss means.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor, nn


@dataclass
class Episode:
    """A batch of B episodes for a sequence task."""

    inputs: Tensor  # (T, B, input_size)
    targets: Tensor  # task-defined, B first
    extras: dict[str, Tensor] = field(default_factory=dict)

    @property
    def batch_size(self) -> int:
        return self.inputs.shape[1]


class Task(Protocol):
    """The contract. Batches returned by ``sample`` must have a ``batch_size`` attribute (episodes in the batch).

    Optional: ``build_model(model_cfg: dict) -> nn.Module`` when the task wraps model families in its own
    architecture (a conv backbone, policy/value heads); otherwise the harness calls
    ``benchmarks.models.build_model(model_cfg, task.model_io())``. ``record_extra() -> dict`` adds task details
    to the run record. A task that reads real data takes a ``data_dir`` constructor argument.
    """

    name: str
    primary_metric: str  # the metric tables report and thresholds check
    lower_is_better: bool

    def model_io(self) -> dict[str, Any]:
        """Keyword arguments a model constructor needs from the task (input_size, output_size, ...)."""

    def sample(self, batch_size: int, generator: torch.Generator) -> Any:
        """A batch of episodes, drawn only from ``generator``."""

    def episode_loss(self, model: nn.Module, batch: Any) -> tuple[Tensor, dict[str, float]]:
        """Run ``model`` on a batch: (scalar training loss, per-batch metrics averaged over episodes)."""

    def data_digest(self) -> str | None:
        """Content digest of the real data the task reads, or None for synthetic tasks."""


class SequenceTask:
    """Base for tasks whose models map an input sequence to an output sequence."""

    name = "sequence"
    primary_metric = "loss"
    lower_is_better = True

    def __init__(self, config: Any, name: str | None = None) -> None:
        """config: the task's CONFIG dataclass; name: the task config's name (defaults to the class's)."""
        self.config = config
        self.name = name if name is not None else type(self).name

    def model_io(self) -> dict[str, Any]:
        raise NotImplementedError

    def sample(self, batch_size: int, generator: torch.Generator) -> Episode:
        raise NotImplementedError

    def loss(self, outputs: Tensor, episode: Episode) -> Tensor:
        raise NotImplementedError

    def metrics(self, outputs: Tensor, episode: Episode) -> dict[str, float]:
        raise NotImplementedError

    def episode_loss(self, model: nn.Module, batch: Episode) -> tuple[Tensor, dict[str, float]]:
        outputs, _ = model(batch.inputs)
        loss = self.loss(outputs, batch)
        with torch.no_grad():
            metrics = {"loss": loss.item(), **self.metrics(outputs.detach(), batch)}
        return loss, metrics

    def data_digest(self) -> str | None:
        return None
