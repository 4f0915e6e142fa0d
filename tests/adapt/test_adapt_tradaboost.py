"""TrAdaBoost (Dai et al., ICML 2007)."""

from __future__ import annotations

import numpy as np
from adapt_testdata import SpyClassifier, digits, few_labels, toy_shift
from sklearn.svm import LinearSVC

from transferkit.adapt import TrAdaBoost


def test_weights_reach_each_round_and_second_half_votes():
    Xs, ys, Xt, yt = toy_shift()
    SpyClassifier.calls = []
    model = TrAdaBoost(SpyClassifier(), n_estimators=7).fit(Xs, ys, Xt[:30], yt=yt[:30])
    assert len(SpyClassifier.calls) == 7
    first, last = SpyClassifier.calls[0], SpyClassifier.calls[-1]
    np.testing.assert_allclose(first, 1.0)  # uniform start
    assert not np.allclose(first, last)  # misclassified samples were re-weighted
    assert len(model.estimators_) == 4  # rounds ceil(7/2) .. 7
    # the spy always predicts the majority class: every other source sample is misclassified
    # in each round and loses weight by beta per round
    majority = np.bincount(np.r_[ys, yt[:30]]).argmax()
    assert model.weights_[ys != majority].max() < model.weights_[ys == majority].min()


def test_few_target_labels_beat_source_only_and_pooling():
    Xs, ys, Xt, yt = digits("USPS")
    labelled = few_labels(yt, 5)
    clf = LinearSVC(C=0.1)
    test_X, test_y = Xt[~labelled], yt[~labelled]
    source_only = clf.fit(Xs, ys).score(test_X, test_y)
    pooled = clf.fit(np.vstack([Xs, Xt[labelled]]), np.r_[ys, yt[labelled]]).score(test_X,
                                                                                  test_y)
    boosted = TrAdaBoost(clf, n_estimators=10).fit(Xs, ys, Xt[labelled], yt=yt[labelled])
    acc = boosted.score(test_X, test_y)
    assert acc > source_only + 0.05 and acc > pooled
