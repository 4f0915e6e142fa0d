"""Run directories and the transfer-vs-baseline experiment behind ``transferkit fit``.

A run dir holds ``config.json`` (backbone, preprocessing, classes, threshold, versions),
``head.safetensors`` and ``metrics.json``. It is written to a staging folder and swapped in
by rename, so an interrupted save never leaves a half-written model that loads.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from ._io import CONFIG, atomic_dir, load_tensors, read_json, save_tensors, write_json
from .backbones import check_modality
from .data.dataset import Dataset, labels_as, take
from .data.split import per_class_subsample, stratified_split
from .errors import TransferkitError
from .heads import HEADS
from .metrics import classification_metrics, format_table, mean_sd

HEAD = "head.safetensors"
METRICS = "metrics.json"
FORMAT_VERSION = 1


def _versions() -> dict[str, str]:
    import sklearn
    import torch
    import transformers

    return {
        "transferkit": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "scikit-learn": sklearn.__version__,
        "python": platform.python_version(),
    }


def save_run(clf: Any, path: str | os.PathLike, **extra: Any) -> Path:
    """Write ``clf`` (a fitted TransferClassifier) and ``extra`` JSON files to ``path``."""
    config = {
        "format_version": FORMAT_VERSION,
        "kind": "transfer",
        "backbone": {**clf.backbone_.describe(), "fingerprint": clf.backbone_.fingerprint()},
        "head": {"name": clf.head_.name, "config": clf.head_.config()},
        "classes": clf.classes_.tolist(),
        "threshold": clf.threshold_,
        "params": {k: v for k, v in clf.get_params().items() if _jsonable(v)},
        "versions": _versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    with atomic_dir(path, only_replace_if=CONFIG) as stage:
        save_tensors(stage / HEAD, clf.head_.state())
        write_run_files(stage, config, extra)
    return Path(path)


def write_run_files(stage: Path, config: dict[str, Any], extra: dict[str, Any]) -> None:
    """The JSON files of a run dir; ``config.json`` last (a run without it never loads)."""
    for name, obj in extra.items():
        write_json(stage / f"{name}.json", obj)
    write_json(stage / CONFIG, config)


def _jsonable(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool | dict | list)


def load_run(path: str | os.PathLike) -> Any:
    """Load a run dir written by :func:`save_run` as a fitted TransferClassifier."""
    from .estimator import TransferClassifier, shared_backbone

    path = Path(path)
    config = read_json(path / CONFIG) if (path / CONFIG).is_file() else {}
    if config.get("kind") == "finetune":  # end-to-end trained: see transferkit.finetune
        from .finetune.persist import load_finetune_run

        return load_finetune_run(path, config)
    if not (path / CONFIG).is_file() or not (path / HEAD).is_file():
        raise TransferkitError(
            f"{path} is not a complete transferkit run dir (needs {CONFIG} and {HEAD})",
            "pass the --out folder of a finished `transferkit fit`",
        )
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise TransferkitError(
            f"{path} was written by a newer transferkit", "upgrade transferkit to load it"
        )
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


# ----------------------------------------------------------------------------- experiment


@dataclass
class Comparison:
    """Transfer vs. from-scratch on the same splits, over seeds."""

    rows: list[tuple[str, dict[str, Any]]]
    per_seed: dict[str, list[dict[str, Any]]]
    protocol: str
    model: Any = None  # the transfer model of the first seed
    extra: dict[str, Any] = field(default_factory=dict)

    def table(self) -> str:
        return format_table(self.rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "summary": {name: m for name, m in self.rows},
            "per_seed": self.per_seed,
            **self.extra,
        }


def compare(
    data: Dataset,
    backbone: str = "efficientnet_lite0",
    head: str = "logistic",
    seeds: tuple[int, ...] = (0,),
    test_size: float = 0.2,
    val_size: float = 0.2,
    labels_per_class: int | None = None,
    baseline: bool = True,
    test_data: Dataset | None = None,
    **clf_params: Any,
) -> Comparison:
    """Train the transfer model and (optionally) the from-scratch baseline on identical
    splits for each seed; score both on the same test split."""
    from .estimator import FromScratchClassifier, TransferClassifier

    y = np.asarray(data.y)
    frozen = clf_params.get("strategy", "linear-probe") == "linear-probe"
    if frozen and clf_params.get("cache", True):  # one extraction pass, then cache hits
        from .estimator import shared_backbone
        from .features import extract_features

        bb = shared_backbone(backbone)
        check_modality(bb, data.modality)
        for part in (data, test_data):
            if part is not None:
                extract_features(bb, part.X, batch_size=clf_params.get("batch_size"),
                                 engine=clf_params.get("engine", "auto"))
    per_seed: dict[str, list[dict[str, Any]]] = {"transfer": [], "from-scratch": []}
    model = None
    protocol = ""
    baseline_desc = ""
    for seed in seeds:
        if test_data is None:
            split = stratified_split(y, test_size, val_size, seed, given=data.split)
        else:
            split = stratified_split(y, 0.0, val_size, seed)
        X_test = take(data.X, split.test) if test_data is None else test_data.X
        y_test = y[split.test] if test_data is None else np.asarray(test_data.y)
        protocol = split.protocol if test_data is None else (
            f"test = the given test set ({len(y_test)} samples); validation = stratified "
            f"{val_size:.0%} of the training data (seeded)"
        )
        if labels_per_class:
            pool = per_class_subsample(np.concatenate([split.train, split.val]), y,
                                       labels_per_class, seed)
            fit_args = (take(data.X, pool), y[pool])
            protocol += (
                f"; {labels_per_class} labels per class drawn (seeded) from train+validation, "
                f"of which {val_size:.0%} are held out for model selection"
            )
        else:
            fit_args = (take(data.X, split.train), y[split.train],
                        take(data.X, split.val) if len(split.val) else None,
                        y[split.val] if len(split.val) else None)
        models = {"transfer": TransferClassifier(backbone=backbone, head=head,
                                                 validation_fraction=val_size,
                                                 random_state=seed, **clf_params)}
        if baseline and not frozen:  # the same architecture, trained from random weights
            models["from-scratch"] = TransferClassifier(
                backbone=backbone, head=head, validation_fraction=val_size,
                random_state=seed, **_scratch_params(clf_params))
        elif baseline:
            models["from-scratch"] = FromScratchClassifier(
                head=head, validation_fraction=val_size, random_state=seed,
                threshold_metric=clf_params.get("threshold_metric", "f1"),
                refit=clf_params.get("refit", True))
        for name, clf in models.items():
            clf.fit(*fit_args)
            codes = _codes(clf.classes_, y_test)
            per_seed[name].append(
                classification_metrics(codes, clf.predict_proba(X_test), clf.threshold_)
            )
        if model is None:
            model = models["transfer"]
            if baseline:
                baseline_desc = (models["from-scratch"].description if frozen else
                                 f"same architecture, random init, finetune lr "
                                 f"{SCRATCH_LR:g}")
    strategy = clf_params.get("strategy", "linear-probe")
    if val_size <= 0 and not labels_per_class:
        protocol += "; no validation split: fixed hyperparameters, the last epoch"
    elif frozen:
        protocol += ("; hyperparameters and thresholds chosen on validation only (then the "
                     "head is refit on train + validation)")
    else:
        protocol += "; the epoch (and threshold) chosen on validation only"
    protocol += f"; seeds {list(seeds)}; scores on the test split only"
    label = f"{backbone} + {head} head" if frozen else f"{backbone}, {strategy} fine-tuning"
    rows = [(f"transfer ({label})", mean_sd(per_seed["transfer"]))]
    if baseline:
        rows.append((f"from scratch ({baseline_desc})", mean_sd(per_seed["from-scratch"])))
    else:
        per_seed.pop("from-scratch")
    return Comparison(rows, per_seed, protocol, model)


SCRATCH_LR = 1e-3  # random weights need a larger rate than fine-tuning pretrained ones


def _scratch_params(clf_params: dict[str, Any]) -> dict[str, Any]:
    """Settings of the from-scratch run beside a fine-tuning strategy: every weight trains
    from a random initialisation, in its own checkpoint folder."""
    tuning = dict(clf_params.get("finetune_params") or {})
    tuning["init"] = "random"
    if tuning.get("checkpoint_dir"):
        tuning["checkpoint_dir"] = str(Path(tuning["checkpoint_dir"]) / "from-scratch")
    return {**clf_params, "strategy": "finetune", "strategy_params": None, "lr": SCRATCH_LR,
            "finetune_params": tuning}


def _codes(classes: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Class indices ``(n,)`` of labels ``y (n,)`` among sorted ``classes (C,)``."""
    return np.searchsorted(classes, labels_as(classes, y))
