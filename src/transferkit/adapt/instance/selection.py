"""Source instance selection: keep the source samples that look most like the target."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.neighbors import NearestNeighbors

from transferkit.adapt.base import InstanceAdapter, domain_target_probability, register
from transferkit.errors import check

CRITERIA = ("domain", "distance")


@register("selection")
class InstanceSelection(InstanceAdapter):
    """Train only on the fraction ``keep`` of source samples closest to the target.

    ``criterion='domain'``: out-of-fold ``p(target | x)`` of a domain classifier (high = close);
    ``criterion='distance'``: minus the mean distance to the ``n_neighbors`` nearest target samples.
    With ``per_class`` the fraction is kept within every class so no class disappears.
    ``weights_`` is the 0/1 mask (ns,); the estimator is fitted on the kept rows, so it needs
    no ``sample_weight`` support.
    """

    def __init__(self, estimator: Any = None, keep: float = 0.5, criterion: str = "domain",
                 per_class: bool = True, n_neighbors: int = 10, domain_classifier: Any = None,
                 cv: int = 5, random_state: int | None = 0) -> None:
        self.estimator = estimator
        self.keep = keep
        self.criterion = criterion
        self.per_class = per_class
        self.n_neighbors = n_neighbors
        self.domain_classifier = domain_classifier
        self.cv = cv
        self.random_state = random_state

    def _closeness(self, Xs: np.ndarray, Xt: np.ndarray) -> np.ndarray:
        check(self.criterion in CRITERIA, f"unknown criterion {self.criterion!r}",
              f"use one of {', '.join(CRITERIA)}")
        if self.criterion == "domain":
            p_s, _ = domain_target_probability(Xs, Xt, self.domain_classifier,
                                               cv=int(self.cv), random_state=self.random_state)
            return p_s
        k = min(int(self.n_neighbors), Xt.shape[0])
        dist, _ = NearestNeighbors(n_neighbors=k).fit(Xt).kneighbors(Xs)
        return -dist.mean(1)

    def _fit(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray, yt: Any) -> None:
        check(0 < self.keep <= 1, f"keep must be in (0, 1], got {self.keep}",
              "use e.g. keep=0.5 to keep half of the source samples")
        closeness = self._closeness(Xs, Xt)
        self.scores_ = closeness
        mask = np.zeros(Xs.shape[0], dtype=bool)
        groups = [ys == c for c in self.classes_] if self.per_class else [np.ones_like(mask)]
        for group in groups:
            idx = np.nonzero(group)[0]
            n_keep = max(1, int(np.ceil(self.keep * idx.size)))
            mask[idx[np.argsort(-closeness[idx], kind="stable")[:n_keep]]] = True
        check(np.unique(ys[mask]).size >= 2, "the kept source samples cover a single class",
              "raise keep or use per_class=True")
        self.weights_ = mask.astype(np.float64)
        self.estimator_ = self._make_estimator().fit(Xs[mask], ys[mask])
