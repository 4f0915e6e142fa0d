"""``file:<path>`` backbones: a transferkit run dir, or a safetensors backbone checkpoint.

A checkpoint written by :func:`save_backbone` records the architecture's registry name in
its safetensors metadata, so loading needs no pickle and no code from the file.
"""

from __future__ import annotations

import os
from pathlib import Path

from .._io import file_digest, load_tensors, read_json, save_tensors
from ..errors import TransferkitError
from .base import Backbone

BACKBONE_FILE = "backbone.safetensors"


def save_backbone(backbone: Backbone, path: str | os.PathLike) -> None:
    """Write the backbone's weights (atomically) with its registry name as metadata."""
    save_tensors(path, backbone.state_dict(), metadata={"transferkit_backbone": backbone.name})


def load_backbone_checkpoint(arg: str) -> Backbone:
    from . import load_backbone

    path = Path(arg)
    if path.is_dir():
        config_path = path / "config.json"
        if not config_path.is_file():
            raise TransferkitError(
                f"{path} is not a transferkit run dir (no config.json)",
                "point file: at a run dir written by `transferkit fit` or a .safetensors file",
            )
        config = read_json(config_path)
        if "lora" in config:  # base weights + the run's adapter, merged into plain layers
            from ..finetune.persist import load_finetune_run

            module = load_finetune_run(path, config).model_
            merged = module.merge_and_unload().backbone.eval()
            merged._digest = ""  # not the base file's weights: hash the merged tensors
            return merged
        base_name = config["backbone"]["name"]
        weights = path / BACKBONE_FILE
        backbone = load_backbone(base_name)
        if weights.is_file():
            _load_into(backbone, weights)
        return backbone
    if path.is_file() and path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        base_name = meta.get("transferkit_backbone")
        if not base_name:
            raise TransferkitError(
                f"{path} does not say which architecture it holds",
                "save it with transferkit.backbones.checkpoint.save_backbone",
            )
        backbone = load_backbone(base_name)
        _load_into(backbone, path)
        return backbone
    raise TransferkitError(
        f"file:{arg} is neither a run dir nor a .safetensors file", "check the path"
    )


def _load_into(backbone: Backbone, weights: Path) -> None:
    state = load_tensors(weights)
    missing, unexpected = backbone.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise TransferkitError(
            f"{weights} does not match backbone '{backbone.name}' "
            f"({len(missing)} missing, {len(unexpected)} unexpected tensors)",
            "use the checkpoint with the architecture it was saved from",
        )
    backbone._digest = file_digest(weights)
