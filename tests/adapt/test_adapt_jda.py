"""JDA (Long et al., ICCV 2013)."""

from __future__ import annotations

import numpy as np
import pytest
from adapt_testdata import data_root, digits, surf_task, toy_shift

from transferkit.adapt import JDA, TCA
from transferkit.adapt.datasets import published_jda
from transferkit.errors import TransferkitError


def test_one_iteration_is_tca():
    Xs, ys, Xt, _ = toy_shift(n_features=8)
    jda = JDA(n_components=3, n_iter=1).fit(Xs, ys, Xt)
    tca = TCA(n_components=3).fit(Xs, ys, Xt)
    np.testing.assert_allclose(np.abs(jda.transform(Xt)), np.abs(tca.transform(Xt)),
                               atol=1e-8)
    np.testing.assert_array_equal(jda.predict(Xt), tca.predict(Xt))


def test_pseudo_labels_are_those_of_the_last_iteration():
    Xs, ys, Xt, _ = toy_shift(n_features=8)
    jda = JDA(n_components=3, n_iter=3).fit(Xs, ys, Xt)
    np.testing.assert_array_equal(jda.target_pseudo_labels_, jda.predict(Xt))


def test_mnist_to_usps_reproduces_the_paper():
    pub = published_jda(data_root())["MNIST->USPS"]
    Xs, ys, Xt, yt = digits("MNIST")
    acc = 100 * JDA(reg=0.1).fit(Xs, ys, Xt).score(Xt, yt)
    assert acc == pytest.approx(pub["JDA"], abs=0.5)
    assert acc > pub["NN"]


# the reference code's kernel_type='linear' (dual form, the n x n Gram matrix) is what the
# paper's SURF column used; the smallest tasks keep the test fast
@pytest.mark.parametrize("task", ["DW", "WD"])
def test_surf_with_the_dual_linear_kernel_reproduces_the_paper_exactly(task):
    pub = published_jda(data_root())[task]["JDA"]
    Xs, ys, Xt, yt = surf_task(task)
    acc = 100 * JDA(approx="exact").fit(Xs, ys, Xt).score(Xt, yt)
    assert acc == pytest.approx(pub, abs=0.01)


def test_dual_linear_differs_from_primal_and_exact_is_refused_at_scale():
    Xs, ys, Xt, _ = toy_shift(n_features=8)
    dual = JDA(n_components=3, n_iter=2, approx="exact").fit(Xs, ys, Xt)
    primal = JDA(n_components=3, n_iter=2).fit(Xs, ys, Xt)
    assert dual.feature_map_.mode_ == "exact" and primal.feature_map_.mode_ == "linear"
    assert dual.transform(Xt).shape == primal.transform(Xt).shape == (len(Xt), 3)
    with pytest.raises(TransferkitError, match="approx='exact' needs a dense"):
        JDA(n_components=3, approx="exact", max_exact=100).fit(Xs, ys, Xt)
