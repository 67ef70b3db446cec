"""Miconi's few-shot classifier: any feature extractor followed by a ``PlasticOutputLayer``.

An episode is a sequence: the S labelled support images (one step each, label added to the softmax input),
then the query image with no label; the answer is the softmax at the query step. The backbone has no state,
so ``forward`` sends every image of every step and episode through it in one call and then runs the plastic
layer step by step; ``step`` does one time step (the plain path that ``forward`` is tested against).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from plastic.common import check_episode
from plastic.output_layer import PlasticOutputLayer


class PlasticFewShotClassifier(nn.Module):
    """Per-step inputs (B, C*H*W + K): the flattened image, then the one-hot label (zeros when unlabelled).

    ``backbone`` maps (N, C, H, W) images to (N, head.in_features) features. ``loss_kind`` = "bce": the paper
    trains the query-step softmax with binary cross-entropy against the one-hot target.

    Args:
        backbone: any module mapping images (N, C, H, W) to features (N, head.in_features), e.g.
            ``plastic.conv.ConvBackbone``.
        head: the plastic softmax layer (``PlasticOutputLayer``) whose ``out_features`` are the classes.
        image_shape: (C, H, W) of one image; per-step inputs carry it flattened.
    """

    loss_kind = "bce"

    def __init__(self, backbone: nn.Module, head: PlasticOutputLayer, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.backbone, self.head, self.image_shape = backbone, head, tuple(image_shape)
        self.image_numel = self.image_shape[0] * self.image_shape[1] * self.image_shape[2]

    def initial_state(self, batch_size: int) -> Tensor:
        return self.head.initial_state(batch_size)

    def _features(self, images: Tensor) -> Tensor:
        """(..., C*H*W) -> (..., F)."""
        lead = images.shape[:-1]
        return self.backbone(images.reshape(-1, *self.image_shape)).reshape(*lead, -1)

    def step(self, inputs: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """inputs: (B, C*H*W + K) -> (log-probs (B, K), hebb)."""
        features = self._features(inputs[:, : self.image_numel])
        return self.head.step(torch.cat([features, inputs[:, self.image_numel:]], dim=-1), state)

    def forward(self, inputs: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """inputs: (T, B, C*H*W + K) -> (log-probs (T, B, K), final hebb)."""
        features = self._features(inputs[..., : self.image_numel])  # (T, B, F), one backbone call
        return self.head(torch.cat([features, inputs[..., self.image_numel:]], dim=-1), state)

    def classify(self, support: Tensor, support_labels: Tensor, query: Tensor) -> Tensor:
        """support (B, S, C, H, W), labels (B, S), query (B, Q, C, H, W) -> log-probs (B, Q, K).

        Each query is scored from the trace left by the support steps (as if it were the episode's last step).
        """
        check_episode(support, support_labels, query)
        batch, n_support, n_query = support.shape[0], support.shape[1], query.shape[1]
        k = self.head.out_features
        images = torch.cat([support, query], dim=1).reshape(batch, n_support + n_query, -1)
        features = self._features(images)  # (B, S + Q, F), one backbone call
        labels = F.one_hot(support_labels, k).to(features.dtype)  # (B, S, K)
        _, hebb = self.head(torch.cat([features[:, :n_support], labels], dim=-1).transpose(0, 1))
        queries = torch.cat([features[:, n_support:], features.new_zeros(batch, n_query, k)], dim=-1)
        log_probs, _ = self.head.step(queries.reshape(batch * n_query, -1), hebb.repeat_interleave(n_query, 0))
        return log_probs.reshape(batch, n_query, k)
