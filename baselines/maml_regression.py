"""MAML (Finn et al. 2017) on an MLP regressor, for Duan's few-shot regression, through learn2learn.

``regress(support_x, support_y, query_x)`` adapts a clone of the MLP to each episode's K support points by
``inner_steps`` SGD steps of rate ``inner_lr`` on their MSE, then predicts the queries; the outer loss on the
queries trains the initialisation (second order unless ``first_order``). ``test_inner_steps`` (None: same)
applies in eval mode. Evaluation under ``no_grad`` still takes the inner gradients (first order) and returns
detached predictions.
"""
from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from baselines.maml import EpisodicMAML


def mlp(input_size: int, output_size: int, hidden_size: int, n_layers: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = input_size
    for _ in range(n_layers):
        layers += [nn.Linear(width, hidden_size), nn.ReLU()]
        width = hidden_size
    return nn.Sequential(*layers, nn.Linear(width, output_size))


class MAMLRegressor(EpisodicMAML):
    """MLP x (input_size) -> y (output_size) with ``n_layers`` ReLU hidden layers of ``hidden_size``
    (Finn et al.'s sinusoid regressor: 2 x 40), meta-trained by MAML."""

    def __init__(self, input_size: int, output_size: int, hidden_size: int = 40, n_layers: int = 2,
                 inner_steps: int = 5, inner_lr: float = 0.1, first_order: bool = False,
                 test_inner_steps: int | None = None) -> None:
        if hidden_size < 1 or n_layers < 0:
            raise ValueError(f"hidden_size={hidden_size} must be >= 1 and n_layers={n_layers} >= 0")
        super().__init__(mlp(input_size, output_size, hidden_size, n_layers), inner_steps, inner_lr, first_order,
                         test_inner_steps)

    def forward(self, x: Tensor) -> Tensor:
        """The meta-learned initialisation, unadapted. x: (..., input_size)."""
        return self.maml(x)

    def regress(self, support_x: Tensor, support_y: Tensor, query_x: Tensor) -> Tensor:
        """support_x: (B, K, d), support_y: (B, K, out), query_x: (B, Q, d) -> (B, Q, out), episode by episode."""
        return self.adapt_each(F.mse_loss, support_x, support_y, query_x)
