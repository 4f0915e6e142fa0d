"""SA, subspace alignment (Fernando et al., ICCV 2013)."""

from __future__ import annotations

import numpy as np
from adapt_testdata import surf_task, toy_shift
from sklearn.neighbors import KNeighborsClassifier

from transferkit.adapt import SA


def test_shifted_target_is_aligned_back():
    # centring each domain removes the shift; M = Ps^T Pt maps the source PCA basis onto the
    # target's (whose axes may differ in sign/order), so 1-NN works again
    Xs, ys, Xt, yt = toy_shift(n_features=10, shift=3.0)
    plain = KNeighborsClassifier(1).fit(Xs, ys).score(Xt, yt)
    model = SA(n_components=1).fit(Xs, ys, Xt)
    assert plain < 0.6 and model.score(Xt, yt) > 0.85
    # both domains share the class axis, so the 1x1 alignment M = Ps^T Pt is about +-1 and
    # the aligned source basis Ps M keeps (about) unit length
    assert abs(np.linalg.norm(model.source_basis_) - 1) < 0.1


def test_surf_webcam_to_caltech_beats_one_nn():
    Xs, ys, Xt, yt = surf_task("WC")
    plain = KNeighborsClassifier(1).fit(Xs, ys).score(Xt, yt)
    assert SA().fit(Xs, ys, Xt).score(Xt, yt) > plain + 0.05
