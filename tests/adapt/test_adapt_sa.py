"""SA, subspace alignment (Fernando et al., ICCV 2013)."""

from __future__ import annotations

import numpy as np
from adapt_testdata import surf_task, toy_shift
from sklearn.neighbors import KNeighborsClassifier

from transferkit.adapt import SA


def test_rotated_target_is_aligned_back():
    Xs, ys, Xt, yt = toy_shift(n_source=400, n_target=400, n_features=6, shift=0.0)
    Xs[:, 0] *= 2.0
    Xt[:, 0] *= 2.0
    rotation, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(6, 6)))
    Xt = Xt @ rotation
    plain = KNeighborsClassifier(1).fit(Xs, ys).score(Xt, yt)
    adapted = SA(n_components=1).fit(Xs, ys, Xt).score(Xt, yt)
    assert adapted > 0.85 and adapted > plain + 0.2


def test_surf_webcam_to_caltech_beats_one_nn():
    Xs, ys, Xt, yt = surf_task("WC")
    plain = KNeighborsClassifier(1).fit(Xs, ys).score(Xt, yt)
    assert SA().fit(Xs, ys, Xt).score(Xt, yt) > plain + 0.05
