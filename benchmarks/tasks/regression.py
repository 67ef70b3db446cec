"""Few-shot regression (Duan et al. 2023).

Each episode draws a random function f: a linear map R^d -> R, or a Linear(d, 2)-tanh-Linear(2, 1) MLP, with
torch.nn.Linear's default initialisation (weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in))), as the
reference does. x ~ U[-1, 1]^d; y = f(x) standardised per episode (mean 0, std 1 over its K + Q points). The
``support`` (K) steps show [x, y + N(0, noise_std^2), 1], then ``queries`` (Q) steps show [x, 0, 0].

Sequence models output a prediction of y at every step; their training loss is the paper's MSE averaged over
all K + Q steps. The primary metric is the query MSE (``mse_query``), which models that do not read sequences
share: a model with ``regress(support_x, support_y, query_x)`` (MAML) is adapted on the K noisy support points
and scored and trained on the Q queries. ``mse`` (all steps) is reported for the sequence models as in the
paper. Predicting 0 gives a query MSE of about 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from benchmarks.harness.models import build_model, family_of
from benchmarks.tasks.base import Episode, SequenceTask

FUNCTIONS = ("linear", "mlp")


@dataclass(frozen=True)
class RegressionConfig:
    function: str = "linear"  # random function per episode: linear | mlp (Linear(d, 2)-tanh-Linear(2, 1))
    n_vars: int = 12  # d, the input dimension (the paper: 12 linear, 6 MLP)
    support: int = 20  # K, labelled support steps (the paper: 10 or 20)
    queries: int = 20  # Q, unlabelled query steps
    noise_std: float = 0.1  # std of the Gaussian noise on the support labels
    mlp_hidden: int = 2  # hidden units of the random MLP

    def __post_init__(self) -> None:
        if self.function not in FUNCTIONS:
            raise ValueError(f"task.function={self.function!r} is not one of {FUNCTIONS}")
        for key in ("n_vars", "support", "queries", "mlp_hidden"):
            if getattr(self, key) < 1:
                raise ValueError(f"task.{key}={getattr(self, key)} must be >= 1")
        if self.support + self.queries < 2:
            raise ValueError("task.support + task.queries must be >= 2 (y is standardised per episode)")
        if self.noise_std < 0:
            raise ValueError(f"task.noise_std={self.noise_std} must be >= 0")


def _uniform(shape: tuple[int, ...], bound: float, generator: torch.Generator) -> Tensor:
    return (torch.rand(shape, generator=generator) * 2 - 1) * bound


def random_functions(config: RegressionConfig, x: Tensor, generator: torch.Generator) -> Tensor:
    """One random function per episode, applied to x: (B, N, d) -> y: (B, N)."""
    batch, d = x.shape[0], config.n_vars
    if config.function == "linear":
        bound = 1 / math.sqrt(d)
        w, b = _uniform((batch, d, 1), bound, generator), _uniform((batch, 1, 1), bound, generator)
        return (x @ w + b).squeeze(2)
    k = config.mlp_hidden
    w1, b1 = _uniform((batch, d, k), 1 / math.sqrt(d), generator), _uniform((batch, 1, k), 1 / math.sqrt(d), generator)
    w2, b2 = _uniform((batch, k, 1), 1 / math.sqrt(k), generator), _uniform((batch, 1, 1), 1 / math.sqrt(k), generator)
    return (torch.tanh(x @ w1 + b1) @ w2 + b2).squeeze(2)


class Regression(SequenceTask):
    primary_metric = "mse_query"
    lower_is_better = True
    name = "regression"
    config: RegressionConfig
    model_kinds = ("sequence", "regressor")

    def model_io(self) -> dict[str, Any]:
        return {"input_size": self.config.n_vars + 2, "output_size": 1}

    def build_model(self, model_cfg: dict[str, Any]) -> nn.Module:
        """Sequence models read [x, y, flag]; a support-set regressor (``regress``) maps x (d) -> y."""
        io = {"input_size": self.config.n_vars, "output_size": 1} if family_of(model_cfg).kind == "regressor" \
            else self.model_io()
        return build_model(model_cfg, io, self.model_kinds, f"task {self.name!r}")

    def sample(self, batch_size: int, generator: torch.Generator) -> Episode:
        c = self.config
        k, n = c.support, c.support + c.queries
        x = torch.rand(batch_size, n, c.n_vars, generator=generator) * 2 - 1  # (B, N, d)
        y = random_functions(c, x, generator)  # (B, N)
        y = (y - y.mean(1, keepdim=True)) / y.std(1, keepdim=True).clamp(min=1e-6)
        noisy = y[:, :k] + torch.randn(batch_size, k, generator=generator) * c.noise_std
        inputs = torch.zeros(n, batch_size, c.n_vars + 2)
        inputs[:, :, : c.n_vars] = x.transpose(0, 1)
        inputs[:k, :, c.n_vars] = noisy.t()
        inputs[:k, :, c.n_vars + 1] = 1.0
        return Episode(inputs=inputs, targets=y.t().unsqueeze(2))  # targets: (N, B, 1), clean

    def episode_loss(self, model: nn.Module, batch: Episode) -> tuple[Tensor, dict[str, float]]:
        if not hasattr(model, "regress"):
            return super().episode_loss(model, batch)
        k, d = self.config.support, self.config.n_vars
        x = batch.inputs[:, :, :d].transpose(0, 1)  # (B, N, d)
        support_y = batch.inputs[:k, :, d].t().unsqueeze(2)  # (B, K, 1), noisy as the sequence models see it
        pred = model.regress(x[:, :k], support_y, x[:, k:])  # (B, Q, 1)
        loss = (pred - batch.targets[k:].transpose(0, 1)).square().mean()
        return loss, {"loss": loss.item(), "mse_query": loss.item()}

    def loss(self, outputs: Tensor, episode: Episode) -> Tensor:
        """The paper's loss: MSE over all K + Q steps."""
        return (outputs - episode.targets).square().mean()

    def metrics(self, outputs: Tensor, episode: Episode) -> dict[str, float]:
        err = (outputs - episode.targets).square()  # (N, B, 1)
        k = self.config.support
        return {"mse": err.mean().item(), "mse_query": err[k:].mean().item(), "mse_support": err[:k].mean().item()}
