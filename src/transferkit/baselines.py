"""From-scratch inputs for the baseline: what the same head sees without transfer.

image -> raw pixels in [0, 1] (native size when all images share one of at most 64x64,
else resized to 32x32 RGB); text -> TF-IDF of word 1-2 grams (sparse); tabular -> the
columns themselves (the head standardises them).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from .data.images import load_rgb
from .data.loaders import check_finite
from .errors import TransferkitError
from .registry import Registry

RAW_FEATURIZERS: Registry[type] = Registry("modality for a from-scratch baseline")
register_raw = RAW_FEATURIZERS.register


class RawFeaturizer:
    """Base class: turns raw inputs of one modality into the features a head sees when no
    pretrained backbone is used. Subclasses are registered by modality in
    ``RAW_FEATURIZERS`` (``register_raw("image")``).

    Attributes
    ----------
    description : str
        What the baseline's inputs are, as printed in the protocol (e.g. ``"raw pixels"``).
    """

    description = ""

    def fit(self, X: Any) -> RawFeaturizer:
        """Learn what the featurizer needs from the training inputs.

        Parameters
        ----------
        X : sequence or array of N inputs
            The training inputs of the featurizer's modality.

        Returns
        -------
        RawFeaturizer
            ``self``.
        """
        return self

    def transform(self, X: Any) -> Any:
        """Featurize inputs.

        Parameters
        ----------
        X : sequence or array of N inputs
            Inputs of the same modality as in :meth:`fit`.

        Returns
        -------
        ndarray or sparse matrix, shape (N, D)
            One feature row per input.

        Raises
        ------
        TransferkitError
            When the inputs do not match what was fitted (e.g. another column count).
        """
        raise NotImplementedError


@register_raw("image")
class PixelFeaturizer(RawFeaturizer):
    """Raw pixels in [0, 1]: native size for an array ``(N, H, W[, C])`` of uniform images of
    at most 64x64 pixels (``(N, H*W[*C])`` features), else every image (path, PIL image or
    array) resized to 32x32 RGB (``(N, 3072)`` features)."""

    description = "raw pixels"

    def fit(self, X: Any) -> PixelFeaturizer:
        if isinstance(X, np.ndarray) and X.ndim in (3, 4) and X.shape[1] * X.shape[2] <= 64 * 64:
            self.size_ = None  # uniform small images: native resolution
            self.shape_ = X.shape[1:]
            self.description = f"raw pixels ({X.shape[1]}x{X.shape[2]})"
        else:
            self.size_ = 32
            self.description = "raw pixels (32x32 RGB)"
        return self

    def transform(self, X: Any) -> np.ndarray:
        if self.size_ is None:
            if not (isinstance(X, np.ndarray) and X.shape[1:] == self.shape_):
                X = np.stack([self._as_fitted(item) for item in X])  # paths, other sizes
            arr = np.asarray(X, dtype=np.float32) / 255.0
            return arr.reshape(len(arr), -1)
        out = np.empty((len(X), self.size_ * self.size_ * 3), dtype=np.float32)
        for i, item in enumerate(X):
            img = load_rgb(item).resize((self.size_, self.size_), Image.Resampling.BILINEAR)
            out[i] = np.asarray(img, dtype=np.float32).ravel() / 255.0
        return out


    def _as_fitted(self, item: Any) -> np.ndarray:
        """One image (path, PIL, array) as a uint8 array of the fitted shape."""
        h, w = self.shape_[:2]
        mode = "L" if len(self.shape_) == 2 else {1: "L", 3: "RGB", 4: "RGBA"}[self.shape_[2]]
        arr = np.asarray(load_rgb(item).resize((w, h), Image.Resampling.BILINEAR).convert(mode))
        return arr.reshape(self.shape_)


@register_raw("text")
class TfidfFeaturizer(RawFeaturizer):
    """TF-IDF of word 1-2 grams (sublinear term frequency) of a list of N texts: a sparse
    ``(N, vocabulary)`` matrix."""

    description = "TF-IDF word 1-2 grams"

    def fit(self, X: Any) -> TfidfFeaturizer:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer_ = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
        self.vectorizer_.fit(list(X))
        return self

    def transform(self, X: Any):
        return self.vectorizer_.transform(list(X))


@register_raw("tabular")
class ColumnFeaturizer(RawFeaturizer):
    """Numeric columns as they are, ``(N, D)`` float64 (dense or sparse; the head
    standardises them); another column count than in ``fit``, NaN or inf is one line."""

    description = "standardised numeric columns"

    def fit(self, X: Any) -> ColumnFeaturizer:
        self.n_features_ = X.shape[1]
        return self

    def transform(self, X: Any) -> Any:
        if X.shape[1] != self.n_features_:
            raise TransferkitError(f"the inputs have {X.shape[1]} columns but the model was "
                                   f"fitted on {self.n_features_}",
                                   "pass the same feature columns as in fit")
        if hasattr(X, "tocsr"):  # sparse stays sparse
            X = X.tocsr().astype(np.float64)
            if not np.isfinite(X.data).all():
                raise TransferkitError("the inputs have NaN or infinite values",
                                       "impute or drop those rows before fitting")
            return X
        return check_finite(np.asarray(X, dtype=np.float64), "X")
