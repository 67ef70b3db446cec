"""MAML (Finn et al. 2017) on an MLP regressor, for Duan's few-shot regression, through learn2learn.

``regress(support_x, support_y, query_x)`` adapts a clone of the MLP to each episode's K support points by
``inner_steps`` SGD steps of rate ``inner_lr`` on their MSE, then predicts the queries; the outer loss on the
queries trains the initialisation (second order unless ``first_order``). ``test_inner_steps`` (None: same)
applies in eval mode. Evaluation under ``no_grad`` still takes the inner gradients (first order) and returns
detached predictions.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def mlp(input_size: int, output_size: int, hidden_size: int, n_layers: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = input_size
    for _ in range(n_layers):
        layers += [nn.Linear(width, hidden_size), nn.ReLU()]
        width = hidden_size
    return nn.Sequential(*layers, nn.Linear(width, output_size))


class MAMLRegressor(nn.Module):
    """MLP x (input_size) -> y (output_size) with ``n_layers`` ReLU hidden layers of ``hidden_size``
    (Finn et al.'s sinusoid regressor: 2 x 40), meta-trained by MAML."""

    def __init__(self, input_size: int, output_size: int, hidden_size: int = 40, n_layers: int = 2,
                 inner_steps: int = 5, inner_lr: float = 0.1, first_order: bool = False,
                 test_inner_steps: int | None = None) -> None:
        super().__init__()
        if inner_steps < 1 or (test_inner_steps is not None and test_inner_steps < 1):
            raise ValueError("model.inner_steps and model.test_inner_steps must be >= 1")
        if not inner_lr > 0:
            raise ValueError(f"model.inner_lr={inner_lr} must be > 0")
        if hidden_size < 1 or n_layers < 0:
            raise ValueError("model.hidden_size must be >= 1 and model.n_layers >= 0")
        import learn2learn as l2l  # imported here: it pulls in gym, which only MAML needs

        self.maml = l2l.algorithms.MAML(mlp(input_size, output_size, hidden_size, n_layers), lr=inner_lr,
                                        first_order=first_order)
        self.inner_steps, self.first_order = inner_steps, first_order
        self.test_inner_steps = test_inner_steps or inner_steps

    def forward(self, x: Tensor) -> Tensor:
        """The meta-learned initialisation, unadapted. x: (..., input_size)."""
        return self.maml(x)

    def regress(self, support_x: Tensor, support_y: Tensor, query_x: Tensor) -> Tensor:
        """support_x: (B, K, d), support_y: (B, K, out), query_x: (B, Q, d) -> (B, Q, out), episode by episode."""
        outer_grad = torch.is_grad_enabled()
        steps = self.inner_steps if self.training else self.test_inner_steps
        predictions = []
        with torch.enable_grad():
            for b in range(support_x.shape[0]):
                learner = self.maml.clone()
                for _ in range(steps):
                    loss = F.mse_loss(learner(support_x[b]), support_y[b])
                    learner.adapt(loss, first_order=self.first_order or not outer_grad)
                pred = learner(query_x[b])
                predictions.append(pred if outer_grad else pred.detach())
        return torch.stack(predictions)
