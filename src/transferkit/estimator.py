"""scikit-learn-compatible estimators: transfer (frozen backbone + head) and from-scratch.

>>> clf = TransferClassifier(backbone="minilm").fit(texts, y)      # doctest: +SKIP
>>> clf.predict(["free prize, call now"])                            # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ._io import load_tensors
from .backbones import Backbone, check_modality
from .base import HeadClassifier, shared_backbone
from .baselines import RAW_FEATURIZERS
from .data.dataset import infer_modality
from .errors import TransferkitError
from .features import extract_features
from .finetune import FineTuneClassifier
from .heads import HEADS
from .runformat import load_run, register_run_kind, run_config, write_run

HEAD = "head.safetensors"


class TransferClassifier(HeadClassifier):
    """Frozen pretrained backbone + a new head on its (cached) features.

    Parameters: ``backbone`` (registry name, see ``transferkit backbones``), ``head``
    ("logistic" or "mlp"), ``head_params`` (dict), ``validation_fraction`` (held out of the
    training data for model selection when no validation set is passed), ``threshold_metric``
    (binary: metric the decision threshold maximises on validation; None = 0.5),
    ``refit`` (retrain on train + validation with what validation chose, like scikit-learn's
    ``GridSearchCV``), ``batch_size``, ``engine`` ("auto", "onnx", "torch"), ``cache``
    (feature cache on disk), ``random_state``.

    ``strategy`` other than "linear-probe" (the default, this cached-feature path) trains the
    backbone too: the fit is delegated to :class:`transferkit.finetune.FineTuneClassifier`
    with ``strategy_params``, ``epochs``, ``lr`` and any further loop settings in
    ``finetune_params`` (see the README, "Fine-tuning the backbone").
    """

    def __init__(
        self,
        backbone: str = "efficientnet_lite0",
        head: str = "logistic",
        head_params: dict | None = None,
        validation_fraction: float = 0.2,
        threshold_metric: str | None = "f1",
        refit: bool = True,
        batch_size: int | None = None,
        engine: str = "auto",
        cache: bool = True,
        random_state: int = 0,
        strategy: str = "linear-probe",
        strategy_params: dict | None = None,
        epochs: int = 3,
        lr: float | None = None,
        finetune_params: dict | None = None,
    ):
        self.backbone = backbone
        self.head = head
        self.head_params = head_params
        self.validation_fraction = validation_fraction
        self.threshold_metric = threshold_metric
        self.refit = refit
        self.batch_size = batch_size
        self.engine = engine
        self.cache = cache
        self.random_state = random_state
        self.strategy = strategy
        self.strategy_params = strategy_params
        self.epochs = epochs
        self.lr = lr
        self.finetune_params = finetune_params

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None) -> TransferClassifier:
        if self.strategy == "linear-probe":
            for stale in ("finetuned_", "backbone_"):  # from an earlier fit or set_params
                self.__dict__.pop(stale, None)
            return super().fit(X, y, X_val, y_val)
        ft = FineTuneClassifier(
            backbone=self.backbone, strategy=self.strategy, strategy_params=self.strategy_params,
            epochs=self.epochs, lr=self.lr, validation_fraction=self.validation_fraction,
            threshold_metric=self.threshold_metric, random_state=self.random_state,
            **({"batch_size": self.batch_size} if self.batch_size else {}),
            **(self.finetune_params or {}))
        self.finetuned_ = ft.fit(X, y, X_val, y_val)
        for attr in ("classes_", "threshold_", "head_", "backbone_", "n_validation_"):
            setattr(self, attr, getattr(ft, attr))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        if hasattr(self, "finetuned_"):
            return self.finetuned_.predict_proba(X)
        return super().predict_proba(X)

    def _features(self, X: Any, fitting: bool) -> np.ndarray:
        if not hasattr(self, "backbone_"):
            self.backbone_ = shared_backbone(self.backbone)
        check_modality(self.backbone_, infer_modality(X))
        return extract_features(
            self.backbone_, X, batch_size=self.batch_size, engine=self.engine, cache=self.cache
        )

    def save(self, path: str | os.PathLike, **extra: Any) -> None:
        """Write a run dir (config.json, head.safetensors, ``extra`` JSON files) atomically."""
        self._check_fitted()
        if hasattr(self, "finetuned_"):
            return self.finetuned_.save(path, **extra)
        config = run_config(self, "transfer", {
            "backbone": {**self.backbone_.describe(),
                         "fingerprint": self.backbone_.fingerprint()},
            "head": {"name": self.head_.name, "config": self.head_.config()},
            "classes": self.classes_.tolist(),
            "threshold": self.threshold_})
        write_run(path, config, {HEAD: self.head_.state()}, extra)

    @classmethod
    def load(cls, path: str | os.PathLike) -> TransferClassifier:
        """The fitted model saved in the run dir ``path`` (any kind: see ``load_run``)."""
        return load_run(path)

    def transfer_backbone(self) -> Backbone:
        """The backbone this model's features come from (what ``file:<run dir>`` loads)."""
        self._check_fitted()
        if hasattr(self, "finetuned_"):
            return self.finetuned_.transfer_backbone()
        return self.backbone_


class FromScratchClassifier(HeadClassifier):
    """The baseline: the same head on raw inputs (pixels, TF-IDF, numeric columns)."""

    def __init__(
        self,
        head: str = "logistic",
        head_params: dict | None = None,
        validation_fraction: float = 0.2,
        threshold_metric: str | None = "f1",
        refit: bool = True,
        random_state: int = 0,
    ):
        self.head = head
        self.head_params = head_params
        self.validation_fraction = validation_fraction
        self.threshold_metric = threshold_metric
        self.refit = refit
        self.random_state = random_state

    def _features(self, X: Any, fitting: bool) -> Any:
        modality = infer_modality(X)
        if fitting:
            self.modality_ = modality
            self.featurizer_ = RAW_FEATURIZERS[modality]().fit(X)
        elif modality != self.modality_:
            raise TransferkitError(
                f"this model was trained on {self.modality_} inputs, got {modality}",
                f"pass {self.modality_} inputs",
            )
        return self.featurizer_.transform(X)

    @property
    def description(self) -> str:
        return f"{self.featurizer_.description} + {self.head_.name} head"


@register_run_kind("transfer", HEAD)
def load_transfer_run(path: Path, config: dict[str, Any]) -> TransferClassifier:
    """Rebuild the fitted frozen-backbone :class:`TransferClassifier` of a run dir."""
    params = config.get("params", {})
    clf = TransferClassifier(**{k: v for k, v in params.items()
                                if k in TransferClassifier().get_params()})
    clf.backbone_ = shared_backbone(config["backbone"]["name"])
    if clf.backbone_.fingerprint() != config["backbone"]["fingerprint"]:
        raise TransferkitError(
            f"backbone '{clf.backbone_.name}' here differs from the one {path} was trained with "
            "(other weights or preprocessing)",
            "install the package versions listed in its config.json",
        )
    head_cls = HEADS[config["head"]["name"]]
    clf.head_ = head_cls.from_state(config["head"]["config"], load_tensors(path / HEAD))
    clf.classes_ = np.asarray(config["classes"])
    clf.threshold_ = config.get("threshold")
    return clf
