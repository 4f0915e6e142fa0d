"""SmallResNet: the CIFAR ResNet (He et al. 2016, section 4.2) for 32x32 RGB images.

No pretrained weights: a backbone to train from scratch (e.g. self-supervised pretraining,
:mod:`transferkit.finetune.selfsup`) on small images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..data.images import prepare_images
from ..errors import check_int
from .base import Backbone, LayerGroup, Preprocessing


class BasicBlock(nn.Module):
    """Two 3x3 conv + BatchNorm layers and a shortcut (a 1x1 conv + BatchNorm projection
    where the shape changes, the identity otherwise), ReLU after the sum."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False),
                                          nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_ch, H, W)`` -> ``(N, out_ch, H / stride, W / stride)``."""
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class SmallResNet(Backbone):
    """(N, 3, 32, 32) images -> (N, 64 * width) features; seeded random initialisation.

    The CIFAR ResNet shape: a 3x3 conv stem (16 * width maps), three stages of ``blocks``
    basic blocks (16, 32, 64 maps times ``width``; strides 1, 2, 2), BatchNorm, global
    average pooling. ``blocks=3`` is ResNet-20 (6 * blocks + 2 layers). Kaiming-normal conv
    weights, BatchNorm scale 1 and shift 0.

    Layer groups: ``stem``, ``stage1``, ``stage2``, ``stage3``. Inputs of any size/colour
    are resized to 32x32 RGB (a grey image becomes three equal channels).
    """

    name = "resnet_small"

    def __init__(self, width: int = 1, blocks: int = 3, seed: int = 0):
        super().__init__()
        check_int("width", width, 1, 1)
        check_int("blocks", blocks, 1, 3)
        check_int("seed", seed, 0, 0)
        self.width, self.blocks, self.seed = width, blocks, seed
        chans = [16 * width, 32 * width, 64 * width]
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.stem = nn.Sequential(nn.Conv2d(3, chans[0], 3, 1, 1, bias=False),
                                      nn.BatchNorm2d(chans[0]), nn.ReLU())
            stages, in_ch = [], chans[0]
            for i, ch in enumerate(chans):
                layers = [BasicBlock(in_ch, ch, 1 if i == 0 else 2)]
                layers += [BasicBlock(ch, ch) for _ in range(blocks - 1)]
                stages.append(nn.Sequential(*layers))
                in_ch = ch
            self.stage1, self.stage2, self.stage3 = stages
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
        self.feature_dim = chans[2]
        self.preprocessing = Preprocessing(modality="image", image_size=32, mean=(0.5,) * 3,
                                           std=(0.5,) * 3)

    def init_config(self) -> dict[str, Any]:
        """What ``SmallResNet(**config)`` (and ``load_backbone("resnet_small", config)``)
        rebuilds this architecture from: ``width``, ``blocks`` and ``seed``."""
        return {"width": self.width, "blocks": self.blocks, "seed": self.seed}

    def prepare(self, items: Sequence[Any]) -> dict[str, torch.Tensor]:
        """Images -> ``{"pixel_values": (N, 3, 32, 32)}``, normalised with mean/std 0.5."""
        p = self.preprocessing
        return {"pixel_values": prepare_images(items, p.image_size, p.mean, p.std)}

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` (or one grey channel) -> ``(N, 64 * width)``."""
        if pixel_values.shape[1] == 1:
            pixel_values = pixel_values.expand(-1, 3, -1, -1)
        x = self.stage3(self.stage2(self.stage1(self.stem(pixel_values))))
        return x.mean(dim=(2, 3))

    def layer_groups(self) -> list[LayerGroup]:
        """``stem``, ``stage1``, ``stage2``, ``stage3`` (input side first)."""
        return [LayerGroup("stem", [self.stem]), LayerGroup("stage1", [self.stage1]),
                LayerGroup("stage2", [self.stage2]), LayerGroup("stage3", [self.stage3])]
