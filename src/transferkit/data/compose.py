"""Multi-label image sets built from single-label ones: several images placed side by side,
labelled with the set of their classes (a real multi-label benchmark from, e.g., USPS).

>>> import numpy as np
>>> from transferkit.data.dataset import Dataset
>>> digits = Dataset(np.zeros((10, 16, 16), np.uint8), np.arange(10), "image")
>>> strip = side_by_side(digits, n=4, per_image=(2, 3), seed=0)
>>> strip.X.shape, strip.y[0].count("|") in (1, 2)
((4, 16, 48), True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import TransferkitError
from .dataset import Dataset


def side_by_side(data: Dataset, n: int, per_image: Sequence[int] = (2, 3), seed: int = 0,
                 sep: str = "|") -> Dataset:
    """``n`` images, each made of ``k`` source images placed left to right.

    The composition rule (seeded by ``seed``): ``k`` is drawn uniformly from ``per_image``;
    ``k`` source images are drawn uniformly with replacement; they fill ``k`` of the
    ``max(per_image)`` slots of a ``(H, W * max(per_image))`` canvas, in random slots (the
    others stay black, value 0). The label is the set of the drawn images' classes, sorted
    and joined by ``sep`` (a class drawn twice appears once).

    Parameters
    ----------
    data : Dataset
        Single-label images ``(N, H, W)`` or ``(N, H, W, C)`` (uint8), labels ``(N,)``.
    n : int
        Number of composite images.
    per_image : sequence of int
        The numbers of source images a composite may hold.
    seed : int
        Seed of the draws.
    sep : str
        Separator of the label cells (what ``--label-sep`` names).

    Returns
    -------
    Dataset
        Images ``(n, H, W * max(per_image)[, C])`` (uint8), label cells ``(n,)`` of str.

    Raises
    ------
    TransferkitError
        When ``data`` holds no image array or ``per_image`` is not positive.
    """
    X = np.asarray(data.X)
    if X.ndim not in (3, 4) or data.y is None:
        raise TransferkitError("side_by_side needs labelled images as one array (N, H, W[, C])",
                               "load the images with their labels first")
    counts = [int(k) for k in per_image]
    if not counts or min(counts) < 1:
        raise TransferkitError(f"per_image must hold positive counts, got {per_image!r}",
                               "use e.g. per_image=(2, 3)")
    rng = np.random.default_rng(seed)
    slots, h, w = max(counts), X.shape[1], X.shape[2]
    out = np.zeros((n, h, w * slots, *X.shape[3:]), dtype=X.dtype)
    y = np.asarray(data.y)
    labels = []
    for i in range(n):
        k = counts[rng.integers(len(counts))]
        picks = rng.integers(len(X), size=k)
        for slot, pick in zip(sorted(rng.choice(slots, size=k, replace=False)), picks,
                              strict=True):
            out[i, :, slot * w:(slot + 1) * w] = X[pick]
        labels.append(sep.join(sorted({str(c) for c in y[picks]})))
    return Dataset(out, np.asarray(labels), "image", name=f"{data.name}_side_by_side")
