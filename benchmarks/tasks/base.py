"""What every task offers the harness.

A task samples batches of episodes from an explicit ``torch.Generator`` and scores a model on them. The harness
owns the loop, the optimizer and the seeds; the task owns what an episode is and what the loss means.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from benchmarks.harness.models import build_model


@dataclass
class Episode:
    """A batch of B episodes for a sequence task."""

    inputs: Tensor  # (T, B, input_size)
    targets: Tensor  # task-defined, B first
    extras: dict[str, Tensor] = field(default_factory=dict)

    @property
    def batch_size(self) -> int:
        return self.inputs.shape[1]


# A fully connected plastic layer of n neurons streams w, alpha and the Hebbian trace (3 n^2 floats, 3 MiB at n = 512)
# every step: from this width on they outgrow a core's own L2 cache (README, "Budgets": what pairing such cells with
# compute-bound ones was measured to gain).
MEMORY_BOUND_NEURONS = 512


class Task:
    """The contract between the trainer (``benchmarks.harness.train``) and a task, with a default for every
    optional hook.

    Required: ``name``, ``primary_metric``, ``lower_is_better``, ``sample`` and ``episode_loss``; ``model_io``
    unless ``build_model`` is overridden. Batches returned by ``sample`` have a ``batch_size`` attribute.
    A task that reads real data takes it from ``data_dir`` (raising ``benchmarks.data.DataUnavailable`` when it
    is absent) and reports its digest in ``data_digest``.
    """

    name = "task"
    primary_metric = "loss"  # the metric tables report and thresholds check
    lower_is_better = True
    model_kinds: tuple[str, ...] = ("sequence",)  # kinds of model family it runs (``benchmarks.harness.models.KINDS``)
    reads_adapter_width = False  # whether it wraps a sequence model in an adapter of ``model.adapter_width``
    reads_backbone_init = False  # whether it builds head/sequence models on a conv backbone of ``model.backbone_init``

    @classmethod
    def memory_bound(cls, config: Any) -> bool:
        """Whether a cell of this task is limited by memory traffic rather than arithmetic: each step streams
        matrices larger than a core's own cache, so two such cells side by side slow each other (the grid driver,
        ``benchmarks.reproduce``, runs at most ``--memory-jobs`` of them at once, beside compute-bound cells)."""
        return False

    def __init__(self, config: Any, name: str | None = None, data_dir: str | None = None) -> None:
        """config: the task's config dataclass; name: the task config's name (defaults to the class's);
        data_dir: where real data sets live (unused by synthetic tasks)."""
        self.config = config
        self.name = name if name is not None else type(self).name

    def model_io(self) -> dict[str, Any]:
        """Keyword arguments a model constructor needs from the task (input_size, output_size, ...)."""
        raise NotImplementedError

    def sample(self, batch_size: int, generator: torch.Generator) -> Any:
        """A batch of training episodes, drawn only from ``generator``."""
        raise NotImplementedError

    def sample_eval(self, batch_size: int, generator: torch.Generator) -> Any:
        """A batch of the fixed held-out evaluation pool: the same distribution as ``sample`` unless the task
        has a held-out split (real data)."""
        return self.sample(batch_size, generator)

    def episode_loss(self, model: nn.Module, batch: Any) -> tuple[Tensor, dict[str, float]]:
        """Run ``model`` on a batch: (scalar training loss, per-batch metrics averaged over episodes)."""
        raise NotImplementedError

    def build_model(self, model_cfg: dict[str, Any]) -> nn.Module:
        """The model of ``model_cfg``; tasks that wrap what was built (heads, a backbone) override this."""
        return build_model(model_cfg, self.model_io(), self.model_kinds, f"task {self.name!r}")

    def record_extra(self, model: nn.Module) -> dict[str, Any]:
        """Task details for the run record, given the trained model (e.g. figure data)."""
        return {}

    def data_digest(self) -> str | None:
        """Content digest of the real data the task reads, or None for synthetic tasks."""
        return None

    @staticmethod
    def report_figures(records: list[Any], out_dir: str | Path) -> list[Path]:
        """Task-specific figures of the report from its run records."""
        return []


class SequenceTask(Task):
    """Base for tasks whose models map an input sequence to an output sequence."""

    name = "sequence"

    def loss(self, outputs: Tensor, episode: Episode) -> Tensor:
        raise NotImplementedError

    def metrics(self, outputs: Tensor, episode: Episode) -> dict[str, float]:
        raise NotImplementedError

    def episode_loss(self, model: nn.Module, batch: Episode) -> tuple[Tensor, dict[str, float]]:
        outputs, _ = model(batch.inputs)
        loss = self.loss(outputs, batch)
        with torch.no_grad():  # eager under compile=true: a metric's float read back would specialise the graph
            extra = torch.compiler.disable(self.metrics)(outputs.detach(), batch)  # that follows it (one per value)
        return loss, {"loss": loss.item(), **extra}
