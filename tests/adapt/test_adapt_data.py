"""The benchmark loaders reproduce the published no-adaptation baselines exactly."""

from __future__ import annotations

import numpy as np
import pytest
from adapt_testdata import data_root, digits, surf
from conftest import shared_path
from scipy.io import loadmat
from sklearn.neighbors import KNeighborsClassifier

from transferkit.adapt.datasets import SURF_TASKS, published_jda


def nn_accuracy(Xs, ys, Xt, yt) -> float:
    return 100 * KNeighborsClassifier(1).fit(Xs, ys).score(Xt, yt)


def test_surf_preprocessing_matches_the_released_zscore_files():
    folder = shared_path("office_caltech10_surf_zscore")
    released = loadmat(str(folder / "dslr_zscore_SURF_L10.mat"))["Xs"]
    np.testing.assert_allclose(surf("D")[0], released, atol=1e-9)


def test_one_nn_reproduces_the_published_surf_column():
    pub = published_jda(data_root())
    ours = {t: nn_accuracy(*surf(t[0]), *surf(t[1])) for t in SURF_TASKS}
    for task, acc in ours.items():
        assert acc == pytest.approx(pub[task]["NN"], abs=0.01), task
    assert np.mean(list(ours.values())) == pytest.approx(31.37, abs=0.01)


@pytest.mark.parametrize("source, target", [("MNIST", "USPS"), ("USPS", "MNIST")])
def test_one_nn_reproduces_the_published_digit_numbers(source, target):
    pub = published_jda(data_root())[f"{source}->{target}"]["NN"]
    assert nn_accuracy(*digits(source)) == pytest.approx(pub, abs=0.01)
