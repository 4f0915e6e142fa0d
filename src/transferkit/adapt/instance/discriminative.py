"""Importance weights from a discriminative domain classifier (e.g. Bickel et al., ICML 2007)."""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.adapt.base import (
    InstanceAdapter,
    domain_target_probability,
    odds_to_weights,
    register,
)
from transferkit.errors import check, check_int


@register("discriminative")
class DiscriminativeWeighting(InstanceAdapter):
    """Weights ``w(x) = p(t|x) / p(s|x) * ns/nt`` from a source-vs-target classifier.

    The probabilities are out-of-fold (``cv`` folds) so the domain classifier never scores a
    sample it was trained on; weights are normalised to mean 1 and capped at ``clip`` (the
    scale is chosen so the capped weights still average 1). ``domain_classifier`` defaults to
    logistic regression.
    """

    def __init__(self, estimator: Any = None, domain_classifier: Any = None,
                 clip: float | None = 10.0, cv: int = 5, random_state: int | None = 0) -> None:
        self.estimator = estimator
        self.domain_classifier = domain_classifier
        self.clip = clip
        self.cv = cv
        self.random_state = random_state

    def _fit_weights(self, Xs: np.ndarray, ys: np.ndarray, Xt: np.ndarray) -> np.ndarray:
        check(self.clip is None or self.clip > 1, f"clip must be > 1, got {self.clip}",
              "use clip=10 or None")
        check_int("cv", self.cv, 2, 5)
        p_s, _ = domain_target_probability(Xs, Xt, self.domain_classifier, cv=int(self.cv),
                                           random_state=self.random_state)
        return odds_to_weights(p_s, Xs.shape[0], Xt.shape[0], self.clip)
