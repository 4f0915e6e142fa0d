"""Fine-tuned models in the run-dir format (``config.json`` kind ``"finetune"``).

* LoRA: ``adapter.safetensors`` = peft adapter weights *and* the head (``modules_to_save``);
* others: ``head.safetensors`` plus, when any backbone weight trained, ``backbone.safetensors``
  (written by :func:`transferkit.backbones.checkpoint.save_backbone`, so ``file:<run dir>``
  loads the fine-tuned backbone).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_dir, load_tensors, save_tensors
from ..backbones import load_backbone
from ..backbones.base import reinitialize
from ..backbones.checkpoint import BACKBONE_FILE, _load_into, save_backbone
from ..errors import TransferkitError
from .loop import TrainResult
from .model import FineTuneModel, unwrap

ADAPTER = "adapter.safetensors"
BUFFERS = "buffers.safetensors"  # BatchNorm statistics of a LoRA run with bn="train"
HEAD = "head.safetensors"


def save_finetune_run(clf: Any, path: str | Path, **extra: Any) -> Path:
    from ..run import CONFIG, FORMAT_VERSION, _jsonable, _versions, write_run_files

    path = Path(path)
    model = clf.model_
    inner = unwrap(model)
    strategy = clf.strategy_
    with atomic_dir(path, only_replace_if=CONFIG) as stage:
        config: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "kind": "finetune",
            "backbone": {**inner.backbone.describe(), "fingerprint": clf.base_fingerprint_},
            "strategy": {"name": strategy.name, "options": strategy.options(),
                         "auto": getattr(strategy, "auto_reason", None)},
            "train": dataclasses.asdict(clf.train_config()),
            "result": clf.result_.to_json(),
            "classes": clf.classes_.tolist(),
            "threshold": clf.threshold_,
            "params": {k: v for k, v in clf.get_params().items() if _jsonable(v)},
            "versions": _versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        if strategy.name == "lora":
            from peft import get_peft_model_state_dict

            cfg = strategy.config_
            config["lora"] = {"r": cfg.r, "alpha": cfg.lora_alpha, "dropout": cfg.lora_dropout,
                              "target_modules": sorted(cfg.target_modules)}
            save_tensors(stage / ADAPTER, get_peft_model_state_dict(model))
            if clf.bn == "train":  # re-estimated BatchNorm statistics are not in the adapter
                buffers = {n for n, _ in model.named_buffers()}
                save_tensors(stage / BUFFERS, {k: v for k, v in model.state_dict().items()
                                               if k in buffers})
        else:
            save_tensors(stage / HEAD, inner.head.state_dict())
            if clf.backbone_changed():
                save_backbone(inner.backbone, stage / BACKBONE_FILE)
        write_run_files(stage, config, extra)
    return path


def load_finetune_run(path: Path, config: dict[str, Any]) -> Any:
    """Rebuild the fitted :class:`FineTuneClassifier` saved by :func:`save_finetune_run`."""
    from .estimator import FineTuneClassifier
    from .strategies import make_strategy

    backbone = load_backbone(config["backbone"]["name"])
    if backbone.fingerprint() != config["backbone"]["fingerprint"]:
        raise TransferkitError(
            f"backbone '{backbone.name}' here differs from the one {path} was fine-tuned from",
            "install the package versions listed in its config.json")
    classes = np.asarray(config["classes"])
    model = FineTuneModel(backbone, len(classes))
    if "lora" in config:
        from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

        saved = config.get("params", {})
        if saved.get("init") == "random":  # the adapter was trained on this seeded re-init
            reinitialize(backbone, saved.get("random_state", 0))

        lo = config["lora"]
        module = get_peft_model(model, LoraConfig(
            r=lo["r"], lora_alpha=lo["alpha"], lora_dropout=lo["dropout"],
            target_modules=lo["target_modules"], modules_to_save=["head"], bias="none"))
        result = set_peft_model_state_dict(module, load_tensors(path / ADAPTER))
        if getattr(result, "unexpected_keys", None):
            raise TransferkitError(f"{path / ADAPTER} does not fit backbone '{backbone.name}'",
                                   "load it with the backbone it was trained on")
        if (path / BUFFERS).is_file():
            module.load_state_dict(load_tensors(path / BUFFERS), strict=False)
    else:
        if not (path / HEAD).is_file():
            raise TransferkitError(f"{path} lacks {HEAD}", "re-run the fit that wrote it")
        model.head.load_state_dict(load_tensors(path / HEAD))
        if (path / BACKBONE_FILE).is_file():
            _load_into(backbone, path / BACKBONE_FILE)
        module = model
    module.eval()
    params = FineTuneClassifier().get_params()
    clf = FineTuneClassifier(**{k: v for k, v in config.get("params", {}).items()
                                if k in params})
    clf.model_ = module
    clf.backbone_ = backbone
    clf.head_ = unwrap(module).head
    clf.classes_ = classes
    clf.threshold_ = config.get("threshold")
    clf.base_fingerprint_ = config["backbone"]["fingerprint"]
    strat = config["strategy"]
    clf.strategy_ = make_strategy(strat["name"], **strat["options"])
    if "lora" in config:
        clf.strategy_.config_ = module.peft_config["default"]
    clf.result_ = TrainResult(**config["result"])
    return clf
