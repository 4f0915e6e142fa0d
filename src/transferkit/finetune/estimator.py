"""``FineTuneClassifier``: the scikit-learn face of the fine-tuning engine.

>>> clf = FineTuneClassifier(backbone="minilm", strategy="lora", epochs=2)  # doctest: +SKIP
>>> clf.fit(texts, y).predict(["what a film"])                               # doctest: +SKIP
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import RegressorMixin

from ..backbones import Backbone, check_modality, load_backbone
from ..backbones.base import reinitialize
from ..base import HeadClassifier, check_fit_args, encode_labels
from ..data.dataset import infer_modality, take
from ..errors import TransferkitError
from ..metrics import choose_threshold
from ..runformat import load_run, register_run_kind
from ..settings import estimator_init, settings_of
from ..tasks import Classification, MultiLabel, MultiTask, Regression, make_task
from .callbacks import Callback
from .loop import TrainConfig, Trainer, predict_outputs
from .model import FineTuneModel, unwrap
from .objectives import Objective, Supervised
from .persist import restore_finetune_run, save_finetune_run
from .strategies import make_strategy

#: the loop's settings, as estimator parameters (``seed`` is ``random_state``; ``desc`` is
#: the estimator's own label)
LOOP_SETTINGS = settings_of(TrainConfig, exclude=("seed", "desc"))

FINETUNE_PARAMETERS = {
    "backbone": "efficientnet_lite0", "strategy": "finetune", "strategy_params": None,
    **LOOP_SETTINGS,
    "validation_fraction": 0.2, "threshold_metric": "f1", "checkpoint_dir": None,
    "resume": False, "random_state": 0, "init": "pretrained",
    "task": "classification", "task_params": None,
}


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

    __init__ = estimator_init(FINETUNE_PARAMETERS)

    def train_config(self) -> TrainConfig:
        """The loop's settings, from this estimator's parameters of the same names."""
        return TrainConfig(**{name: getattr(self, name) for name in LOOP_SETTINGS},
                           seed=self.random_state)

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None,
            callbacks: Sequence[Callback] = ()) -> FineTuneClassifier:
        """Fine-tune on ``X``/``y``; select the epoch (and thresholds) on validation data.

        ``y``: labels ``(N,)`` (classification), label collections or a 0/1 array ``(N, L)``
        (``task="multilabel"``), or numbers ``(N,)`` (``task="regression"``).
        ``callbacks``: further loop callbacks (:mod:`~transferkit.finetune.callbacks`),
        called after the epoch is scored and before the best epoch is kept, e.g.
        :class:`transferkit.tune.OptunaPruning`; they are not part of the estimator's
        parameters (nothing of them is saved)."""
        check_fit_args(X_val, y_val, self.threshold_metric)
        X = self._check_inputs(X, reset=True)
        X_val = None if X_val is None else self._check_inputs(X_val, reset=False)
        task = make_task(self.task, **(self.task_params or {}))
        if isinstance(task, Classification):
            self.classes_, targets, t_val_given = encode_labels(X, y, y_val)
            task.classes_ = self.classes_
        else:
            task.fit(y)
            targets = task.encode(y)
            t_val_given = None if y_val is None else task.encode(y_val, "the validation labels")
            if hasattr(task, "classes_"):
                self.classes_ = task.classes_
        self.task_ = task
        strategy = make_strategy(self.strategy, **(self.strategy_params or {}))
        if strategy.needs_class_labels and not isinstance(task, Classification):
            raise TransferkitError(f"strategy '{strategy.name}' probes class labels; the task is "
                                   f"{task.name}", "name a strategy, e.g. --strategy finetune")
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
            X_tr, c_tr, X_va, c_va = X, targets, X_val, t_val_given
        else:
            tr, va = (self._validation_indices(targets, False)
                      if isinstance(task, Classification) else self._random_split(len(targets)))
            X_tr, c_tr = take(X, tr), targets[tr]
            X_va, c_va = (take(X, va), targets[va]) if len(va) else (None, None)
        model = FineTuneModel(backbone, task.out_features, seed=self.random_state)
        self.strategy_ = strategy.resolve(model, X_tr, c_tr)
        ckpt = (Path(self.checkpoint_dir) / f"seed{self.random_state}"
                if self.checkpoint_dir else None)
        objective, own = self._objective(model, X_va, c_va)
        trainer = Trainer(model, self.strategy_, self.train_config(), checkpoint_dir=ckpt,
                          objective=objective or Supervised(task),
                          callbacks=[*own, *callbacks])
        self.result_ = trainer.fit(X_tr, c_tr, X_va, c_va, resume=self.resume)
        self.model_ = trainer.module
        self.backbone_ = model.backbone
        self.head_ = unwrap(self.model_).head
        if self.backbone_changed():  # its weights are no longer the file's: hash the tensors
            self.backbone_._digest = ""  # (the fingerprint keys the feature cache)
        self.threshold_ = None
        if isinstance(task, Classification):
            if len(self.classes_) == 2 and self.threshold_metric and c_va is not None:
                p_val = self.predict_proba(X_va)[:, 1]
                self.threshold_ = choose_threshold(c_va, p_val, self.threshold_metric)
        elif isinstance(task, MultiLabel):
            self.threshold_ = (task.choose_thresholds(c_va, self.predict_proba(X_va)).tolist()
                               if c_va is not None else None)
        self.n_validation_ = 0 if c_va is None else int(len(c_va))
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Labels ``(N,)``; for multi-label a 0/1 array ``(N, L)`` in ``classes_`` order
        (per-label validation thresholds, else 0.5); for regression the values ``(N,)``; for
        multi-task ``{task: its predictions}`` (classes by argmax, values, 0.5 thresholds)."""
        task = getattr(self, "task_", None)
        if isinstance(task, MultiTask):
            return {name: _decide(part_task, part) for (name, part), part_task in zip(
                task.split(self.predict_proba(X)).items(), task.tasks.values(), strict=True)}
        if isinstance(task, MultiLabel):
            thresholds = 0.5 if self.threshold_ is None else np.asarray(self.threshold_)
            return (self.predict_proba(X) >= thresholds).astype(int)
        if isinstance(task, Regression):
            return self.predict_proba(X)[:, 0]
        return super().predict(X)

    def _objective(self, model: FineTuneModel, X_val: Any, targets_val: Any
                   ) -> tuple[Objective | None, list[Callback]]:
        """What the loop minimises and the callbacks beside the defaults: here the
        supervised loss (None) and none; deep domain adaptation hooks in here."""
        return None, []

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
        task = getattr(self, "task_", None) or Classification()
        return predict_outputs(self.model_, X, 64, self.precision, features=False,
                               activate=task.activate)[1]

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

    def source_head(self) -> torch.nn.Module | None:
        """A frozen copy of the trained head, features ``(N, D)`` -> logits
        ``(N, n_classes)``, for a single-label classifier (what a later ranking scores as
        the source task, e.g. LEEP); None for other tasks."""
        self._check_fitted()
        if not isinstance(getattr(self, "task_", None) or Classification(), Classification):
            return None
        return copy.deepcopy(self.head_).requires_grad_(False).eval()


class FineTuneRegressor(RegressorMixin, FineTuneClassifier):
    """Backbone + one output trained end to end on numbers (``task="regression"``: MSE, or
    Huber with ``task_params={"loss": "huber"}``, on standardised targets); the epoch with
    the best validation RMSE is kept. Other parameters as in :class:`FineTuneClassifier`.
    ``predict(X)`` -> values ``(N,)``; ``score`` is R²."""

    __init__ = estimator_init({**FINETUNE_PARAMETERS, "threshold_metric": None,
                               "task": "regression"})


def _decide(task: Any, predictions: np.ndarray) -> np.ndarray:
    """One task's predictions of a multi-task model as labels or values."""
    if isinstance(task, Regression):
        return predictions[:, 0]
    if isinstance(task, MultiLabel):
        return (predictions >= 0.5).astype(int)
    return task.classes_[predictions.argmax(axis=1)]


@register_run_kind("finetune")
def load_finetune_run(path: Path, config: dict[str, Any]) -> FineTuneClassifier:
    """Rebuild the fitted :class:`FineTuneClassifier` (or :class:`FineTuneRegressor`) of a
    run dir of kind ``finetune``."""
    cls = (FineTuneRegressor if config.get("task", {}).get("kind") == "regression"
           else FineTuneClassifier)
    params = cls().get_params()
    clf = cls(**{k: v for k, v in config.get("params", {}).items() if k in params})
    for name, value in restore_finetune_run(path, config).items():
        setattr(clf, name, value)
    return clf
