"""Adapters that run a ``sequence`` model on tasks built for another kind, so one model YAML runs on every task.

A sequence model (``benchmarks.harness.models.KINDS``) is built from ``(input_size, output_size)`` and maps a
time-first sequence to outputs at every step. Two tasks take other kinds and wrap a sequence model instead:

- the maze (kind ``core``: a recurrent state its policy and value heads read) puts it behind a trained input
  projection, ``SequenceCore``: observation -> Linear -> ``width`` features -> the model -> ``width`` outputs, which
  the heads read. ``width`` is the model config's ``adapter_width`` (None: ``DEFAULT_WIDTH``, the 100 units of
  Miconi's maze core). The agent steps one observation at a time, so the model needs ``initial_state`` and ``step``.
- Omniglot (kind ``fewshot``: ``classify(support, labels, query)``) puts it on the task's conv backbone,
  ``SequenceFewShot``: the support images one step each as [features, one-hot label], then the query as
  [features, 0]; the model's ``output_size = ways`` outputs at the query step are the class logits (Duan et al.'s
  few-shot protocol, which ``plastic.DuanFewShotClassifier`` runs for its own network). Every query is scored from
  the state the support left: with Q queries the support is run once per query (Omniglot has one).

Either way the record keeps the model's own name (a ``gru`` run on the maze is ``gru``), its parameter count covers
the adapter and the heads, and ``describe`` gives the record the adapter that ran.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from plastic.common import check_episode
from plastic.conv import ConvBackbone, embed

DEFAULT_WIDTH = 100  # Miconi's maze core: 100 recurrent units behind a trained input layer
STEPPED = ("initial_state", "step")  # what an agent's core must offer: it acts one observation at a time


def check_stepped(model: nn.Module, name: str, task: str) -> None:
    """A model that a task steps one input at a time must have ``initial_state`` and ``step``."""
    missing = [m for m in STEPPED if not callable(getattr(model, m, None))]
    if missing:
        raise ValueError(f"model {name!r} ({type(model).__name__}) has no {' or '.join(missing)}; {task} steps its "
                         "agent one observation at a time: give the class initial_state(batch_size) -> state and "
                         "step(x (B, input_size), state) -> (y (B, output_size), state) (README: Adding a task or a "
                         "model)")


class SequenceCore(nn.Module):
    """A sequence model as an agent's recurrent core: ``Linear(input_size, width)`` -> ``model`` (built with
    ``input_size = output_size = width``); ``step``/``forward`` return its ``width`` outputs (``hidden_size``)."""

    def __init__(self, model: nn.Module, input_size: int, width: int) -> None:
        super().__init__()
        self.model = model
        self.input_size, self.hidden_size = input_size, width
        self.proj = nn.Linear(input_size, width)

    def initial_state(self, batch_size: int) -> Any:
        return self.model.initial_state(batch_size)

    def step(self, inputs: Tensor, state: Any) -> tuple[Tensor, Any]:
        """inputs (B, input_size) -> (outputs (B, width), new state)."""
        return self.model.step(self.proj(inputs), state)

    def forward(self, inputs: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """inputs (T, B, input_size) -> (outputs (T, B, width), final state)."""
        projected = self.proj(inputs)
        return self.model(projected) if state is None else self.model(projected, state)

    def describe(self) -> dict[str, Any]:
        return {"adapter": "sequence_core", "adapter_width": self.hidden_size}


class SequenceFewShot(nn.Module):
    """A sequence model (built with ``input_size = features + ways``, ``output_size = ways``) on a conv backbone,
    as a few-shot classifier; ``classify`` returns log-probabilities (B, Q, ways), trained by cross-entropy."""

    loss_kind = "ce"

    def __init__(self, backbone: ConvBackbone, model: nn.Module, n_way: int) -> None:
        super().__init__()
        self.backbone, self.model, self.n_way = backbone, model, n_way

    def classify(self, support: Tensor, support_labels: Tensor, query: Tensor) -> Tensor:
        """support (B, S, C, H, W), labels (B, S), query (B, Q, C, H, W) -> log-probs (B, Q, K)."""
        check_episode(support, support_labels, query)
        batch, n_support, n_query = support.shape[0], support.shape[1], query.shape[1]
        features = embed(self.backbone, torch.cat([support, query], dim=1))  # (B, S + Q, F), one backbone call
        labels = F.one_hot(support_labels, self.n_way).to(features.dtype)  # (B, S, K)
        shown = torch.cat([features[:, :n_support], labels], dim=-1)  # (B, S, F + K)
        asked = torch.cat([features[:, n_support:], features.new_zeros(batch, n_query, self.n_way)], dim=-1)
        width = shown.shape[-1]
        # one sequence per query: the support, then that query (B, Q, S + 1, F + K) -> time first (S + 1, B * Q, .)
        sequences = torch.cat([shown.unsqueeze(1).expand(batch, n_query, n_support, width), asked.unsqueeze(2)], 2)
        outputs, _ = self.model(sequences.flatten(0, 1).transpose(0, 1))  # (S + 1, B * Q, K)
        return F.log_softmax(outputs[-1].reshape(batch, n_query, self.n_way), dim=-1)

    def describe(self) -> dict[str, Any]:
        return {"adapter": "sequence_fewshot", "adapter_features": self.backbone.feature_size}


def describe(model: nn.Module) -> dict[str, Any]:
    """The adapter a task put around the model, for its record ({} when the model runs as built)."""
    for module in model.modules():
        if isinstance(module, (SequenceCore, SequenceFewShot)):
            return module.describe()
    return {}
