"""JDA (Long et al., ICCV 2013)."""

from __future__ import annotations

import numpy as np
import pytest
from adapt_testdata import data_root, digits, toy_shift

from transferkit.adapt import JDA, TCA
from transferkit.adapt.datasets import published_jda


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
