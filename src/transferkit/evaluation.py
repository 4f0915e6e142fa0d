"""What a run keeps of its test split for ``transferkit report``: ``evaluation.json``.

``fit`` writes it beside ``metrics.json`` for the saved model (the first seed's). It holds
the test labels and predictions (a confusion matrix, per-label metrics or residuals are
drawn from them), the test features reduced by PCA (the report's 2-D embedding starts from
them: PCA to a few dozen dimensions before t-SNE is the usual practice and keeps the file
small) and, for images, a few correctly and wrongly predicted test images (the report draws
Grad-CAM maps on them from the saved model). Arrays are JSON lists; images are PNG data
URIs. Nothing in it is used to choose anything: it is written after the model is final.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image
from sklearn.decomposition import PCA

from .data import load_rgb, take, to_uint8
from .features import extract_features
from .metrics import decide

#: PCA dimensions kept of the test features for the embedding.
EMBEDDING_DIMS = 32
#: Correct and wrong test images kept for Grad-CAM (each).
CAM_EXAMPLES = 4
EVALUATION = "evaluation"  # the JSON file's stem in a run dir


def png_data_uri(image: Any, max_side: int = 224) -> str:
    """A PNG ``data:`` URI of an image (a path, a PIL image or an array ``(H, W[, C])``),
    shrunk to at most ``max_side`` pixels a side (never enlarged)."""
    if isinstance(image, np.ndarray):
        pixels = image if image.dtype == np.uint8 else to_uint8(image[None])[0]
        picture = Image.fromarray(pixels.squeeze(-1) if pixels.ndim == 3 and
                                  pixels.shape[-1] == 1 else pixels)
    else:
        picture = load_rgb(image)
    picture.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_png(uri: str) -> np.ndarray:
    """The uint8 array ``(H, W[, C])`` of a :func:`png_data_uri`."""
    raw = base64.b64decode(uri.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(raw)))


def _reduced(features: np.ndarray, seed: int) -> list[list[float]]:
    """``features`` (N, D) reduced by PCA to at most :data:`EMBEDDING_DIMS` dims, rounded."""
    k = min(EMBEDDING_DIMS, features.shape[1], max(len(features) - 1, 1))
    points = PCA(n_components=k, random_state=seed).fit_transform(features) if k < \
        features.shape[1] else features
    return np.round(points.astype(np.float64), 4).tolist()


def evaluation_record(model: Any, X_test: Any, y_true: Any, outputs: np.ndarray, task: str,
                      classes: Sequence[Any] | None = None, threshold: Any = None,
                      seed: int = 0) -> dict[str, Any]:
    """The ``evaluation.json`` of a fitted model on its test split.

    Parameters
    ----------
    model
        The fitted estimator (its ``transfer_backbone()`` gives the embedding's features).
    X_test : sequence of N items
        The test inputs.
    y_true
        Test targets: class codes ``(N,)``, a 0/1 label matrix ``(N, L)`` or values ``(N,)``.
    outputs : ndarray, shape (N, K)
        What the model predicted: class probabilities, label probabilities or values
        ``(N, 1)``.
    task
        ``"classification"``, ``"multilabel"`` or ``"regression"``.
    classes, threshold
        The class (or label) names; the decision threshold(s) the model uses.
    seed
        Seeds the PCA.

    Returns
    -------
    dict
        ``{"task", "classes", "y_true", "y_pred", "embedding": {"points", "labels"} or
        None with "embedding_missing", "examples": [{"image", "true", "pred"}]}``.
    """
    y_true = np.asarray(y_true)
    if task == "classification":
        y_pred = decide(outputs, threshold)
    elif task == "multilabel":
        y_pred = (outputs >= (0.5 if threshold is None else np.asarray(threshold))).astype(int)
    else:
        y_pred = outputs[:, 0]
    record: dict[str, Any] = {
        "task": task, "classes": None if classes is None else [str(c) for c in classes],
        "y_true": y_true.tolist(), "y_pred": np.asarray(y_pred).tolist(),
        "embedding": None, "embedding_missing": None, "examples": [],
    }
    backbone = model.transfer_backbone() if hasattr(model, "transfer_backbone") else None
    if backbone is None or len(y_true) < 3:
        record["embedding_missing"] = ("the model has no backbone to take features from"
                                       if backbone is None else "fewer than 3 test samples")
        return record
    features = extract_features(backbone, X_test, progress=False)
    labels = y_true if task != "multilabel" else y_true.argmax(axis=1)
    record["embedding"] = {"points": _reduced(features, seed), "labels": labels.tolist()}
    if backbone.modality == "image" and task == "classification":
        correct = np.flatnonzero(y_pred == y_true)[:CAM_EXAMPLES]
        wrong = np.flatnonzero(y_pred != y_true)[:CAM_EXAMPLES]
        for i in np.concatenate([correct, wrong]):
            item = take(X_test, np.array([i]))[0]
            record["examples"].append({"index": int(i), "image": png_data_uri(item),
                                       "true": int(y_true[i]), "pred": int(y_pred[i])})
    return record


#: At most this many samples of each domain are kept for the by-domain embedding.
DOMAIN_SAMPLES = 1000


def domain_record(before: Callable[[Any, str], np.ndarray],
                  after: Callable[[Any, str], np.ndarray], source: tuple[Any, Any],
                  target: tuple[Any, Any], before_name: str, seed: int = 0) -> dict[str, Any]:
    """Source and target features before and after adaptation, for the report's by-domain
    embedding (the ``domains`` entry of an adapt run's ``evaluation.json``).

    Parameters
    ----------
    before, after
        ``features(X, domain)`` -> ndarray ``(N, D)`` for ``domain`` ``"source"`` or
        ``"target"``: e.g. the source-only model's backbone and the adapted one's, or the
        input features and a shallow adapter's ``transform``.
    source, target
        ``(X, class codes)`` of each domain; a target without labels gives codes of -1.
    before_name
        What ``before`` is, in words (shown on the page).
    seed
        Seeds the subsample (at most :data:`DOMAIN_SAMPLES` per domain) and the PCA.

    Returns
    -------
    dict
        ``{"before", "after": points (N, <= EMBEDDING_DIMS) after PCA, "domain": 0 source /
        1 target (N,), "labels": class codes (N,), "before_name"}``.
    """
    rng = np.random.default_rng(seed)
    parts = []
    for X, y in (source, target):
        y = np.asarray(y)
        keep = np.sort(rng.choice(len(y), min(len(y), DOMAIN_SAMPLES), replace=False))
        parts.append((take(X, keep), y[keep]))
    record: dict[str, Any] = {"before_name": before_name}
    for key, features_of in (("before", before), ("after", after)):
        features = np.concatenate([np.asarray(features_of(X, domain), dtype=np.float64)
                                   for (X, _), domain in zip(parts, ("source", "target"),
                                                             strict=True)])
        record[key] = _reduced(features, seed)
    record["domain"] = np.repeat([0, 1], [len(parts[0][1]), len(parts[1][1])]).tolist()
    record["labels"] = np.concatenate([parts[0][1], parts[1][1]]).astype(int).tolist()
    return record
