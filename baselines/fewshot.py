"""Few-shot classification baselines on Miconi's Omniglot backbone: MAML and prototypical networks.

Backbone (shared with the plastic network): 4 conv layers 3x3, ``channels`` filters, stride 2, no padding,
tanh, no batch norm; a 31x31 image goes 31 -> 15 -> 7 -> 3 -> 1, a 64-d feature.

Every classifier offers ``classify(support, support_labels, query) -> log-probabilities`` over a batch of
episodes: support (B, S, C, H, W), support_labels (B, S) in [0, n_way), query (B, Q, C, H, W) ->
(B, Q, n_way). ``loss_kind`` names the training loss on the query ("ce": cross-entropy).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from baselines.maml import EpisodicMAML

CONV_LAYERS = 4


def conv_output_side(image_size: int, layers: int = CONV_LAYERS) -> int:
    """Side of the last feature map: each 3x3 stride-2 unpadded conv maps n -> (n - 3) // 2 + 1."""
    side = image_size
    for _ in range(layers):
        side = (side - 3) // 2 + 1
    return side


class ConvBackbone(nn.Sequential):
    """(N, C, H, W) -> (N, channels * s * s) features, s the last map's side (1 for 31x31 inputs).

    Init: Glorot-uniform with tanh's gain (5/3), zero biases. The papers do not state it; torch's default conv
    init shrinks activations layer by layer (features of norm ~0.4 of a possible 8 at 31x31), which left
    every model near chance for thousands of episodes in our CPU runs.

    ``channels_last``: weights (and so every feature map) stored NHWC, which oneDNN's convolutions run faster on
    this CPU (Omniglot plastic update at batch 8: 29 vs 34 ms); the same values and gradients up to rounding
    (tests/test_fewshot_models.py).
    """

    def __init__(self, image_size: int = 31, in_channels: int = 1, channels: int = 64,
                 channels_last: bool = True) -> None:
        if image_size < 3 or conv_output_side(image_size) < 1:
            raise ValueError(f"image_size={image_size} is too small for {CONV_LAYERS} unpadded stride-2 3x3 "
                             f"convs (31 gives a 1x1 map)")
        layers: list[nn.Module] = []
        for i in range(CONV_LAYERS):
            layers += [nn.Conv2d(in_channels if i == 0 else channels, channels, 3, stride=2), nn.Tanh()]
        super().__init__(*layers, nn.Flatten())
        self.feature_size = channels * conv_output_side(image_size) ** 2
        for layer in self:
            if isinstance(layer, nn.Conv2d):
                nn.init.xavier_uniform_(layer.weight, gain=nn.init.calculate_gain("tanh"))
                nn.init.zeros_(layer.bias)
        if channels_last:
            self.to(memory_format=torch.channels_last)


def embed(backbone: nn.Module, images: Tensor) -> Tensor:
    """(..., C, H, W) -> (..., F): every image of every episode through the backbone in one call."""
    lead = images.shape[:-3]
    return backbone(images.reshape(-1, *images.shape[-3:])).reshape(*lead, -1)


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
