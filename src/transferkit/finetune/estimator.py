"""``FineTuneClassifier``: the scikit-learn face of the fine-tuning engine.

>>> clf = FineTuneClassifier(backbone="minilm", strategy="lora", epochs=2)  # doctest: +SKIP
>>> clf.fit(texts, y).predict(["what a film"])                               # doctest: +SKIP
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..backbones import Backbone, check_modality, load_backbone
from ..backbones.base import reinitialize
from ..base import HeadClassifier, check_fit_args, encode_labels
from ..data.dataset import infer_modality, take
from ..errors import TransferkitError
from ..metrics import choose_threshold
from ..runformat import load_run, register_run_kind
from .loop import DomainObjective, TrainConfig, Trainer, predict_proba
from .model import FineTuneModel, unwrap
from .persist import restore_finetune_run, save_finetune_run
from .strategies import make_strategy


class FineTuneClassifier(HeadClassifier):
    """Backbone + linear head trained end to end by one of the registered strategies.

    ``strategy`` (``finetune``, ``linear-probe``, ``partial``, ``bitfit``, ``lora``,
    ``l2sp``, ``gradual``, ``auto``) with ``strategy_params`` (e.g. ``{"freeze": 2}``);
    loop settings as in :class:`~transferkit.finetune.loop.TrainConfig`. Model selection
    (best epoch, early stopping, binary threshold) uses ``X_val``/``y_val`` or a stratified
    ``validation_fraction`` of ``X``. ``checkpoint_dir``: per-epoch checkpoints go to
    ``checkpoint_dir/seed<random_state>``; ``resume=True`` continues from there.
    ``init="random"`` re-initialises the backbone first (the from-scratch baseline).
    """

    def __init__(
        self,
        backbone: str = "efficientnet_lite0",
        strategy: str = "finetune",
        strategy_params: dict | None = None,
        epochs: int = 3,
        lr: float | None = None,
        head_lr: float = 1e-3,
        batch_size: int = 16,
        weight_decay: float = 0.01,
        warmup: float = 0.1,
        patience: int | None = None,
        precision: str = "no",
        augment: bool | dict | None = None,
        bn: str = "auto",
        validation_fraction: float = 0.2,
        threshold_metric: str | None = "f1",
        checkpoint_dir: str | None = None,
        resume: bool = False,
        num_workers: int = 0,
        max_steps_per_epoch: int | None = None,
        verbose: bool = False,
        random_state: int = 0,
        init: str = "pretrained",
    ):
        self.init = init
        self.backbone = backbone
        self.strategy = strategy
        self.strategy_params = strategy_params
        self.epochs = epochs
        self.lr = lr
        self.head_lr = head_lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.warmup = warmup
        self.patience = patience
        self.precision = precision
        self.augment = augment
        self.bn = bn
        self.validation_fraction = validation_fraction
        self.threshold_metric = threshold_metric
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.num_workers = num_workers
        self.max_steps_per_epoch = max_steps_per_epoch
        self.verbose = verbose
        self.random_state = random_state

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs, lr=self.lr, head_lr=self.head_lr, weight_decay=self.weight_decay,
            batch_size=self.batch_size, warmup=self.warmup, patience=self.patience,
            precision=self.precision, augment=self.augment, bn=self.bn, seed=self.random_state,
            num_workers=self.num_workers, max_steps_per_epoch=self.max_steps_per_epoch,
            verbose=self.verbose)

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None) -> FineTuneClassifier:
        """Fine-tune on ``X``/``y``; select the epoch (and threshold) on validation data."""
        check_fit_args(X_val, y_val, self.threshold_metric)
        X = self._check_inputs(X, reset=True)
        X_val = None if X_val is None else self._check_inputs(X_val, reset=False)
        self.classes_, codes, c_val_given = encode_labels(X, y, y_val)
        strategy = make_strategy(self.strategy, **(self.strategy_params or {}))
        backbone = load_backbone(self.backbone)  # a private copy: its weights will change
        if backbone is self.backbone:  # an instance was given: train a copy, not the user's
            backbone = copy.deepcopy(backbone)
        if self.init not in ("pretrained", "random"):
            raise TransferkitError(f"init='{self.init}' is not an initialisation",
                                   "use 'pretrained' or 'random'")
        check_modality(backbone, infer_modality(X))
        self.base_fingerprint_ = backbone.fingerprint()  # of the named, loadable backbone
        if self.init == "random":  # the from-scratch baseline: same architecture, no transfer
            reinitialize(backbone, self.random_state)
        if X_val is not None:
            X_tr, c_tr, X_va, c_va = X, codes, X_val, c_val_given
        else:
            tr, va = self._validation_indices(codes, False)
            X_tr, c_tr = take(X, tr), codes[tr]
            X_va, c_va = (take(X, va), codes[va]) if len(va) else (None, None)
        model = FineTuneModel(backbone, len(self.classes_), seed=self.random_state)
        self.strategy_ = strategy.resolve(model, X_tr, c_tr)
        ckpt = (Path(self.checkpoint_dir) / f"seed{self.random_state}"
                if self.checkpoint_dir else None)
        trainer = Trainer(model, self.strategy_, self.train_config(), checkpoint_dir=ckpt,
                          domain=self._domain_objective(model, X_va, c_va))
        self.result_ = trainer.fit(X_tr, c_tr, X_va, c_va, resume=self.resume)
        self.model_ = trainer.module
        self.backbone_ = model.backbone
        self.head_ = unwrap(self.model_).head
        if self.backbone_changed():  # its weights are no longer the file's: hash the tensors
            self.backbone_._digest = ""  # (the fingerprint keys the feature cache)
        self.threshold_ = None
        if len(self.classes_) == 2 and self.threshold_metric and c_va is not None:
            p_val = self.predict_proba(X_va)[:, 1]
            self.threshold_ = choose_threshold(c_va, p_val, self.threshold_metric)
        self.n_validation_ = 0 if c_va is None else int(len(c_va))
        return self

    def _domain_objective(self, model: FineTuneModel, X_val: Any, codes_val: Any
                          ) -> DomainObjective | None:
        """Deep domain adaptation hooks in here (see ``adapt.deep``); plain fine-tuning: None."""
        return None

    def backbone_changed(self) -> bool:
        """Whether training changed the backbone: weights beyond the head trained, re-estimated
        BatchNorm statistics (``bn="train"``), or a random initialisation."""
        head = sum(p.numel() for p in unwrap(self.model_).head.parameters())
        return (self.result_.trainable_params > head or self.bn == "train"
                or self.init == "random" or self.strategy_.adapts_backbone)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (N, n_classes), columns in ``classes_`` order."""
        self._check_fitted()
        X = self._check_inputs(X, reset=False)
        check_modality(self.backbone_, infer_modality(X))
        return predict_proba(self.model_, X, 64, self.precision)

    def save(self, path: str | os.PathLike, **extra: Any) -> None:
        """Write a run dir: config.json + what the strategy saves (head, backbone, adapter)
        + ``extra`` JSON files."""
        self._check_fitted()
        save_finetune_run(self, path, **extra)

    @classmethod
    def load(cls, path: str | os.PathLike) -> FineTuneClassifier:
        """The fitted model saved in the run dir ``path``."""
        return load_run(path)

    def transfer_backbone(self) -> Backbone:
        """The trained backbone (LoRA's adapters merged into its layers): what
        ``file:<run dir>`` gives a later fit. Merging changes a copy, never this model."""
        self._check_fitted()
        if not self.backbone_changed():
            return self.backbone_
        backbone = self.strategy_.merge(copy.deepcopy(self.model_)).backbone
        backbone._digest = ""  # its weights are no longer the file's: hash the tensors
        return backbone


@register_run_kind("finetune")
def load_finetune_run(path: Path, config: dict[str, Any]) -> FineTuneClassifier:
    """Rebuild the fitted :class:`FineTuneClassifier` of a run dir of kind ``finetune``."""
    params = FineTuneClassifier().get_params()
    clf = FineTuneClassifier(**{k: v for k, v in config.get("params", {}).items()
                                if k in params})
    for name, value in restore_finetune_run(path, config).items():
        setattr(clf, name, value)
    return clf
