"""Label-free model selection (DEV, IWV, SND, entropy)."""

from __future__ import annotations

import numpy as np
import pytest
from adapt_testdata import toy_shift
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from transferkit.adapt import (
    CORAL,
    DEFAULT_SELECTOR,
    SELECTORS,
    AdaptWarning,
    LabelFreeSearch,
    RegularTransfer,
)
from transferkit.adapt.validation import dev_risk, entropy_score, iwv_risk, snd_score
from transferkit.errors import TransferkitError


def test_dev_equals_iwv_for_constant_weights_and_reduces_variance():
    rng = np.random.default_rng(0)
    losses = (rng.random(400) < 0.3).astype(float)
    ones = np.ones(400)
    assert dev_risk(losses, ones) == pytest.approx(iwv_risk(losses, ones))
    # heavy-tailed weights unrelated to the loss: DEV's control variate steadies the estimate
    iwv, dev = [], []
    for seed in range(200):
        w = np.random.default_rng(seed).lognormal(0.0, 1.0, size=400)
        w /= np.exp(0.5)  # E[w] = 1
        iwv.append(iwv_risk(losses, w))
        dev.append(dev_risk(losses, w))
    assert np.std(dev) < 0.95 * np.std(iwv)
    assert np.mean(dev) == pytest.approx(losses.mean(), abs=0.01)


def test_dev_has_no_control_variate_for_weights_equal_up_to_rounding():
    rng = np.random.default_rng(0)
    losses = (rng.random(300) < 0.3).astype(float)
    # equal weights that differ in the last bits (as a normalisation leaves them)
    w = np.full(300, 1.0 / 3.0) * 3.0 + rng.normal(0.0, 1e-16, 300)
    assert np.var(w) > 0
    assert dev_risk(losses, w) == pytest.approx(losses.mean(), abs=1e-9)


def test_confident_predictions_score_higher():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=200)
    sharp = np.full((200, 3), 0.02)
    sharp[np.arange(200), labels] = 0.96
    flat = np.full((200, 3), 1 / 3) + rng.normal(0, 0.01, size=(200, 3))
    assert entropy_score(sharp) > entropy_score(np.abs(flat))
    assert snd_score(sharp) != snd_score(np.abs(flat))


@pytest.mark.parametrize("selector", ["dev", "iwv", "entropy"])
def test_search_rejects_a_useless_classifier(selector):
    Xs, ys, Xt, yt = toy_shift(n_source=400, n_target=300, shift=0.5)
    grid = {"estimator": [DummyClassifier(strategy="prior"), LogisticRegression()]}
    search = LabelFreeSearch(CORAL(), grid, selector=selector).fit(Xs, ys, Xt)
    assert len(search.results_) == 2
    assert isinstance(search.best_params_["estimator"], LogisticRegression)
    assert search.score(Xt, yt) > 0.8


def test_snd_values_follow_its_definition():
    # identical predictions: every neighbour is equally close -> entropy log(n - 1);
    # one-hot predictions in C balanced classes -> log(n / C - 1)
    n, c = 60, 3
    same = np.tile([0.2, 0.3, 0.5], (n, 1))
    assert snd_score(same) == pytest.approx(np.log(n - 1))
    onehot = np.eye(c)[np.arange(n) % c]
    assert snd_score(onehot, temperature=0.01) == pytest.approx(np.log(n / c - 1), abs=1e-6)
    assert set(SELECTORS) == {"dev", "iwv", "snd", "entropy"}


def test_default_selector_and_label_leak_guard():
    assert DEFAULT_SELECTOR == "dev"
    Xs, ys, Xt, yt = toy_shift()
    with pytest.raises(TransferkitError, match="without target labels"):
        LabelFreeSearch(CORAL(), {"eps": [1.0]}).fit(Xs, ys, Xt, yt=yt)
    with pytest.raises(TransferkitError, match="trains on labelled target samples"):
        LabelFreeSearch(RegularTransfer(), {"alpha": [0.1, 1.0]}).fit(Xs, ys, Xt)


def test_search_warns_about_the_data_once_not_per_candidate():
    Xs, ys, Xt, _ = toy_shift()
    Xs, Xt = np.column_stack([Xs, np.ones(len(Xs))]), np.column_stack([Xt, np.ones(len(Xt))])
    with pytest.warns(AdaptWarning, match="constant in both domains") as record:
        LabelFreeSearch(CORAL(), {"eps": [0.1, 1.0, 10.0]}).fit(Xs, ys, Xt)
    assert sum(issubclass(w.category, AdaptWarning) for w in record) == 1
