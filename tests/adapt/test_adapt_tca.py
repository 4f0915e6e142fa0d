"""TCA (Pan et al., IEEE TNN 2011)."""

from __future__ import annotations

import numpy as np
import pytest
from adapt_testdata import data_root, surf_task, toy_shift
from sklearn.neighbors import KNeighborsClassifier

from transferkit.adapt import TCA
from transferkit.adapt.datasets import published_jda


def mean_gap(Zs: np.ndarray, Zt: np.ndarray) -> float:
    return float(np.linalg.norm(Zs.mean(0) - Zt.mean(0)))


def test_embedding_closes_the_mean_gap():
    Xs, ys, Xt, _ = toy_shift(n_features=10, shift=3.0)
    model = TCA(n_components=3, normalize=False).fit(Xs, ys, Xt)
    Zs, Zt = model.transform(Xs), model.transform(Xt)
    scale = np.sqrt(np.vstack([Zs, Zt]).var(0).sum())
    assert mean_gap(Zs, Zt) / scale < 0.1
    assert mean_gap(Xs, Xt) / np.sqrt(np.vstack([Xs, Xt]).var(0).sum()) > 0.5


@pytest.mark.parametrize("kernel, approx", [("linear", "auto"), ("rbf", "exact"),
                                            ("rbf", "nystroem"), ("rbf", "rff")])
def test_kernel_variants_adapt_the_toy_shift(kernel, approx):
    Xs, ys, Xt, yt = toy_shift(n_features=10, shift=3.0)
    plain = KNeighborsClassifier(1).fit(Xs, ys).score(Xt, yt)
    model = TCA(n_components=1, kernel=kernel, approx=approx, n_landmarks=100,
                normalize=False).fit(Xs, ys, Xt)
    assert model.feature_map_.mode_ == ("linear" if kernel == "linear" else approx)
    assert plain < 0.6 and model.score(Xt, yt) > 0.8


@pytest.mark.parametrize("task", ["DW", "WD"])
def test_tca_matches_the_jda_paper_column(task):
    pub = published_jda(data_root())[task]
    Xs, ys, Xt, yt = surf_task(task)
    acc = 100 * TCA().fit(Xs, ys, Xt).score(Xt, yt)
    assert acc == pytest.approx(pub["TCA"], abs=2.5)
    assert acc > pub["NN"] + 20
