"""Optional backends: ``timm:<name>`` and ``torchvision:<name>`` (need those packages).

Pretrained weights come from the packages' local caches; nothing is downloaded offline.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import torch

from ..data.images import prepare_images
from ..errors import TransferkitError
from .base import Backbone, LayerGroup, Preprocessing, split_at_largest_modulelist


def optional_import(module: str, extra: str) -> Any:
    """Import an optional package or raise one clear line naming the extra to install."""
    try:
        return importlib.import_module(module)
    except Exception as exc:  # ImportError, or a broken install raising at import time
        raise TransferkitError(
            f"the '{module}' package is not usable here ({type(exc).__name__}: {exc})",
            f"install it with `pip install transferkit[{extra}]` where it is available",
        ) from exc


class TorchImageBackbone(Backbone):
    """Any image ``nn.Module`` that maps (N, 3, S, S) to (N, D) features."""

    onnx_exportable = True

    def __init__(self, name: str, net: torch.nn.Module, size: int, mean: tuple, std: tuple):
        super().__init__()
        self.name = name
        self.net = net
        self.preprocessing = Preprocessing(modality="image", image_size=size, mean=mean, std=std)
        with torch.no_grad():
            was_training = net.training
            net.eval()
            self.feature_dim = int(net(torch.zeros(1, 3, size, size)).reshape(1, -1).shape[1])
            net.train(was_training)

    def prepare(self, items: Sequence[Any]) -> dict[str, torch.Tensor]:
        p = self.preprocessing
        return {"pixel_values": prepare_images(items, p.image_size, p.mean, p.std)}

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        out = self.net(pixel_values)
        return out.reshape(out.shape[0], -1)

    def layer_groups(self) -> list[LayerGroup]:
        return split_at_largest_modulelist(self.net)


def load_timm(name: str, pretrained: bool = True) -> Backbone:
    timm = optional_import("timm", "timm")
    try:
        net = timm.create_model(name, pretrained=pretrained, num_classes=0)
    except Exception as exc:
        raise TransferkitError(
            f"timm cannot create '{name}' ({exc})",
            "check the name with timm.list_models(); pretrained weights must be in the local "
            "cache",
        ) from exc
    cfg = net.pretrained_cfg if hasattr(net, "pretrained_cfg") else {}
    size = int(cfg.get("input_size", (3, 224, 224))[-1])
    return TorchImageBackbone(
        f"timm:{name}",
        net,
        size,
        tuple(cfg.get("mean", (0.485, 0.456, 0.406))),
        tuple(cfg.get("std", (0.229, 0.224, 0.225))),
    )


def load_torchvision(name: str, pretrained: bool = True) -> Backbone:
    models = optional_import("torchvision.models", "torchvision")
    try:
        net = models.get_model(name, weights="DEFAULT" if pretrained else None)
    except Exception as exc:
        raise TransferkitError(
            f"torchvision cannot create '{name}' ({exc})",
            "check the name with torchvision.models.list_models(); weights must be cached",
        ) from exc
    for attr in ("fc", "classifier", "heads", "head"):
        if hasattr(net, attr):
            setattr(net, attr, torch.nn.Identity())
            break
    return TorchImageBackbone(
        f"torchvision:{name}", net, 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    )
