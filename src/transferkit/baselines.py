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
from .registry import Registry

RAW_FEATURIZERS: Registry[type] = Registry("modality for a from-scratch baseline")
register_raw = RAW_FEATURIZERS.register


class RawFeaturizer:
    description = ""

    def fit(self, X: Any) -> RawFeaturizer:
        return self

    def transform(self, X: Any) -> Any:
        raise NotImplementedError


@register_raw("image")
class PixelFeaturizer(RawFeaturizer):
    description = "raw pixels"

    def fit(self, X: Any) -> PixelFeaturizer:
        if isinstance(X, np.ndarray) and X.ndim in (3, 4) and X.shape[1] * X.shape[2] <= 64 * 64:
            self.size_ = None  # uniform small images: native resolution
            self.description = f"raw pixels ({X.shape[1]}x{X.shape[2]})"
        else:
            self.size_ = 32
            self.description = "raw pixels (32x32 RGB)"
        return self

    def transform(self, X: Any) -> np.ndarray:
        if self.size_ is None:
            arr = np.asarray(X, dtype=np.float32) / 255.0
            return arr.reshape(len(arr), -1)
        out = np.empty((len(X), self.size_ * self.size_ * 3), dtype=np.float32)
        for i, item in enumerate(X):
            img = load_rgb(item).resize((self.size_, self.size_), Image.Resampling.BILINEAR)
            out[i] = np.asarray(img, dtype=np.float32).ravel() / 255.0
        return out


@register_raw("text")
class TfidfFeaturizer(RawFeaturizer):
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
    description = "standardised numeric columns"

    def transform(self, X: Any) -> np.ndarray:
        return np.asarray(X, dtype=np.float64)
