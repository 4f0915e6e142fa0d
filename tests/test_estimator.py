"""TransferClassifier / FromScratchClassifier follow the scikit-learn estimator API."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from transferkit import FromScratchClassifier, TransferClassifier
from transferkit.errors import TransferkitError


def test_params_round_trip():
    clf = TransferClassifier(backbone="minilm", head="mlp", random_state=3)
    params = clf.get_params()
    assert params["backbone"] == "minilm" and params["head"] == "mlp"
    clf.set_params(head="logistic")
    assert clone(clf).get_params()["head"] == "logistic"


def test_text_fit_predict_score(sentiment_texts, isolated_cache):
    texts, y = sentiment_texts
    clf = TransferClassifier(backbone="minilm").fit(texts, y)
    assert list(clf.classes_) == ["neg", "pos"]
    pred = clf.predict(["what a wonderful, lovely film", "boring and awful"])
    assert list(pred) == ["pos", "neg"]
    proba = clf.predict_proba(texts)
    assert proba.shape == (24, 2) and np.allclose(proba.sum(1), 1)
    assert clf.score(texts, y) > 0.9
    assert clf.threshold_ is not None and 0 < clf.threshold_ < 1  # chosen on validation


def test_cross_val_score_and_pipeline(sentiment_texts, isolated_cache):
    texts, y = sentiment_texts
    scores = cross_val_score(TransferClassifier(backbone="minilm"), texts, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.8
    pipe = Pipeline([("lower", FunctionTransformer(lambda xs: [t.lower() for t in xs])),
                     ("clf", TransferClassifier(backbone="minilm"))])
    assert pipe.fit(texts, y).score([t.upper() for t in texts], y) > 0.9


def test_from_scratch_baseline_on_text(sentiment_texts):
    texts, y = sentiment_texts
    clf = FromScratchClassifier().fit(texts, y)
    assert "TF-IDF" in clf.description
    assert clf.score(texts, y) > 0.9


def test_wrong_modality_is_rejected(isolated_cache):
    clf = TransferClassifier(backbone="efficientnet_lite0")
    with pytest.raises(TransferkitError, match="takes image inputs but the data is text"):
        clf.fit(["some", "texts"], [0, 1])


def test_one_class_and_length_mismatch(sentiment_texts):
    texts, _ = sentiment_texts
    with pytest.raises(TransferkitError, match="one class"):
        TransferClassifier(backbone="minilm").fit(texts, ["a"] * len(texts))
    with pytest.raises(TransferkitError, match="inputs but"):
        TransferClassifier(backbone="minilm").fit(texts, ["a", "b"])


def test_predict_before_fit():
    with pytest.raises(TransferkitError, match="not fitted"):
        TransferClassifier().predict(["x"])


def test_save_and_load_predict_identically(sentiment_texts, isolated_cache, tmp_path):
    texts, y = sentiment_texts
    clf = TransferClassifier(backbone="minilm", head="mlp").fit(texts, y)
    clf.save(tmp_path / "run")
    again = TransferClassifier.load(tmp_path / "run")
    assert np.allclose(again.predict_proba(texts), clf.predict_proba(texts), atol=1e-6)
    assert again.threshold_ == clf.threshold_
    assert list(again.classes_) == list(clf.classes_)
