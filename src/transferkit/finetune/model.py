"""The model every strategy trains: a registry backbone plus a linear head.

``FineTuneModel(**backbone.prepare(items))`` -> logits ``(N, n_classes)``.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from ..backbones import Backbone, LayerGroup

BN_TYPES = (nn.modules.batchnorm._BatchNorm,)


class FineTuneModel(nn.Module):
    """``backbone`` (features ``(N, D)``) followed by ``head = nn.Linear(D, n_classes)``."""

    def __init__(self, backbone: Backbone, n_classes: int, seed: int = 0):
        super().__init__()
        self.backbone = backbone
        gen = torch.Generator().manual_seed(seed)
        self.head = nn.Linear(backbone.feature_dim, n_classes)
        with torch.no_grad():  # seeded init, independent of the global RNG
            bound = 1.0 / backbone.feature_dim**0.5
            self.head.weight.uniform_(-bound, bound, generator=gen)
            self.head.bias.uniform_(-bound, bound, generator=gen)

    def forward(self, return_features: bool = False, **inputs: torch.Tensor
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(N, n_classes)``; with ``return_features`` also the backbone features
        ``(N, D)`` first (domain-adaptation losses need both)."""
        features = self.backbone(**inputs)
        logits = self.head(features)
        return (features, logits) if return_features else logits

    def layer_groups(self) -> list[LayerGroup]:
        """The backbone's layer groups, input side first (the head is not among them)."""
        return self.backbone.layer_groups()


def unwrap(model: nn.Module) -> FineTuneModel:
    """The :class:`FineTuneModel` inside DDP / peft wrappers."""
    while not isinstance(model, FineTuneModel):
        if hasattr(model, "module"):
            model = model.module
        elif hasattr(model, "get_base_model"):
            model = model.get_base_model()
        else:  # pragma: no cover - defensive
            raise TypeError(f"cannot find the FineTuneModel inside {type(model).__name__}")
    return model


def named_trainable(model: nn.Module) -> Iterator[tuple[str, nn.Parameter]]:
    return ((n, p) for n, p in model.named_parameters() if p.requires_grad)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def set_train_modes(model: nn.Module, bn: str = "auto") -> None:
    """Put ``model`` in train mode, with explicit BatchNorm / frozen-module semantics.

    * a backbone layer group none of whose parameters train runs in **eval** mode (BN
      running statistics untouched, no dropout);
    * with ``bn="auto"`` (default) a BN layer whose scale does not train (e.g. BitFit,
      where only its shift does) also stays in eval mode;
    * ``bn="train"`` puts every BN layer in train mode (statistics re-estimated);
      ``bn="eval"`` keeps every BN layer in eval mode.
    """
    model.train()
    inner = unwrap(model)
    for group in inner.layer_groups():
        params = group.parameters()
        if params and not any(p.requires_grad for p in params):
            for m in group.modules:
                m.eval()
    for m in inner.modules():
        if isinstance(m, BN_TYPES):
            if bn == "train":
                m.train()
            elif bn == "eval" or (m.weight is not None and not m.weight.requires_grad):
                m.eval()
