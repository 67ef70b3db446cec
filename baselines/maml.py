"""MAML (Finn et al. 2017) through ``learn2learn.algorithms.MAML``, adapted one episode at a time.

``EpisodicMAML`` holds the meta-learned module and the adaptation settings shared by the few-shot MAML
baselines (``baselines.fewshot.MAMLClassifier``, ``baselines.maml_regression.MAMLRegressor``):
``inner_steps`` SGD steps of rate ``inner_lr`` on the support loss, second order unless ``first_order``,
``test_inner_steps`` (None: same) in eval mode. Each episode needs its own fast weights, so episodes are
adapted one at a time. Evaluation under ``no_grad`` still takes the inner gradients (first order) and returns
detached outputs.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn


class EpisodicMAML(nn.Module):
    def __init__(self, module: nn.Module, inner_steps: int, inner_lr: float, first_order: bool,
                 test_inner_steps: int | None) -> None:
        super().__init__()
        if inner_steps < 1 or (test_inner_steps is not None and test_inner_steps < 1):
            raise ValueError(f"inner_steps={inner_steps} and test_inner_steps={test_inner_steps} must be >= 1")
        if not inner_lr > 0:
            raise ValueError(f"inner_lr={inner_lr} must be > 0")
        import learn2learn as l2l  # imported here: it pulls in gym, which only MAML needs

        self.maml = l2l.algorithms.MAML(module, lr=inner_lr, first_order=first_order)
        self.inner_steps, self.first_order = inner_steps, first_order
        self.test_inner_steps = test_inner_steps or inner_steps

    def adapt_each(self, support_loss: Callable[[Tensor, Tensor], Tensor], support: Tensor, targets: Tensor,
                   query: Tensor, head: Callable[[Tensor], Tensor] = lambda out: out) -> Tensor:
        """For each episode b: adapt a clone on ``support_loss(clone(support[b]), targets[b])``, then
        ``head(clone(query[b]))``; stacked over the batch."""
        outer_grad = torch.is_grad_enabled()
        steps = self.inner_steps if self.training else self.test_inner_steps
        outputs = []
        with torch.enable_grad():
            for b in range(support.shape[0]):
                learner = self.maml.clone()
                for _ in range(steps):
                    learner.adapt(support_loss(learner(support[b]), targets[b]),
                                  first_order=self.first_order or not outer_grad)
                out = head(learner(query[b]))
                outputs.append(out if outer_grad else out.detach())
        return torch.stack(outputs)
