"""Few-shot classification baselines on Miconi's Omniglot backbone: MAML and prototypical networks.

Backbone (shared with the plastic networks, ``plastic.conv.ConvBackbone``): 4 conv layers 3x3, ``channels``
filters, stride 2, no padding, tanh, no batch norm; a 31x31 image goes 31 -> 15 -> 7 -> 3 -> 1, a 64-d feature.

Every classifier offers ``classify(support, support_labels, query) -> log-probabilities`` over a batch of
episodes: support (B, S, C, H, W), support_labels (B, S) in [0, n_way), query (B, Q, C, H, W) ->
(B, Q, n_way). ``loss_kind`` names the training loss on the query ("ce": cross-entropy).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from baselines.maml import EpisodicMAML
from plastic.conv import ConvBackbone, embed

class ProtoNetClassifier(nn.Module):
    """Prototypical network (Snell et al. 2017): logits = -squared euclidean distance to each class's mean
    support embedding. ``input_size`` is the image side, ``output_size`` the number of ways."""

    loss_kind = "ce"

    def __init__(self, input_size: int, output_size: int, channels: int = 64) -> None:
        super().__init__()
        self.n_way = output_size
        self.backbone = ConvBackbone(input_size, channels=channels)

    def classify(self, support: Tensor, support_labels: Tensor, query: Tensor) -> Tensor:
        n_support = support.shape[1]
        features = embed(self.backbone, torch.cat([support, query], dim=1))  # (B, S + Q, F)
        onehot = F.one_hot(support_labels, self.n_way).to(features.dtype)  # (B, S, K)
        counts = onehot.sum(dim=1).clamp(min=1).unsqueeze(-1)  # (B, K, 1)
        prototypes = onehot.transpose(1, 2) @ features[:, :n_support] / counts  # (B, K, F)
        diff = features[:, n_support:].unsqueeze(2) - prototypes.unsqueeze(1)  # (B, Q, K, F)
        distances = diff.square().sum(dim=-1)  # (B, Q, K); no sqrt, so no NaN gradient at distance 0
        return F.log_softmax(-distances, dim=-1)


class MAMLClassifier(EpisodicMAML):
    """MAML (Finn et al. 2017) through ``learn2learn.algorithms.MAML`` (``baselines.maml``): backbone + linear
    ``n_way`` head, adapted per episode by ``inner_steps`` SGD steps of rate ``inner_lr`` on the support
    cross-entropy; ``first_order`` drops the second-order terms. ``test_inner_steps`` (None: same) is used in
    eval mode. Episodes are adapted one at a time (each needs its own fast weights); evaluation under
    ``no_grad`` still takes the inner gradients, first order, and returns detached outputs."""

    loss_kind = "ce"

    def __init__(self, input_size: int, output_size: int, channels: int = 64, inner_steps: int = 1,
                 inner_lr: float = 0.4, first_order: bool = False, test_inner_steps: int | None = None) -> None:
        backbone = ConvBackbone(input_size, channels=channels)
        super().__init__(nn.Sequential(backbone, nn.Linear(backbone.feature_size, output_size)), inner_steps,
                         inner_lr, first_order, test_inner_steps)

    def classify(self, support: Tensor, support_labels: Tensor, query: Tensor) -> Tensor:
        return self.adapt_each(F.cross_entropy, support, support_labels, query,
                               head=lambda logits: F.log_softmax(logits, dim=-1))  # (B, Q, K)
