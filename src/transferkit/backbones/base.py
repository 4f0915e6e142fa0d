"""The backbone contract: a frozen-or-trainable feature extractor that declares its inputs.

A backbone is an ``nn.Module`` mapping a prepared batch to features ``(N, feature_dim)``.
It declares its modality, its preprocessing (so features are reproducible and cacheable),
and its ordered layer groups (so later strategies can freeze "the first k").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .._io import sha256_hex
from ..errors import TransferkitError

MODALITIES = ("image", "text", "tabular")


@dataclass(frozen=True)
class Preprocessing:
    """How raw inputs become model inputs. JSON-serialisable; part of the cache key."""

    modality: str
    image_size: int | None = None  # images are resized to image_size x image_size (RGB)
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    max_length: int | None = None  # text: tokens per input, longer inputs are truncated
    tokenizer: str | None = None  # text: tokenizer identity (folder or hub id)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-serialisable dict (saved in run dirs and cache keys)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        """Rebuild from :meth:`to_dict`'s output (lists of ``mean``/``std`` become tuples)."""
        data = dict(data)
        for key in ("mean", "std"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**data)


@dataclass
class LayerGroup:
    """A named, ordered slice of the backbone (input side first)."""

    name: str
    modules: list[nn.Module]

    def parameters(self) -> list[nn.Parameter]:
        """Every parameter of the group's modules, in registration order."""
        return [p for m in self.modules for p in m.parameters()]


class Backbone(nn.Module):
    """Base class. Subclasses set ``name``, ``preprocessing``, ``feature_dim`` and implement
    :meth:`prepare`, :meth:`forward` and :meth:`layer_groups`."""

    name: str
    preprocessing: Preprocessing
    feature_dim: int
    #: Whether the ONNX Runtime fast path applies (fixed-shape image inputs).
    onnx_exportable: bool = False
    #: Bump when a subclass's computation changes: part of the fingerprint (cache key).
    arch_version: str = "1"
    #: Digest of the weights file the backbone was loaded from ("" = hash the tensors).
    _digest: str = ""
    #: The name that reloads these weights when :attr:`name` does not (``file:/abs/run``:
    #: :attr:`name` is then the architecture's); "" = :attr:`name`.
    load_name: str = ""

    @property
    def modality(self) -> str:
        """``"image"``, ``"text"`` or ``"tabular"``: the preprocessing's modality."""
        return self.preprocessing.modality

    def prepare(self, items: Sequence[Any]) -> dict[str, torch.Tensor]:
        """Turn raw items into the keyword tensors of :meth:`forward`.

        Parameters
        ----------
        items : sequence of N items
            Images (paths, PIL images, uint8 arrays ``(H, W[, C])``), strings or table rows,
            as the backbone's modality says.

        Returns
        -------
        dict of str to Tensor
            Batched model inputs, e.g. ``{"pixel_values": (N, 3, H, W)}`` or
            ``{"input_ids": (N, L), "attention_mask": (N, L)}``.
        """
        raise NotImplementedError

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        """Features of a prepared batch.

        Parameters
        ----------
        **inputs : Tensor
            What :meth:`prepare` returned.

        Returns
        -------
        Tensor, shape (N, feature_dim)
        """
        raise NotImplementedError

    def layer_groups(self) -> list[LayerGroup]:
        """The backbone as ordered, named groups of modules, input side first.

        Strategies freeze or unfreeze whole groups (``partial`` freezes the first ``K``,
        ``gradual`` unfreezes from the top); every trainable parameter is in exactly one group.

        Returns
        -------
        list of LayerGroup
        """
        raise NotImplementedError

    def init_config(self) -> dict[str, Any]:
        """The JSON-serialisable arguments that rebuild this architecture, passed back as
        ``load_backbone(name, config)`` (saved with its weights by ``save_backbone``);
        ``{}`` (the default) when the registry name alone rebuilds it."""
        return {}

    def source_head(self) -> nn.Module | None:
        """The classifier of the task these weights were trained on, when the backbone
        carries one: features ``(N, feature_dim)`` -> source logits ``(N, C_source)``.

        Source-task scores (LEEP, NCE: :mod:`transferkit.ranking.scores`) need it. A
        pretrain run's backbone (``file:RUN``) carries the run's head; EfficientNet-Lite0
        its ImageNet classifier. The head is kept out of the backbone's state (it is not
        saved, trained or transferred).

        Returns
        -------
        torch.nn.Module or None
            None when the backbone has no source classifier.
        """
        return self.__dict__.get("_source_head")

    def set_source_head(self, head: nn.Module | None) -> None:
        """Attach (or, with None, drop) the source-task classifier that
        :meth:`source_head` returns, outside the module's state."""
        self.__dict__["_source_head"] = head

    def weights_digest(self) -> str:
        """A digest of the weights: the loaded file's digest, else a digest of the tensors."""
        if self._digest:
            return self._digest
        h = hashlib.sha256()
        for key, tensor in sorted(self.state_dict().items()):
            arr = np.ascontiguousarray(tensor.detach().cpu().float().numpy())
            h.update(f"{key}:{arr.shape}".encode())
            h.update(arr.tobytes())
        return h.hexdigest()

    def fingerprint(self) -> str:
        """Identity of (architecture, weights, preprocessing): the feature-cache key prefix."""
        return sha256_hex(
            self.name,
            type(self).__name__,
            self.arch_version,
            self.weights_digest(),
            json.dumps(self.preprocessing.to_dict(), sort_keys=True),
        )[:24]

    def describe(self) -> dict[str, Any]:
        """What the backbone is, as JSON: name (the one that reloads it), modality,
        ``feature_dim``, preprocessing, layer-group names and, when non-empty, its
        ``init_config``."""
        return {
            "name": self.load_name or self.name,
            "modality": self.modality,
            "feature_dim": self.feature_dim,
            "preprocessing": self.preprocessing.to_dict(),
            "layer_groups": [g.name for g in self.layer_groups()],
            **({"init_config": config} if (config := self.init_config()) else {}),
        }


def reinitialize(backbone: Backbone, seed: int = 0) -> Backbone:
    """Replace every weight by a fresh seeded random initialisation (``reset_parameters`` of
    each layer): the same architecture, none of the pretraining. Returns ``backbone``."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for module in backbone.modules():
            if module is not backbone and hasattr(module, "reset_parameters"):
                module.reset_parameters()
    backbone._digest = ""  # the weights no longer come from the loaded file
    return backbone


def split_at_largest_modulelist(model: nn.Module) -> list[LayerGroup]:
    """Generic layer groups: what precedes the longest ``ModuleList``, each of its blocks, the rest.

    Works for BERT/ViT-style encoders (``encoder.layer``), timm (``blocks``) and similar.
    """
    best_name, best = None, None
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and (best is None or len(module) > len(best)):
            best_name, best = name, module
    if best is None:
        return [LayerGroup("all", [model])]
    block_ids = {id(m) for m in best.modules()}
    before: list[nn.Module] = []
    after: list[nn.Module] = []
    seen_blocks = False
    for _name, child in _leaf_children(model, best_name):
        if id(child) in block_ids:
            seen_blocks = True
            continue
        (after if seen_blocks else before).append(child)
    groups = [LayerGroup("embeddings", before)] if before else []
    groups += [LayerGroup(f"block{i}", [blk]) for i, blk in enumerate(best)]
    if after:
        groups.append(LayerGroup("head", after))
    return groups


def _leaf_children(model: nn.Module, target: str) -> list[tuple[str, nn.Module]]:
    """Children of ``model`` expanded along the path to ``target`` (in registration order)."""
    out: list[tuple[str, nn.Module]] = []
    for name, child in model.named_children():
        if target == name:
            out.extend((f"{name}.{i}", blk) for i, blk in enumerate(child))
        elif target.startswith(name + "."):
            sub = _leaf_children(child, target[len(name) + 1 :])
            out.extend((f"{name}.{n}", m) for n, m in sub)
        else:
            out.append((name, child))
    return out


def check_modality(backbone: Backbone, modality: str) -> None:
    """Refuse data of another modality than the backbone's.

    Parameters
    ----------
    backbone : Backbone
    modality : str
        The data's modality (``"image"``, ``"text"``, ``"tabular"``).

    Raises
    ------
    TransferkitError
        When they differ, naming both and how to list the backbones.
    """
    if backbone.modality != modality:
        raise TransferkitError(
            f"backbone '{backbone.name}' takes {backbone.modality} inputs but the data is "
            f"{modality}",
            f"pick a {modality} backbone (see `transferkit backbones`)",
        )
