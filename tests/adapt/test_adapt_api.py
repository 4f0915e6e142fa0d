"""Shared API of transferkit.adapt: registry, sklearn compatibility, one-line input errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from adapt_testdata import SpyClassifier, toy_shift
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from transferkit.adapt import (
    ADAPTERS,
    CORAL,
    GFK,
    JDA,
    KLIEP,
    KMM,
    MEDA,
    SA,
    TCA,
    AdaptWarning,
    DiscriminativeWeighting,
    EasyTL,
    FeatureAdapter,
    InstanceAdapter,
    InstanceSelection,
    MultiTask,
    RegularTransfer,
    TrAdaBoost,
    get_adapter,
    register,
)
from transferkit.errors import TransferkitError

UNSUPERVISED = [CORAL, TCA, SA, JDA, GFK, EasyTL, MEDA, KMM, KLIEP, DiscriminativeWeighting,
                InstanceSelection]
WITH_ESTIMATOR = [cls for cls in UNSUPERVISED if cls is not MEDA]  # MEDA has its own classifier
FEW_LABELLED = [TrAdaBoost, RegularTransfer, MultiTask]  # fit(Xs, ys, Xt, yt=yt)
SMALL = {TCA: {"n_components": 2}, JDA: {"n_components": 2, "n_iter": 2},
         SA: {"n_components": 2}, KLIEP: {"cv": 2}, GFK: {"n_components": 2},
         MEDA: {"n_components": 2, "n_iter": 2}}


def make(cls, **extra):
    return cls(**{**SMALL.get(cls, {}), **extra})


def one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and " -- " in msg, msg
    return msg


def test_registry_maps_every_exported_method():
    assert set(ADAPTERS) == {"coral", "tca", "sa", "jda", "gfk", "easytl", "meda", "kmm",
                             "kliep", "discriminative", "tradaboost", "selection",
                             "regular-transfer", "multitask"}
    assert get_adapter("CORAL") is CORAL
    with pytest.raises(TransferkitError) as exc:
        get_adapter("nope")
    assert "coral" in one_line(exc)


def test_register_refuses_a_taken_name():
    with pytest.raises(TransferkitError):
        register("coral")(type("Other", (FeatureAdapter,), {}))


@pytest.mark.parametrize("cls", WITH_ESTIMATOR + FEW_LABELLED)
def test_params_roundtrip_through_clone(cls):
    est = make(cls)
    params = est.get_params()
    assert "estimator" in params
    assert clone(est).get_params() == params
    est.set_params(estimator=LogisticRegression())
    assert isinstance(est.get_params()["estimator"], LogisticRegression)


@pytest.mark.parametrize("cls", UNSUPERVISED)
def test_fit_predict_score_on_toy_shift(cls):
    Xs, ys, Xt, yt = toy_shift()
    model = make(cls).fit(Xs, ys, Xt)
    pred = model.predict(Xt)
    assert pred.shape == (len(Xt),) and set(pred) <= set(ys)
    assert model.score(Xt, yt) > 0.6
    if isinstance(model, FeatureAdapter | MEDA):
        Z = model.transform(Xt)
        assert Z.shape[0] == len(Xt)
        assert model.transform(Xs, domain="source").shape == (len(Xs), Z.shape[1])
    else:
        assert model.weights_.shape == (len(Xs),) and (model.weights_ >= 0).all()


def test_predict_proba_and_decision_function_only_when_the_estimator_has_them():
    Xs, ys, Xt, yt = toy_shift()
    proba = CORAL(LogisticRegression()).fit(Xs, ys, Xt).predict_proba(Xt)
    assert proba.shape == (len(Xt), 2) and np.allclose(proba.sum(1), 1)
    from sklearn.svm import LinearSVC

    assert not hasattr(CORAL(LinearSVC()).fit(Xs, ys, Xt), "predict_proba")
    assert CORAL(LinearSVC()).fit(Xs, ys, Xt).decision_function(Xt).shape == (len(Xt),)
    assert not hasattr(CORAL().fit(Xs, ys, Xt), "decision_function")  # 1-NN has none
    scores = RegularTransfer().fit(Xs, ys, Xt[:20], yt=yt[:20]).decision_function(Xt)
    assert scores.shape == (len(Xt),)


@pytest.mark.parametrize("cls", UNSUPERVISED)
def test_target_labels_are_refused(cls):
    Xs, ys, Xt, yt = toy_shift()
    with pytest.raises(TransferkitError) as exc:
        make(cls).fit(Xs, ys, Xt, yt)
    assert "positional" in one_line(exc)
    with pytest.raises(TransferkitError) as exc:
        make(cls).fit(Xs, ys, Xt, yt=yt)
    assert "target labels" in one_line(exc)


@pytest.mark.parametrize("cls", FEW_LABELLED)
def test_few_labelled_target_methods_require_target_labels_of_source_classes(cls):
    Xs, ys, Xt, yt = toy_shift()
    with pytest.raises(TransferkitError) as exc:
        cls().fit(Xs, ys, Xt)
    assert "yt=" in one_line(exc)
    with pytest.raises(TransferkitError) as exc:
        cls().fit(Xs, ys, Xt[:20], yt=yt[:19])
    assert "19 labels for 20 samples" in one_line(exc)
    with pytest.raises(TransferkitError) as exc:
        cls().fit(Xs, ys, Xt[:20], yt=np.r_[yt[:19], 7])
    assert "yt has class(es) 7 that never occur in ys" in one_line(exc)
    model = cls().fit(Xs, ys, Xt[:20], yt=yt[:20])
    assert model.score(Xt, yt) > 0.6 and model.predict_proba(Xt).shape == (len(Xt), 2)


@pytest.mark.parametrize("cls", UNSUPERVISED)
def test_bad_inputs_give_one_line_errors(cls):
    Xs, ys, Xt, _ = toy_shift()
    with pytest.raises(TransferkitError) as exc:  # different feature dims
        make(cls).fit(Xs, ys, Xt[:, :3])
    assert "5 features but target has 3" in one_line(exc)
    bad = Xs.copy()
    bad[3, 1] = np.nan
    with pytest.raises(TransferkitError) as exc:
        make(cls).fit(bad, ys, Xt)
    assert "NaN" in one_line(exc)
    with pytest.raises(TransferkitError) as exc:
        make(cls).fit(Xs, np.zeros_like(ys), Xt)
    assert "1 class" in one_line(exc)
    with pytest.raises(TransferkitError) as exc:
        make(cls).fit(Xs, ys[:-1], Xt)
    assert "labels for" in one_line(exc)
    model = make(cls).fit(Xs, ys, Xt)
    with pytest.raises(TransferkitError) as exc:
        model.predict(Xt[:, :4])
    assert "fitted with 5" in one_line(exc)


@pytest.mark.parametrize("cls", [TCA, SA, JDA, GFK, MEDA])
def test_more_components_than_samples_is_an_error(cls):
    Xs, ys, Xt, _ = toy_shift(n_source=6, n_target=5, n_features=40)
    with pytest.raises(TransferkitError) as exc:
        cls(n_components=30).fit(Xs, ys, Xt)
    assert "n_components" in one_line(exc)
    for bad in (2.5, -3):  # never silently truncated
        with pytest.raises(TransferkitError) as exc:
            cls(n_components=bad).fit(Xs, ys, Xt)
        assert f"n_components must be a positive integer, got {bad}" in one_line(exc)


def test_constant_column_warns_and_breaks_unregularised_coral():
    Xs, ys, Xt, yt = toy_shift()
    Xs[:, 2] = 1.0
    Xt[:, 2] = 1.0
    with pytest.warns(AdaptWarning, match="constant in both domains"):
        CORAL().fit(Xs, ys, Xt)
    with pytest.raises(TransferkitError) as exc, pytest.warns(AdaptWarning):
        CORAL(eps=0).fit(Xs, ys, Xt)
    assert "eps>0" in one_line(exc)


def test_all_zero_sample_cannot_be_l2_normalised():
    Xs, ys, Xt, _ = toy_shift()
    Xt[7] = 0.0
    with pytest.raises(TransferkitError) as exc:
        TCA(n_components=2).fit(Xs, ys, Xt)
    assert "normalize=False" in one_line(exc)
    TCA(n_components=2, normalize=False).fit(Xs, ys, Xt)


def test_default_estimators_match_the_papers():
    Xs, ys, Xt, _ = toy_shift()
    feature = CORAL().fit(Xs, ys, Xt).estimator_
    assert isinstance(feature, KNeighborsClassifier) and feature.n_neighbors == 1
    assert isinstance(KMM().fit(Xs, ys, Xt).estimator_, LogisticRegression)


@pytest.mark.parametrize("cls", [KMM, KLIEP, DiscriminativeWeighting])
def test_instance_weights_reach_the_estimator(cls):
    Xs, ys, Xt, _ = toy_shift()
    SpyClassifier.calls = []
    model = make(cls, estimator=SpyClassifier()).fit(Xs, ys, Xt)
    assert len(SpyClassifier.calls) == 1
    np.testing.assert_allclose(SpyClassifier.calls[0], model.weights_)
    assert model.weights_.std() > 0  # the shifted target really re-weights the source


@pytest.mark.parametrize("cls", [KMM, KLIEP, DiscriminativeWeighting, TrAdaBoost])
def test_estimator_without_sample_weight_is_refused(cls):
    Xs, ys, Xt, yt = toy_shift()
    with pytest.raises(TransferkitError) as exc:
        kwargs = {"yt": yt} if cls is TrAdaBoost else {}
        make(cls, estimator=KNeighborsClassifier()).fit(Xs, ys, Xt, **kwargs)
    assert "sample_weight" in one_line(exc)


def test_instance_selection_needs_no_sample_weight():
    Xs, ys, Xt, _ = toy_shift()
    model = InstanceSelection(KNeighborsClassifier(3), keep=0.3).fit(Xs, ys, Xt)
    assert isinstance(model, InstanceAdapter)
    assert set(np.unique(model.weights_)) == {0.0, 1.0}


@pytest.mark.parametrize("cls", UNSUPERVISED)
def test_one_target_sample_or_odd_labels_give_one_line_errors(cls):
    Xs, ys, Xt, _ = toy_shift()
    with pytest.raises(TransferkitError) as exc:
        make(cls).fit(Xs, ys, Xt[:1])
    assert "at least 2" in one_line(exc)
    with pytest.raises(TransferkitError) as exc:
        make(cls).fit(Xs, np.where(ys == 0, None, "b").astype(object), Xt)
    assert "None labels" in one_line(exc)
    with pytest.raises(TransferkitError) as exc:
        make(cls).fit(Xs, np.array([1 if v == 0 else "b" for v in ys], dtype=object), Xt)
    assert "mixes label types" in one_line(exc)
    with pytest.raises(TransferkitError) as exc:
        make(cls).fit(np.ones_like(Xs), ys, np.ones_like(Xt))
    assert "all 5 feature columns are constant" in one_line(exc)
    with pytest.raises(TransferkitError) as exc:
        make(cls).fit(np.ones_like(Xs), ys, Xt)
    assert "all 5 feature columns are constant in the source" in one_line(exc)


@pytest.mark.parametrize("cls", [KMM, KLIEP, DiscriminativeWeighting])
def test_weights_reach_the_last_step_of_a_pipeline_or_a_grid_search(cls):
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Xs, ys, Xt, _ = toy_shift()
    SpyClassifier.calls = []
    model = make(cls, estimator=make_pipeline(StandardScaler(), SpyClassifier())).fit(Xs, ys, Xt)
    np.testing.assert_allclose(SpyClassifier.calls[-1], model.weights_)
    search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2)
    assert make(cls, estimator=search).fit(Xs, ys, Xt).score(Xs, ys) > 0.5
    SpyClassifier.calls = []  # a search over a pipeline: the weights reach its last step
    search = GridSearchCV(make_pipeline(StandardScaler(), SpyClassifier()),
                          {"standardscaler__with_mean": [True, False]}, cv=2, refit=True)
    model = make(cls, estimator=search).fit(Xs, ys, Xt)
    np.testing.assert_allclose(SpyClassifier.calls[-1], model.weights_)
    with pytest.raises(TransferkitError) as exc:
        make(cls, estimator=make_pipeline(StandardScaler(), KNeighborsClassifier())).fit(
            Xs, ys, Xt)
    assert "KNeighborsClassifier.fit does not accept sample_weight" in one_line(exc)


def test_weights_that_drop_a_class_warn():
    from transferkit.adapt import AdaptWarning
    from transferkit.adapt.base import warn_lost_classes

    ys = np.repeat([0, 1, 2], 10)
    with pytest.warns(AdaptWarning, match=r"class\(es\) 1 almost no weight .*size 20 of 30"):
        warn_lost_classes(np.where(ys == 1, 0.0, 1.0), ys, "KMM")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_lost_classes(np.where(ys == 1, 0.2, 1.0), ys, "KMM")  # down-weighted, not lost
