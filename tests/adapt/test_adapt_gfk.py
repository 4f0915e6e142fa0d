"""GFK: geodesic flow kernel (Gong et al., CVPR 2012)."""

from __future__ import annotations

import numpy as np
import pytest
from adapt_testdata import data_root, surf_task

from transferkit.adapt import GFK
from transferkit.adapt.datasets import published_jda
from transferkit.adapt.feature.gfk import geodesic_flow_embedding


def random_basis(rng: np.random.Generator, D: int, k: int) -> np.ndarray:
    return np.linalg.qr(rng.normal(size=(D, k)))[0]


def test_closed_form_equals_the_integral_along_the_geodesic():
    rng = np.random.default_rng(0)
    Ps, Pt = random_basis(rng, 30, 4), random_basis(rng, 30, 4)
    E = geodesic_flow_embedding(Ps, Pt)
    # the geodesic from span(Ps) to span(Pt): Phi(t) = Ps U cos(t theta) + Rhat sin(t theta)
    U, cos, Vt = np.linalg.svd(Ps.T @ Pt)
    theta = np.arccos(np.clip(cos, 0, 1))
    R = Pt @ Vt.T - Ps @ (U * cos)
    R_hat = R / np.linalg.norm(R, axis=0)
    ts = (np.arange(4000) + 0.5) / 4000               # midpoint rule on [0, 1]
    G = np.zeros((30, 30))
    for t in ts:
        Phi = Ps @ U * np.cos(t * theta) + R_hat * np.sin(t * theta)
        G += Phi @ Phi.T / len(ts)
    np.testing.assert_allclose(E @ E.T, G, atol=1e-6)
    assert E.shape == (30, 8)                          # rank 2k, no D x D factor


def test_identical_subspaces_give_the_projection_onto_them():
    Ps = random_basis(np.random.default_rng(1), 20, 3)
    E = geodesic_flow_embedding(Ps, Ps @ np.linalg.qr(np.random.default_rng(2).normal(
        size=(3, 3)))[0])                               # same span, another basis
    np.testing.assert_allclose(E @ E.T, Ps @ Ps.T, atol=1e-8)


# the JDA paper's GFK column: each of these tasks is reproduced exactly with d=20 or d=10
PAPER_D = {"DA": 20, "WC": 20, "AD": 20, "DW": 10, "WD": 10}


@pytest.mark.parametrize("task", list(PAPER_D))
def test_gfk_nn_reproduces_the_jda_papers_gfk_column(task):
    pub = published_jda(data_root())[task]["GFK"]
    Xs, ys, Xt, yt = surf_task(task)
    acc = 100 * GFK(n_components=PAPER_D[task]).fit(Xs, ys, Xt).score(Xt, yt)
    assert acc == pytest.approx(pub, abs=0.01)
