"""Your own source model: pretrain a backbone on a source dataset, then transfer it.

* **supervised** (:func:`pretrain_supervised`): the architecture plus a linear head,
  every weight trained on the source labels, the epoch chosen on a validation split of
  the source. The run is a fine-tuning run, so ``--backbone file:RUN`` transfers its
  backbone (a new head is made for the target's label set) and ranking reads its head as
  the source task (LEEP, NCE).
* **self-supervised** (:class:`SelfSupervisedPretrainer`): SimCLR or VICReg
  (:mod:`transferkit.finetune.selfsup`) on inputs without labels; the projection head
  trains beside the backbone and is dropped when it is saved.

>>> from transferkit.pretrain import pretrain_supervised            # doctest: +SKIP
>>> source = pretrain_supervised(mnist, arch="lenet", epochs=5)       # doctest: +SKIP
>>> source.save("runs/mnist_src")                                     # doctest: +SKIP
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from .backbones import Backbone, check_modality, load_backbone
from .backbones.checkpoint import BACKBONE_FILE, load_backbone_file, save_backbone
from .data.dataset import Dataset, infer_modality
from .errors import NotFitted, TransferkitError
from .features import extract_features
from .finetune.estimator import FineTuneClassifier
from .finetune.loop import TrainConfig
from .runformat import register_run_kind, run_config, write_run

#: the architecture a source of each modality is pretrained with when none is named
DEFAULT_ARCH = {"image": "lenet", "text": "minilm", "tabular": "tabular_mlp"}
#: batch sizes: contrastive losses want many negatives per batch
SUPERVISED_BATCH, SELF_SUPERVISED_BATCH = 64, 256
SELFSUP_KIND = "selfsup"


def source_architecture(arch: str | Backbone | None, data: Dataset) -> Backbone:
    """The backbone a source of ``data`` is pretrained from.

    Parameters
    ----------
    arch : str, Backbone or None
        A registry name (``lenet``, ``resnet_small``, ``tabular_mlp``, ``efficientnet_lite0``
        -- its weights then initialise the source model --, ``file:RUN``, ...); None: the
        default of the data's modality (:data:`DEFAULT_ARCH`).
    data : Dataset
        The source data (a table loaded with ``mixed=True`` for ``tabular_mlp``: its column
        schema is fitted on these rows).

    Returns
    -------
    Backbone
        A private copy, ready to train.
    """
    modality = data.modality
    arch = arch or DEFAULT_ARCH.get(modality)
    if arch is None:
        raise TransferkitError(f"{data.name} holds {modality} features, which no source "
                               "architecture reads", "pass images, texts or a table (.csv)")
    if arch == "tabular_mlp":
        if modality != "tabular":
            raise TransferkitError(f"--arch tabular_mlp reads a table's columns; {data.name} "
                                   f"holds {modality} data", "use --arch lenet or "
                                   "resnet_small for images, minilm for texts")
        from .backbones.tabular import ColumnSchema, TabularMLP

        rows = np.asarray(data.X, dtype=object)
        return TabularMLP(ColumnSchema.fit(rows, columns=data.feature_names))
    backbone = load_backbone(arch)
    check_modality(backbone, modality)
    return copy.deepcopy(backbone)


def pretrain_supervised(data: Dataset, arch: str | Backbone | None = None, epochs: int = 10,
                        lr: float = 1e-3, batch_size: int = SUPERVISED_BATCH,
                        validation_fraction: float = 0.1, random_state: int = 0,
                        verbose: bool = False, **loop: Any) -> FineTuneClassifier:
    """Train ``arch`` and a linear head on the labelled source ``data``.

    Parameters
    ----------
    data : Dataset
        Labelled source data (at least two classes).
    arch : str, Backbone or None
        See :func:`source_architecture`.
    epochs, lr, batch_size : int, float, int
        Loop budget; ``lr`` is the rate of every weight (the backbone's and the head's).
    validation_fraction : float
        Stratified share of the source held out to choose the epoch (0: the last one).
    random_state : int
        Seed of the split, the head's initialisation and the batches.
    verbose : bool
        One line per epoch.
    **loop
        Further loop settings (:class:`~transferkit.finetune.loop.TrainConfig` fields,
        e.g. ``augment=False``, ``precision="bf16"``).

    Returns
    -------
    FineTuneClassifier
        The fitted source model; ``save(path)`` writes a run that ``file:`` transfers.
    """
    if data.y is None:
        raise TransferkitError(f"{data.name} has no labels, and a supervised pretrain learns "
                               "from labels", "save the labels beside the inputs, or "
                               "pretrain on the inputs alone: --self-supervised simclr")
    if np.ndim(data.y) != 1:
        raise TransferkitError(f"{data.name} holds several labels per sample; a source model "
                               "is pretrained on one label per sample", "give one label column")
    backbone = source_architecture(arch, data)
    if backbone.modality == "image":  # crops and jitter, no mirror images (digits, text)
        loop.setdefault("augment", {"flip": False})
    model = FineTuneClassifier(
        backbone=backbone, strategy="finetune", epochs=epochs, lr=lr, head_lr=lr,
        batch_size=batch_size, validation_fraction=validation_fraction,
        threshold_metric=None, random_state=random_state, verbose=verbose, **loop)
    return model.fit(data.X, data.y)


class SelfSupervisedPretrainer(BaseEstimator):
    """A backbone pretrained on inputs alone by a self-supervised objective.

    Parameters
    ----------
    backbone : str or Backbone
        The architecture (see :func:`source_architecture`); a table's schema comes from
        the rows given to :meth:`fit` when it is ``"tabular_mlp"``.
    method : str
        ``"simclr"`` or ``"vicreg"`` (:data:`transferkit.finetune.selfsup.SELF_SUPERVISED`).
    method_params : dict or None
        Options of the method (e.g. ``{"temperature": 0.2}``).
    epochs, lr, batch_size : int, float, int
        Loop budget (``lr`` for the backbone and the projection head alike).
    random_state : int
        Seed of the initialisation, the views and the batches.
    verbose : bool
        One line per epoch (loss, k-NN accuracy when monitored).
    precision : str
        ``"no"`` or ``"bf16"``.

    Attributes
    ----------
    backbone_ : Backbone
        The trained backbone (no projection head).
    result_ : TrainResult
        The loop's history (``train_loss``, ``knn_accuracy`` per epoch when monitored).
    """

    def __init__(self, backbone: str | Backbone = "lenet", method: str = "simclr",
                 method_params: dict | None = None, epochs: int = 20, lr: float = 1e-3,
                 batch_size: int = SELF_SUPERVISED_BATCH, random_state: int = 0,
                 verbose: bool = False, precision: str = "no"):
        self.backbone = backbone
        self.method = method
        self.method_params = method_params
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose
        self.precision = precision

    def fit(self, X: Any, y: Any = None, X_monitor: Any = None, y_monitor: Any = None
            ) -> SelfSupervisedPretrainer:
        """Pretrain on the inputs ``X`` (``y`` is ignored: no labels are used).

        Parameters
        ----------
        X : sequence of N items
            Images, or table rows (with a :class:`~transferkit.backbones.tabular.TabularMLP`).
        y : ignored
        X_monitor, y_monitor : sequence, array-like or None
            A small labelled set: its k-NN accuracy on the features is reported each epoch
            (never used to select anything).

        Returns
        -------
        SelfSupervisedPretrainer
            self, fitted.
        """
        from .finetune.selfsup import train_self_supervised

        if isinstance(self.backbone, Backbone):
            backbone = copy.deepcopy(self.backbone)
        else:
            backbone = copy.deepcopy(load_backbone(self.backbone))
        check_modality(backbone, infer_modality(X))
        config = TrainConfig(epochs=self.epochs, lr=self.lr, head_lr=self.lr,
                             batch_size=self.batch_size, seed=self.random_state,
                             verbose=self.verbose, precision=self.precision, augment=False,
                             desc=f"{self.method} pretraining")
        monitor = None if X_monitor is None else (X_monitor, np.asarray(y_monitor))
        self.result_ = train_self_supervised(backbone, X, method=self.method, config=config,
                                             monitor=monitor, **(self.method_params or {}))
        self.backbone_ = backbone  # trained, in eval mode, its digest reset
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "backbone_"):
            raise NotFitted("this SelfSupervisedPretrainer is not fitted yet",
                            "call fit(X) first")

    def transfer_backbone(self) -> Backbone:
        """The pretrained backbone: what ``file:<run dir>`` gives a later fit.

        Returns
        -------
        Backbone
        """
        self._check_fitted()
        return self.backbone_

    def transform(self, X: Any) -> np.ndarray:
        """Features of ``X`` through the pretrained backbone.

        Parameters
        ----------
        X : sequence of N items

        Returns
        -------
        numpy.ndarray, shape (N, feature_dim)
        """
        self._check_fitted()
        return extract_features(self.backbone_, X, cache=False, progress=False)

    def save(self, path: str | os.PathLike, **extra: Any) -> None:
        """Write a run dir: the backbone checkpoint, ``config.json`` (the method, the
        history) and ``extra`` JSON files."""
        self._check_fitted()
        config = run_config(self, SELFSUP_KIND, {
            "backbone": self.backbone_.describe(), "method": self.method,
            "history": self.result_.history})
        write_run(path, config, extra=extra,
                  write=lambda stage: save_backbone(self.backbone_, stage / BACKBONE_FILE))

    @classmethod
    def load(cls, path: str | os.PathLike) -> SelfSupervisedPretrainer:
        """The pretrained model saved in the run dir ``path``."""
        from .runformat import load_run

        return load_run(path)


@register_run_kind(SELFSUP_KIND, BACKBONE_FILE)
def load_selfsup_run(path: Path, config: dict[str, Any]) -> SelfSupervisedPretrainer:
    """Rebuild a :class:`SelfSupervisedPretrainer` saved in a run dir of kind ``selfsup``."""
    from .finetune.loop import TrainResult

    params = SelfSupervisedPretrainer().get_params()
    model = SelfSupervisedPretrainer(**{k: v for k, v in config.get("params", {}).items()
                                        if k in params})
    model.backbone_ = load_backbone_file(path / BACKBONE_FILE).eval()
    model.backbone_.load_name = f"file:{Path(path).resolve()}"
    model.result_ = TrainResult(history=config.get("history", []))
    return model
