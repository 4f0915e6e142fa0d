"""Backbone checkpoints: a backbone's weights in safetensors, its architecture named in the
file's metadata, so loading needs no pickle and no code from the file.

The ``file:`` scheme that reads these (and run dirs) is registered by
:mod:`transferkit.runformat`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .._io import file_digest, load_tensors, save_tensors
from ..errors import TransferkitError
from . import load_backbone
from .base import Backbone

BACKBONE_FILE = "backbone.safetensors"
#: Metadata key of the architecture arguments (``Backbone.init_config()``, JSON).
CONFIG_KEY = "transferkit_backbone_config"


def save_backbone(backbone: Backbone, path: str | os.PathLike) -> None:
    """Write the backbone's weights (atomically) with its registry name as metadata, and its
    :meth:`~transferkit.backbones.base.Backbone.init_config` (JSON) when it has one."""
    meta = {"transferkit_backbone": backbone.name}
    if config := backbone.init_config():
        meta[CONFIG_KEY] = json.dumps(config, sort_keys=True)
    save_tensors(path, backbone.state_dict(), metadata=meta)


def load_backbone_file(path: str | os.PathLike) -> Backbone:
    """The backbone saved by :func:`save_backbone` at ``path`` (a ``.safetensors`` file)."""
    from safetensors import safe_open

    path = Path(path)
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
    base_name = meta.get("transferkit_backbone")
    if not base_name:
        raise TransferkitError(
            f"{path} does not say which architecture it holds",
            "save it with transferkit.backbones.checkpoint.save_backbone",
        )
    try:
        config = json.loads(meta.get(CONFIG_KEY) or "{}")
    except json.JSONDecodeError as exc:
        raise TransferkitError(f"{path} holds a damaged architecture configuration ({exc})",
                               "save the backbone again with save_backbone") from exc
    backbone = load_backbone(base_name, config)
    load_weights_into(backbone, path)
    return backbone


def load_weights_into(backbone: Backbone, weights: str | os.PathLike) -> None:
    """Load the safetensors file ``weights`` into ``backbone`` (every tensor must fit)."""
    state = load_tensors(weights)
    missing, unexpected = backbone.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise TransferkitError(
            f"{weights} does not match backbone '{backbone.name}' "
            f"({len(missing)} missing, {len(unexpected)} unexpected tensors)",
            "use the checkpoint with the architecture it was saved from",
        )
    backbone._digest = file_digest(weights)
