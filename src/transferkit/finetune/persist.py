"""Fine-tuned models in the run-dir format (``config.json`` kind ``"finetune"``).

What a run folder holds beside ``config.json`` is the strategy's business
(:meth:`~transferkit.finetune.strategies.Strategy.save` / ``restore``): the head and, when
the backbone changed, ``backbone.safetensors`` for most strategies; LoRA's adapter. This
module only writes the configuration around them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from ..backbones import load_backbone
from ..backbones.base import reinitialize
from ..backbones.checkpoint import BACKBONE_FILE
from ..errors import TransferkitError
from ..runformat import run_config, write_run
from ..tasks import Classification, task_from_dict
from .loop import TrainResult
from .model import FineTuneModel, unwrap
from .strategies import make_strategy


def save_finetune_run(clf: Any, path: str | Path, **extra: Any) -> Path:
    """Write the fitted :class:`~transferkit.finetune.FineTuneClassifier` ``clf`` (and
    ``extra`` JSON files) as a run dir at ``path``, atomically."""
    strategy = clf.strategy_
    inner = unwrap(clf.model_)
    fields: dict[str, Any] = {
        "backbone": {**inner.backbone.describe(), "fingerprint": clf.base_fingerprint_},
        "train": dataclasses.asdict(clf.train_config()),
        "result": clf.result_.to_json(),
        "classes": clf.classes_.tolist() if getattr(clf, "classes_", None) is not None else None,
        "threshold": clf.threshold_,
        "task": clf.task_.to_dict(),
    }

    def write_weights(stage: Path) -> dict[str, Any]:
        state = strategy.save(clf.model_, stage, clf.backbone_changed())
        return {"strategy": {"name": strategy.name, "options": strategy.options(),
                             "auto": getattr(strategy, "auto_reason", None), "state": state}}

    return write_run(path, run_config(clf, "finetune", fields), write=write_weights,
                     extra=extra)


def restore_finetune_run(path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """The fitted attributes (``model_``, ``backbone_``, ``strategy_``, ...) of a run saved by
    :func:`save_finetune_run`; the estimator sets them on a new instance."""
    backbone = load_backbone(config["backbone"]["name"], config["backbone"].get("init_config"))
    if backbone.fingerprint() != config["backbone"]["fingerprint"]:
        raise TransferkitError(
            f"backbone '{backbone.name}' here differs from the one {path} was fine-tuned from",
            "install the package versions listed in its config.json")
    saved = config.get("params", {})
    if saved.get("init") == "random" and not (path / BACKBONE_FILE).is_file():
        reinitialize(backbone, saved.get("random_state", 0))  # what the weights trained on
    classes = np.asarray(config["classes"]) if config.get("classes") is not None else None
    task = (task_from_dict(config["task"]) if "task" in config
            else Classification().set_state({"classes": config["classes"]}))  # older runs
    strat = config["strategy"]
    strategy = make_strategy(strat["name"], **strat["options"])
    state = strat.get("state") or config.get("lora") or {}  # "lora": runs written before
    module = strategy.restore(FineTuneModel(backbone, task.out_features), path, state)
    module.eval()
    fitted = {"model_": module, "backbone_": backbone, "head_": unwrap(module).head,
              "threshold_": config.get("threshold"), "task_": task,
              "base_fingerprint_": config["backbone"]["fingerprint"], "strategy_": strategy,
              "result_": TrainResult(**config["result"])}
    return fitted if classes is None else {**fitted, "classes_": classes}
