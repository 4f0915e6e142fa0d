"""LeNet: the small CNN of the digits domain-adaptation papers (DANN, CDAN, TLlib).

It has no pretrained weights: it is the backbone for training from scratch on small grey
images (digits), where deep domain adaptation is usually benchmarked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..data.images import prepare_images
from .base import Backbone, LayerGroup, Preprocessing


class LeNet(Backbone):
    """(N, 1, 28, 28) grey images -> (N, 500) features; seeded random initialisation.

    Layer groups: ``conv1`` (conv 5x5, 20 maps), ``conv2`` (conv 5x5, 50 maps), ``fc``
    (800 -> 500). Inputs of any size/colour are resized to 28x28 and averaged to grey.
    """

    name = "lenet"
    feature_dim = 500

    def __init__(self, seed: int = 0):
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.conv1 = nn.Sequential(nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), nn.ReLU())
            self.conv2 = nn.Sequential(nn.Conv2d(20, 50, 5), nn.Dropout2d(0.5),
                                       nn.MaxPool2d(2), nn.ReLU())
            self.fc = nn.Sequential(nn.Flatten(), nn.Linear(50 * 4 * 4, 500), nn.ReLU(),
                                    nn.Dropout(0.5))
        self.preprocessing = Preprocessing(modality="image", image_size=28, mean=(0.5,) * 3,
                                           std=(0.5,) * 3, extra={"grey": True})

    def prepare(self, items: Sequence[Any]) -> dict[str, torch.Tensor]:
        p = self.preprocessing
        rgb = prepare_images(items, p.image_size, p.mean, p.std)  # (N, 3, 28, 28)
        return {"pixel_values": rgb.mean(dim=1, keepdim=True)}

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if pixel_values.shape[1] == 3:  # RGB input (e.g. from a generic augmenter)
            pixel_values = pixel_values.mean(dim=1, keepdim=True)
        return self.fc(self.conv2(self.conv1(pixel_values)))

    def layer_groups(self) -> list[LayerGroup]:
        return [LayerGroup("conv1", [self.conv1]), LayerGroup("conv2", [self.conv2]),
                LayerGroup("fc", [self.fc])]
