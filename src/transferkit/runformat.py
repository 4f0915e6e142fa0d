"""The run-directory format: one folder per saved model, written atomically.

A run dir holds ``config.json`` (its ``kind``, the backbone, the classes, the package
versions, ...), the kind's safetensors files and any extra JSON files (``metrics.json``).
It is written to a staging folder and swapped in by rename, so an interrupted save never
leaves a half-written model that loads.

This module sits below every estimator: estimators register the kinds they write with
:func:`register_run_kind` and :func:`load_run` dispatches on ``config.json``'s ``kind``.
It also registers the ``file:`` backbone scheme (a run dir's backbone, or a backbone
``.safetensors`` checkpoint): runs register into the backbone registry, never the reverse.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from ._io import CONFIG, atomic_dir, read_json, recover_dir, save_tensors, write_json
from .backbones import Backbone, BackboneInfo, register_scheme
from .backbones.checkpoint import load_backbone_file
from .errors import TransferkitError
from .registry import Registry
from .version import __version__

FORMAT_VERSION = 1

#: ``kind`` -> (loader(path, config) -> fitted estimator, files the kind always has)
RunLoader = Callable[[Path, dict[str, Any]], Any]
RUN_KINDS: Registry[tuple[RunLoader, tuple[str, ...]]] = Registry("run kind")


def register_run_kind(kind: str, *required: str) -> Callable[[RunLoader], RunLoader]:
    """Decorator: ``loader(path, config)`` rebuilds runs of ``kind``; ``required`` names the
    files such a run always holds (checked before the loader runs)."""

    def deco(loader: RunLoader) -> RunLoader:
        RUN_KINDS.register(kind)((loader, required))
        return loader

    return deco


def versions() -> dict[str, str]:
    """The versions of transferkit and the libraries a run's numbers depend on."""
    import sklearn
    import transformers

    return {
        "transferkit": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "scikit-learn": sklearn.__version__,
        "python": platform.python_version(),
    }


def jsonable(value: Any) -> bool:
    """Whether ``value`` can be written to ``config.json`` as it is."""
    return value is None or isinstance(value, str | int | float | bool | dict | list)


def run_config(estimator: Any, kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """``config.json`` of a run of ``kind``: the format version, ``fields``, the estimator's
    JSON-serialisable parameters, the versions and the time of writing."""
    return {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        **fields,
        "params": {k: v for k, v in estimator.get_params().items() if jsonable(v)},
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_run(path: str | os.PathLike, config: dict[str, Any],
              tensors: Mapping[str, Mapping[str, torch.Tensor]] | None = None,
              extra: Mapping[str, Any] | None = None,
              write: Callable[[Path], Mapping[str, Any] | None] | None = None) -> Path:
    """Write a run dir atomically: ``tensors`` (file name -> tensors) as safetensors,
    ``write(stage)`` for files a component writes itself (what it returns is added to the
    config, e.g. the state needed to read those files back), ``extra`` (name -> object) as
    ``<name>.json`` and ``config.json`` last (a run without it never loads). An existing
    ``path`` is replaced only when it is a run dir."""
    with atomic_dir(path, only_replace_if=CONFIG) as stage:
        for name, state in (tensors or {}).items():
            save_tensors(stage / name, state)
        if write is not None:
            config = {**config, **(write(stage) or {})}
        for name, obj in (extra or {}).items():
            write_json(stage / f"{name}.json", obj)
        write_json(stage / CONFIG, config)
    return Path(path)


def read_run_config(path: str | os.PathLike) -> dict[str, Any]:
    """``config.json`` of the run dir ``path`` (one line when there is none or it is newer)."""
    path = Path(path)
    if not (path / CONFIG).is_file():
        raise TransferkitError(f"{path} is not a transferkit run dir (no {CONFIG})",
                               "pass the --out folder of a finished `transferkit fit`")
    config = read_json(path / CONFIG)
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise TransferkitError(f"{path} was written by a newer transferkit",
                               "upgrade transferkit to load it")
    return config


def load_run(path: str | os.PathLike) -> Any:
    """The fitted estimator saved in the run dir ``path``, whatever its kind (a run left
    beside ``path`` by a save killed mid-swap is put back first)."""
    path = Path(path)
    recover_dir(path)
    config = read_run_config(path) if (path / CONFIG).is_file() else {}
    loader, required = RUN_KINDS.get(config.get("kind", "transfer"))
    missing = [name for name in (CONFIG, *required) if not (path / name).is_file()]
    if missing:
        raise TransferkitError(
            f"{path} is not a complete transferkit run dir (needs {', '.join(missing)})",
            "pass the --out folder of a finished `transferkit fit`")
    return loader(path, config)


def run_backbone(path: str | os.PathLike) -> Backbone:
    """The backbone of a saved run, as it was trained (the model's
    ``transfer_backbone()``: for a fine-tuned run its trained weights, adapters merged)."""
    read_run_config(path)
    model = load_run(path)
    if not hasattr(model, "transfer_backbone"):
        raise TransferkitError(f"the run {path} ({type(model).__name__}) holds no backbone "
                               "to transfer", "pass a run of `transferkit fit` (a fine-tuned "
                               "or frozen backbone) or of `transferkit pretrain`")
    backbone = model.transfer_backbone().eval()
    source_head = getattr(model, "source_head", None)
    if source_head is not None:  # the run's classifier: the source task of LEEP/NCE
        backbone.set_source_head(source_head())
    return backbone


@register_scheme(
    BackboneInfo("file", "any", "a transferkit run dir or a backbone .safetensors checkpoint")
)
def _file_backbone(arg: str) -> Backbone:
    path = Path(arg)
    if path.is_dir():
        return run_backbone(path)
    if path.is_file() and path.suffix == ".safetensors":
        return load_backbone_file(path)
    raise TransferkitError(
        f"file:{arg} is neither a run dir nor a .safetensors file", "check the path"
    )
