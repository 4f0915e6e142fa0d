"""EasyTL (Wang et al., ICME 2019): CORAL + intra-domain programming."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from adapt_testdata import amazon, data_root, surf_task, toy_shift
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from transferkit.adapt import CORAL, EasyTL, IntraDomainProgramming
from transferkit.adapt.datasets import AMAZON_TASKS, published_easytl
from transferkit.adapt.feature.easytl import cover_every_class


def brute_force(D: np.ndarray) -> float:
    """Cheapest cost over every assignment of rows to columns that covers every column."""
    n, C = D.shape
    return min(D[np.arange(n), a].sum() for a in itertools.product(range(C), repeat=n)
               if len(set(a)) == C)


@pytest.mark.parametrize("seed", range(5))
def test_programming_finds_the_cheapest_assignment_covering_every_class(seed):
    rng = np.random.default_rng(seed)
    D = rng.random((6, 3))
    D[:, 2] += 2.0                        # nobody's nearest centre is class 2
    assert 2 not in D.argmin(1)
    assign = cover_every_class(D)
    assert set(assign) == {0, 1, 2}
    assert D[np.arange(6), assign].sum() == pytest.approx(brute_force(D))


def test_programming_is_nearest_centre_when_every_class_is_already_used():
    D = np.random.default_rng(0).random((50, 4))
    D[np.arange(4), np.arange(4)] = -1.0
    np.testing.assert_array_equal(cover_every_class(D), D.argmin(1))


def test_intra_domain_programming_is_a_sklearn_classifier():
    Xs, ys, Xt, yt = toy_shift()
    model = IntraDomainProgramming().fit(Xs, ys)
    np.testing.assert_allclose(model.centers_, [Xs[ys == c].mean(0) for c in (0, 1)])
    proba = model.predict_proba(Xt)
    assert proba.shape == (len(Xt), 2) and np.allclose(proba.sum(1), 1)
    scores = cross_val_score(make_pipeline(StandardScaler(), IntraDomainProgramming()), Xs, ys,
                             cv=3)
    assert scores.mean() > 0.8


def test_easytl_is_coral_then_programming():
    Xs, ys, Xt, _ = toy_shift()
    easy = EasyTL().fit(Xs, ys, Xt)
    coral = CORAL(IntraDomainProgramming()).fit(Xs, ys, Xt)
    np.testing.assert_allclose(easy.coral_matrix_, coral.coral_matrix_)
    np.testing.assert_array_equal(easy.predict(Xt), coral.predict(Xt))
    raw = EasyTL(align=False).fit(Xs, ys, Xt)
    np.testing.assert_array_equal(raw.transform(Xs, domain="source"), Xs)


@pytest.mark.filterwarnings("ignore::transferkit.adapt.AdaptWarning")  # words unseen in both
def test_reproduces_the_published_amazon_table_task_by_task():
    pub = published_easytl(data_root())["amazon"]
    ours = {}
    for task in AMAZON_TASKS:
        (Xs, ys), (Xt, yt) = amazon(task[0]), amazon(task[1])
        ours[task] = 100 * EasyTL().fit(Xs, ys, Xt).score(Xt, yt)
    for task in AMAZON_TASKS:
        assert ours[task] == pytest.approx(pub[task]["EasyTL"], abs=0.051), task
    assert np.mean(list(ours.values())) >= np.mean([pub[t]["EasyTL"] for t in AMAZON_TASKS])


@pytest.mark.parametrize("task", ["DW", "WD", "DA"])
def test_reproduces_the_published_surf_numbers(task):
    pub = published_easytl(data_root())["surf"][task]
    Xs, ys, Xt, yt = surf_task(task)
    assert 100 * EasyTL().fit(Xs, ys, Xt).score(Xt, yt) == pytest.approx(pub["EasyTL"], abs=0.051)
    raw = 100 * EasyTL(align=False).fit(Xs, ys, Xt).score(Xt, yt)
    assert raw == pytest.approx(pub["EasyTL_c(CORAL)"], abs=0.051)
