"""RegularTransfer (Chelba & Acero, 2004): target logistic regression pulled towards the
source model's weights."""

from __future__ import annotations

import numpy as np
import pytest
from adapt_testdata import digits, few_label_baselines, few_labels, related_tasks, surf_task
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from transferkit.adapt import RegularTransfer
from transferkit.adapt.parameter.regular import ALPHAS, fit_towards
from transferkit.errors import TransferkitError


@pytest.mark.parametrize("n_classes", [2, 3])
def test_a_prior_at_zero_is_scikit_learns_l2_logistic_regression(n_classes):
    Xs, ys, _, _ = related_tasks(n_source=300, n_classes=n_classes)
    X1 = np.c_[Xs, np.ones(len(Xs))]  # the intercept as a penalised column, as fit_towards does
    ref = LogisticRegression(C=0.5, fit_intercept=False, tol=1e-10, max_iter=5000).fit(X1, ys)
    k = 1 if n_classes == 2 else n_classes
    W, b, converged = fit_towards(Xs, ys, np.zeros((k, Xs.shape[1])), np.zeros(k), 1 / 0.5)
    assert converged
    np.testing.assert_allclose(np.c_[W, b], ref.coef_, atol=1e-4)


def test_a_large_alpha_keeps_the_source_model_and_a_small_one_fits_the_target():
    Xs, ys, Xt, yt = related_tasks(angle=1.2)
    Xl, yl = Xt[:60], yt[:60]
    kept = RegularTransfer(alpha=1e9).fit(Xs, ys, Xl, yt=yl)
    np.testing.assert_allclose(kept.estimator_.coef_, kept.source_estimator_.coef_, atol=1e-4)
    assert (kept.predict(Xt) == kept.source_estimator_.predict(Xt)).all()
    free = RegularTransfer(alpha=1e-4).fit(Xs, ys, Xl, yt=yl)
    assert free.score(Xl, yl) == 1.0 > kept.score(Xl, yl)  # it can fit the target's rule


def test_the_prior_helps_few_labelled_samples_under_a_concept_shift():
    Xs, ys, Xt, yt = related_tasks(angle=1.2)
    Xl, yl, Xu, yu = Xt[:30], yt[:30], Xt[30:], yt[30:]
    source_only = LogisticRegression(max_iter=1000).fit(Xs, ys).score(Xu, yu)
    target_only = LogisticRegression(max_iter=1000).fit(Xl, yl).score(Xu, yu)
    model = RegularTransfer(alpha=0.1).fit(Xs, ys, Xl, yt=yl)
    assert model.score(Xu, yu) > max(source_only, target_only)
    proba = model.predict_proba(Xu)
    assert proba.shape == (len(Xu), 3) and np.allclose(proba.sum(1), 1)
    assert (model.classes_[proba.argmax(1)] == model.predict(Xu)).all()


def test_auto_alpha_is_cross_validated_on_the_labelled_target_samples():
    Xs, ys, Xt, yt = related_tasks(angle=0.6)
    model = RegularTransfer(cv=3).fit(Xs, ys, Xt[:30], yt=yt[:30])
    assert model.alpha_ in ALPHAS and set(model.cv_losses_) == set(ALPHAS)
    assert model.cv_losses_[model.alpha_] == min(model.cv_losses_.values())
    assert RegularTransfer(alpha=0.5).fit(Xs, ys, Xt[:30], yt=yt[:30]).alpha_ == 0.5


def test_binary_decision_function_and_string_labels():
    Xs, ys, Xt, yt = related_tasks(n_classes=2)
    names = np.array(["no", "yes"])
    model = RegularTransfer(alpha=1.0).fit(Xs, names[ys], Xt[:20], yt=names[yt[:20]])
    assert model.estimator_.decision_function(Xt).shape == (len(Xt),)
    proba = model.predict_proba(Xt)
    assert (names[proba.argmax(1)] == model.predict(Xt)).all() and model.score(Xt, names[yt]) > 0.8


@pytest.mark.parametrize("n_classes, shown", [(3, [0, 1]), (2, [1])])
def test_a_class_no_target_sample_shows_keeps_the_source_models_view(n_classes, shown):
    Xs, ys, Xt, yt = related_tasks(n_classes=n_classes, angle=0.0)  # no shift at all
    few = np.flatnonzero(np.isin(yt, shown))[:20]
    unseen = ~np.isin(yt, shown)
    source = LogisticRegression(max_iter=1000).fit(Xs, ys)
    for alpha in (1.0, "auto") if len(shown) > 1 else (1.0,):
        model = RegularTransfer(alpha=alpha).fit(Xs, ys, Xt[few], yt=yt[few])
        assert model.score(Xt[unseen], yt[unseen]) > source.score(Xt[unseen], yt[unseen]) - 0.1
    if len(shown) == 1:  # cross-validation cannot score one class against the others
        with pytest.raises(TransferkitError, match="at least 2 classes"):
            RegularTransfer().fit(Xs, ys, Xt[few], yt=yt[few])


@pytest.mark.parametrize("kwargs, message", [
    ({"alpha": -1.0}, "alpha must be 'auto' or a finite number > 0"),
    ({"alpha": 0.0}, "alpha must be 'auto' or a finite number > 0"),
    ({"alpha": "big"}, "alpha must be 'auto'"),
    ({"alpha": np.array([1.0, 2.0])}, "alpha must be 'auto'"),
    ({"alpha": True}, "alpha must be 'auto'"),
    ({"cv": 1}, "cv must be an integer >= 2"),
    ({"estimator": KNeighborsClassifier()}, "has no linear coef_"),
])
def test_bad_parameters_are_one_line(kwargs, message):
    Xs, ys, Xt, yt = related_tasks()
    with pytest.raises(TransferkitError) as exc:
        RegularTransfer(**kwargs).fit(Xs, ys, Xt[:30], yt=yt[:30])
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_a_source_model_without_intercept_gives_a_target_model_without_one():
    Xs, ys, Xt, yt = related_tasks()
    model = RegularTransfer(LogisticRegression(fit_intercept=False), alpha=0.1)
    model.fit(Xs, ys, Xt[:30], yt=yt[:30])
    assert (model.estimator_.intercept_ == 0).all()
    assert (RegularTransfer(alpha=0.1).fit(Xs, ys, Xt[:30], yt=yt[:30]).estimator_.intercept_
            != 0).all()


def test_numpy_numbers_are_numbers():
    Xs, ys, Xt, yt = related_tasks()
    for alpha in (np.float32(1.0), np.int64(1)):
        assert RegularTransfer(alpha=alpha).fit(Xs, ys, Xt[:30], yt=yt[:30]).alpha_ == 1.0


def test_auto_alpha_needs_two_labelled_samples_per_class():
    Xs, ys, Xt, yt = related_tasks()
    one_each = np.array([np.nonzero(yt == c)[0][0] for c in range(3)])
    with pytest.raises(TransferkitError, match="at least 2 labelled target samples"):
        RegularTransfer().fit(Xs, ys, Xt[one_each], yt=yt[one_each])
    RegularTransfer(alpha=1.0).fit(Xs, ys, Xt[one_each], yt=yt[one_each])


@pytest.mark.parametrize("task, per_class", [("USPS->MNIST", 5), ("AW", 3)])
def test_real_data_few_labels_beat_every_baseline(task, per_class):
    Xs, ys, Xt, yt = digits("USPS") if task == "USPS->MNIST" else surf_task(task)
    m = few_labels(yt, per_class)
    base = few_label_baselines(Xs, ys, Xt[m], yt[m], Xt[~m], yt[~m])
    acc = RegularTransfer().fit(Xs, ys, Xt[m], yt=yt[m]).score(Xt[~m], yt[~m])
    assert acc > max(base.values()) + 0.02, (acc, base)
