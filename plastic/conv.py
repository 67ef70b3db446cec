"""The convolutional feature extractor of Miconi et al.'s Omniglot network, shared by every few-shot classifier
(plastic ones here, MAML and prototypical networks in ``baselines``): 4 conv layers 3x3, ``channels`` filters,
stride 2, no padding, tanh, no batch norm; a 31x31 image goes 31 -> 15 -> 7 -> 3 -> 1, a 64-d feature.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

CONV_LAYERS = 4
# glorot: Glorot-uniform, tanh's gain, zero biases (the harness's default); torch: torch's own default conv init
BACKBONE_INITS = ("glorot", "torch")


def conv_output_side(image_size: int, layers: int = CONV_LAYERS) -> int:
    """Side of the last feature map: each 3x3 stride-2 unpadded conv maps n -> (n - 3) // 2 + 1."""
    side = image_size
    for _ in range(layers):
        side = (side - 3) // 2 + 1
    return side


class ConvBackbone(nn.Sequential):
    """(N, C, H, W) -> (N, channels * s * s) features, s the last map's side (1 for 31x31 inputs).

    Args:
        image_size: side of the square input images (>= 3 and large enough for 4 stride-2 convs; 31 gives 1x1).
        in_channels: channels of the input images.
        channels: filters of every conv layer.
        channels_last: store the weights NHWC (see below).

    Init (``init``): ``glorot`` (default) is Glorot-uniform with tanh's gain (5/3), zero biases. The papers do
    not state one; ``torch`` keeps torch's default conv init, which the authors' Omniglot script uses: it shrinks
    activations layer by layer (features of norm ~0.4 of a possible 8 at 31x31), which left every model near
    chance for thousands of episodes in our CPU runs.

    ``channels_last``: weights (and so every feature map) stored NHWC, which oneDNN's convolutions run faster on
    this CPU (Omniglot plastic update at batch 8: 29 vs 34 ms); the same values and gradients up to rounding
    (tests/test_fewshot_models.py).
    """

    def __init__(self, image_size: int = 31, in_channels: int = 1, channels: int = 64,
                 channels_last: bool = True, init: str = "glorot") -> None:
        if init not in BACKBONE_INITS:
            raise ValueError(f"backbone init={init!r} is not one of {list(BACKBONE_INITS)}")
        if image_size < 3 or conv_output_side(image_size) < 1:
            raise ValueError(f"image_size={image_size} is too small for {CONV_LAYERS} unpadded stride-2 3x3 "
                             f"convs (31 gives a 1x1 map)")
        layers: list[nn.Module] = []
        for i in range(CONV_LAYERS):
            layers += [nn.Conv2d(in_channels if i == 0 else channels, channels, 3, stride=2), nn.Tanh()]
        super().__init__(*layers, nn.Flatten())
        self.feature_size = channels * conv_output_side(image_size) ** 2
        for layer in self:
            if isinstance(layer, nn.Conv2d) and init == "glorot":
                nn.init.xavier_uniform_(layer.weight, gain=nn.init.calculate_gain("tanh"))
                nn.init.zeros_(layer.bias)
        if channels_last:
            self.to(memory_format=torch.channels_last)


def embed(backbone: nn.Module, images: Tensor) -> Tensor:
    """(..., C, H, W) -> (..., F): every image of every episode through the backbone in one call."""
    lead = images.shape[:-3]
    return backbone(images.reshape(-1, *images.shape[-3:])).reshape(*lead, -1)
