"""Tiny models and data for the fine-tuning tests (seconds on 2 CPU cores)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import torch
from tiny_models import make_tiny_bert, make_tiny_vit  # noqa: F401  (re-exported)
from torch import nn

from transferkit.backbones import (
    Backbone,
    BackboneInfo,
    LayerGroup,
    Preprocessing,
    register_backbone,
)
from transferkit.data.images import prepare_images


class TinyCNN(Backbone):
    """Conv+BN stem, one conv+BN block, pooled: (N, 3, 16, 16) -> (N, 8). No Linear layers."""

    name = "tiny_cnn_test"
    feature_dim = 8

    def __init__(self) -> None:
        super().__init__()
        gen = torch.manual_seed(0)
        del gen
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.block = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.last = nn.Sequential(nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8), nn.ReLU())
        self.preprocessing = Preprocessing(modality="image", image_size=16,
                                           mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))

    def prepare(self, items: Sequence[Any]) -> dict[str, torch.Tensor]:
        p = self.preprocessing
        return {"pixel_values": prepare_images(items, p.image_size, p.mean, p.std)}

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.last(self.block(self.stem(pixel_values))).mean(dim=(2, 3))

    def layer_groups(self) -> list[LayerGroup]:
        return [LayerGroup("stem", [self.stem]), LayerGroup("block", [self.block]),
                LayerGroup("last", [self.last])]


@register_backbone(BackboneInfo("tiny_cnn_test", "image", "test-only tiny CNN with BN"))
def _tiny_cnn() -> Backbone:
    torch.manual_seed(0)
    return TinyCNN()


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> str:
    """``hf:<folder>`` of a tiny BERT (dropout 0.1)."""
    return f"hf:{make_tiny_bert(tmp_path_factory.mktemp('tiny') / 'bert')}"


@pytest.fixture(scope="session")
def tiny_bert_nodrop(tmp_path_factory) -> str:
    """``hf:<folder>`` of a tiny BERT without dropout (deterministic across processes)."""
    return f"hf:{make_tiny_bert(tmp_path_factory.mktemp('tiny') / 'bert0', dropout=0.0)}"


@pytest.fixture(scope="session")
def tiny_vit(tmp_path_factory) -> str:
    return f"hf:{make_tiny_vit(tmp_path_factory.mktemp('tiny') / 'vit')}"


@pytest.fixture
def texts(sentiment_texts):
    return sentiment_texts


@pytest.fixture
def images() -> tuple[np.ndarray, np.ndarray]:
    """40 uint8 images (16x16x3) of two classes: bright centre vs. vertical stripes."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 60, size=(40, 16, 16, 3)).astype(np.uint8)
    X[:20, 4:-4, 4:-4, 0] = 220
    X[20:, :, ::4, 2] = 220
    return X, np.array(["centre"] * 20 + ["stripes"] * 20)


def state_copy(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> set[str]:
    """Names of tensors that are not bit-identical."""
    return {k for k in before if not torch.equal(before[k], after[k])}


def fit_model(backbone: str, strategy: str, X: Any, y: Any, **params: Any):
    """Fit a FineTuneClassifier quickly (3 epochs, batch 8, lr 1e-2: weights visibly move)."""
    from transferkit.finetune import FineTuneClassifier

    kw = {"epochs": 3, "batch_size": 8, "lr": 1e-2, "head_lr": 1e-2, "augment": False,
          **params}
    return FineTuneClassifier(backbone=backbone, strategy=strategy, **kw).fit(X, y)


def pretrained_state(backbone: str) -> dict[str, torch.Tensor]:
    from transferkit.backbones import load_backbone

    return state_copy(load_backbone(backbone))
