"""Duan et al. (2023)'s few-shot classifier: a conv feature extractor feeding a plastic RNN/LSTM (``DuanNet``).

An episode is a sequence (Duan's FSC protocol): the S labelled support images, one step each, with input
[features, one-hot label], then each query as [features, 0]; the readout at a query step gives its class logits.
Every query is scored from the state left by the support steps (as in ``plastic.fewshot``), so the answer never
depends on the other queries. Built by the harness with ``input_size`` = image side and ``output_size`` = ways,
like the other few-shot classifiers (``baselines.fewshot``), and trained with cross-entropy on the queries.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from plastic.common import check_episode
from plastic.conv import ConvBackbone, embed
from plastic.duan import DuanNet


class DuanFewShotClassifier(nn.Module):
    """``ConvBackbone(input_size)`` -> ``DuanNet(features + ways -> ways)``.

    Args:
        input_size: side of the square images (the backbone's ``image_size``).
        output_size: classes per episode (ways).
        channels: filters of every conv layer of the backbone.
        cell, hidden_size, rule, grad_impl, internal_loss_norm, modulation, extra_units, p_lr, p_decay,
            update_clip, alpha_init, learn_alpha, fast_weights: the ``DuanNet``'s (see ``plastic.duan.DuanNet``).
    """

    loss_kind = "ce"

    def __init__(self, input_size: int, output_size: int, channels: int = 64, cell: str = "rnn",
                 hidden_size: int = 256, rule: str = "gradient", grad_impl: str = "closed_form",
                 internal_loss_norm: str = "per_sample", modulation: bool = True, extra_units: int = 4,
                 p_lr: float = 0.1, p_decay: float | None = None, update_clip: float | None = 1.0,
                 alpha_init: str = "uniform", learn_alpha: bool = True, fast_weights: str = "factored") -> None:
        super().__init__()
        self.n_way = output_size
        self.backbone = ConvBackbone(input_size, channels=channels)
        self.rnn = DuanNet(self.backbone.feature_size + output_size, output_size, cell=cell, hidden_size=hidden_size,
                           rule=rule, grad_impl=grad_impl, internal_loss_norm=internal_loss_norm,
                           modulation=modulation, extra_units=extra_units, p_lr=p_lr, p_decay=p_decay,
                           update_clip=update_clip, alpha_init=alpha_init, learn_alpha=learn_alpha,
                           fast_weights=fast_weights)

    def classify(self, support: Tensor, support_labels: Tensor, query: Tensor) -> Tensor:
        """support (B, S, C, H, W), labels (B, S), query (B, Q, C, H, W) -> log-probs (B, Q, K)."""
        check_episode(support, support_labels, query)
        batch, n_support, n_query = support.shape[0], support.shape[1], query.shape[1]
        features = embed(self.backbone, torch.cat([support, query], dim=1))  # (B, S + Q, F), one backbone call
        labels = F.one_hot(support_labels, self.n_way).to(features.dtype)  # (B, S, K)
        _, state = self.rnn(torch.cat([features[:, :n_support], labels], dim=-1).transpose(0, 1))
        queries = torch.cat([features[:, n_support:], features.new_zeros(batch, n_query, self.n_way)], dim=-1)
        logits = [self.rnn.step(queries[:, q], state)[0] for q in range(n_query)]  # each (B, K)
        return F.log_softmax(torch.stack(logits, dim=1), dim=-1)
