"""Source instance selection."""

from __future__ import annotations

import numpy as np
import pytest
from adapt_testdata import toy_shift

from transferkit.adapt import InstanceSelection
from transferkit.errors import TransferkitError


@pytest.mark.parametrize("criterion", ["domain", "distance"])
def test_keeps_the_source_half_that_resembles_the_target(criterion):
    rng = np.random.default_rng(0)
    near = rng.normal(0.0, 1.0, size=(100, 2))
    far = rng.normal(6.0, 1.0, size=(100, 2))
    Xs = np.vstack([near, far])
    ys = np.r_[np.arange(100) % 2, np.arange(100) % 2]
    Xt = rng.normal(0.0, 1.0, size=(80, 2))
    model = InstanceSelection(keep=0.5, criterion=criterion).fit(Xs, ys, Xt)
    assert model.weights_.sum() == 100
    assert model.weights_[:100].mean() > 0.9


def test_per_class_keeps_every_class():
    Xs, ys, Xt, _ = toy_shift()
    ys = ys.copy()
    ys[:5] = 2  # a rare third class
    model = InstanceSelection(keep=0.2).fit(Xs, ys, Xt)
    kept = ys[model.weights_ == 1]
    assert set(kept) == {0, 1, 2}
    for c in (0, 1):
        assert (kept == c).sum() == np.ceil(0.2 * (ys == c).sum())


def test_bad_keep_fraction_is_refused():
    Xs, ys, Xt, _ = toy_shift()
    with pytest.raises(TransferkitError, match="keep"):
        InstanceSelection(keep=0.0).fit(Xs, ys, Xt)
