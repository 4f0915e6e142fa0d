"""``DeepDomainAdaptation``: fine-tuning on labelled source + unlabelled target data.

>>> clf = DeepDomainAdaptation(method="cdan", backbone="lenet", epochs=10)   # doctest: +SKIP
>>> clf.fit(X_mnist, y_mnist, X_target=X_usps).predict(X_usps_test)         # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ...base import label_codes
from ...data.dataset import infer_modality, labels_as
from ...errors import TransferkitError, is_finite_number
from ...finetune.callbacks import Callback, LabelFreeSelection, Monitor
from ...finetune.estimator import FineTuneClassifier
from ...finetune.loop import TrainConfig
from ...finetune.model import FineTuneModel
from ...finetune.objectives import DomainObjective
from ...settings import estimator_init, settings_of
from ..validation import DEFAULT_SELECTOR
from .base import DOMAIN_LOSSES, make_domain_loss
from .select import epoch_selector, oracle_monitor

if TYPE_CHECKING:  # optuna is imported only by the tune command
    import optuna

SOURCE_ONLY = "source-only"


class DeepDomainAdaptation(FineTuneClassifier):
    """A backbone + head trained by the fine-tuning loop on source labels, plus
    ``trade_off * method`` on (source, target) batches; the epoch is chosen by ``selector``
    without target labels.

    ``method``: a registered deep method (``dan``, ``deep-coral``, ``dann``, ``cdan``,
    ``mcc``, ``wdgrl``) or ``source-only`` (same loop and selector, no adaptation term);
    ``method_params``: its options. Other parameters as in :class:`FineTuneClassifier`.
    After ``fit``: ``history_`` (per epoch), ``best_epoch_``, ``selector``'s choice, and with
    ``oracle=(X_test, y_test)`` the test-selected figure ``oracle_accuracy_`` — reported for
    reference only, never a valid estimate."""

    __init__ = estimator_init({
        "method": "dann", "method_params": None, "trade_off": 1.0,
        "selector": DEFAULT_SELECTOR, "backbone": "lenet", "strategy": "finetune",
        "strategy_params": None,
        **settings_of(TrainConfig, exclude=("seed", "desc"), epochs=10, lr=1e-3,
                      batch_size=32, augment=False),
        "validation_fraction": 0.2, "random_state": 0,
    })
    # fixed here: the epoch is chosen without target labels, in one process
    threshold_metric = None
    checkpoint_dir = None
    resume = False
    init = "pretrained"
    task = "classification"
    task_params = None

    def fit(self, X: Any, y: Any, X_target: Any = None, X_val: Any = None, y_val: Any = None,
            oracle: tuple[Any, Any] | None = None,
            callbacks: Sequence[Callback] = ()) -> DeepDomainAdaptation:
        """``X``/``y``: labelled source; ``X_target``: unlabelled target (required);
        ``X_val``/``y_val``: held-out source (default: ``validation_fraction`` of ``X``);
        ``oracle``: labelled target test data, only for the ``oracle_test_accuracy``
        column; ``callbacks``: further loop callbacks, called after the label-free epoch
        score (e.g. :class:`transferkit.tune.OptunaPruning`)."""
        if self.method != SOURCE_ONLY and self.method not in DOMAIN_LOSSES:
            raise TransferkitError(f"unknown deep domain-adaptation method '{self.method}'",
                                   f"use one of: {', '.join(sorted(DOMAIN_LOSSES))}, "
                                   f"{SOURCE_ONLY}")
        if not (is_finite_number(self.trade_off) and self.trade_off >= 0):
            raise TransferkitError(f"trade_off must be a finite number >= 0, got "
                                   f"{self.trade_off}", "pass e.g. trade_off=1.0 (--trade-off 1)")
        if X_target is None or not len(X_target):
            raise TransferkitError("deep domain adaptation needs unlabelled target samples",
                                   "pass X_target (CLI: --target)")
        if infer_modality(X_target) != infer_modality(X):
            raise TransferkitError(
                f"source is {infer_modality(X)} but target is {infer_modality(X_target)}",
                "give source and target data of the same kind")
        for stale in ("oracle_epoch_", "oracle_accuracy_"):  # from an earlier fit with oracle
            self.__dict__.pop(stale, None)
        self._target, self._oracle = X_target, oracle
        try:
            super().fit(X, y, X_val, y_val, callbacks=callbacks)
        finally:
            self._target = self._oracle = None
        self.history_ = history = self.result_.history
        self.best_epoch_ = self.result_.best_epoch
        if oracle is not None:
            accs = [h["oracle_test_accuracy"] for h in history]
            self.oracle_epoch_ = int(np.argmax(accs))
            self.oracle_accuracy_ = float(accs[self.oracle_epoch_])
        return self

    @classmethod
    def search_space(cls, trial: optuna.Trial, method: str) -> dict[str, Any]:
        """The estimator's settings to try in one ``transferkit tune --target`` trial:
        ``method_params`` from the method's own
        :meth:`~transferkit.adapt.deep.base.DomainLoss.search_space` and the adaptation
        loss's weight ``trade_off``, log-uniform over 0.03 .. 3 (neither for
        ``source-only``).

        Parameters
        ----------
        trial : optuna.Trial
        method : str
            A registered deep method or ``source-only``.

        Returns
        -------
        dict
            ``{"method_params": dict, "trade_off": float}`` or ``{}``.
        """
        if method == SOURCE_ONLY:
            return {}
        return {"method_params": DOMAIN_LOSSES.get(method).search_space(trial),
                "trade_off": trial.suggest_float("trade_off", 0.03, 3.0, log=True)}

    def train_config(self) -> TrainConfig:
        """The loop settings, with the method's name on the progress bar and epoch lines."""
        return dataclasses.replace(super().train_config(), desc=self.method)

    def _objective(self, model: FineTuneModel, X_val: Any, codes_val: Any
                   ) -> tuple[DomainObjective, list[Callback]]:
        loss = None
        if self.method != SOURCE_ONLY:
            with torch.random.fork_rng():  # seeded discriminator/critic initialisation
                torch.manual_seed(self.random_state)
                loss = make_domain_loss(self.method, model.backbone.feature_dim,
                                        model.head.out_features, **(self.method_params or {}))
        callbacks: list[Callback] = [LabelFreeSelection(epoch_selector(
            self.selector, X_val, codes_val, self._target, seed=self.random_state))]
        if self._oracle is not None:
            X_test, y_test = self._oracle
            y_test = labels_as(self.classes_, y_test, "the oracle test data", "the source")
            callbacks.append(Monitor(oracle_monitor(X_test, label_codes(self.classes_,
                                                                        y_test))))
        return DomainObjective(loss=loss, target_items=self._target,
                               trade_off=float(self.trade_off)), callbacks

    def report(self) -> str:
        """What was selected and how (plus the oracle figure when one was asked for)."""
        self._check_fitted()
        best = self.history_[self.best_epoch_]
        how = ("(a training length fixed in advance: no selection)" if self.selector == "last"
               else f"(score {best['selection_score']:.4g})")
        lines = [f"method {self.method}, epoch {self.best_epoch_ + 1}/{len(self.history_)} "
                 f"chosen by selector '{self.selector}' without target labels {how}"]
        if "oracle_test_accuracy" in best:
            lines.append(f"target test accuracy at the selected epoch: "
                         f"{best['oracle_test_accuracy']:.2%}")
            lines.append(f"ORACLE (epoch picked on target test labels, not a valid estimate): "
                         f"{self.oracle_accuracy_:.2%} at epoch {self.oracle_epoch_ + 1}")
        return "\n".join(lines)
