"""Heads learn, pick hyperparameters on validation only, and round-trip through safetensors."""

import numpy as np
import pytest
import scipy.sparse as sp

from transferkit.errors import TransferkitError
from transferkit.heads import HEADS, make_head
from transferkit.metrics import choose_threshold, classification_metrics


def blobs(n=200, d=20, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3, size=(k, d))
    y = rng.integers(0, k, n)
    return centers[y] + rng.normal(size=(n, d)), y


@pytest.mark.parametrize("name", sorted(n for n in HEADS if HEADS[n].task == "classification"))
def test_head_learns_and_round_trips(name):
    X, y = blobs(n=400)
    X, y, Xv, yv = X[:200], y[:200], X[200:], y[200:]
    head = make_head(name).fit(X[:150], y[:150], 3, X[150:], y[150:])
    proba = head.predict_proba(Xv)
    assert proba.shape == (200, 3) and np.allclose(proba.sum(1), 1)
    assert (proba.argmax(1) == yv).mean() > 0.9
    clone = HEADS[name].from_state(head.config(), head.state())
    assert np.allclose(clone.predict_proba(Xv), proba, atol=1e-6)


def test_logistic_picks_C_on_validation_and_matches_sklearn():
    from sklearn.linear_model import LogisticRegression

    X, y = blobs(n=300, d=5, seed=2)
    head = make_head("logistic", C=1.0).fit(X, y, 3)
    ref = LogisticRegression(C=1.0, max_iter=2000).fit((X - X.mean(0)) / X.std(0), y)
    agree = (head.predict_proba(X).argmax(1) == ref.predict((X - X.mean(0)) / X.std(0))).mean()
    assert agree > 0.99
    chosen = make_head("logistic").fit(X[:200], y[:200], 3, X[200:], y[200:])
    assert chosen.C_ in chosen.C_GRID
    assert make_head("logistic").fit(X, y, 3).C_ == 1.0  # no validation: fixed in advance


def test_logistic_accepts_sparse_input():
    X, y = blobs(n=100, d=30)
    Xs = sp.csr_matrix(np.abs(X))
    head = make_head("logistic").fit(Xs, y, 3)
    assert head.predict_proba(Xs).shape == (100, 3)


def test_unknown_head():
    with pytest.raises(TransferkitError, match="unknown head 'svm'"):
        make_head("svm")


def test_threshold_is_chosen_to_maximise_the_metric():
    y = np.array([0] * 90 + [1] * 10)
    p = np.r_[np.linspace(0, 0.3, 90), np.linspace(0.25, 0.4, 10)]
    t = choose_threshold(y, p, "f1")
    assert 0.2 < t < 0.3
    pred_f1 = classification_metrics(y, np.c_[1 - p, p], t)["f1_macro"]
    assert pred_f1 > classification_metrics(y, np.c_[1 - p, p], 0.5)["f1_macro"]


def test_metrics_binary_has_auc_and_confusion():
    m = classification_metrics(np.array([0, 1, 1, 0]), np.array([[0.9, 0.1], [0.2, 0.8],
                                                                   [0.6, 0.4], [0.7, 0.3]]))
    assert m["accuracy"] == 0.75 and m["roc_auc"] == 1.0
    assert m["confusion_matrix"] == [[2, 0], [1, 1]]


def test_a_head_instance_is_copied_and_the_refit_keeps_the_chosen_c():
    from transferkit import FromScratchClassifier
    from transferkit.heads.logistic import LogisticHead

    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 5))
    y = (X[:, 0] + 0.3 * rng.normal(size=80) > 0).astype(int)
    mine = LogisticHead()
    clf = FromScratchClassifier(head=mine).fit(X, y)
    assert not hasattr(mine, "coef_") and mine.C is None  # the caller's head is untouched
    assert clf.head_ is not mine and clf.head_.C is not None  # refit with what validation chose
