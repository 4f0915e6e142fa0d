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


def test_refit_after_set_params_uses_the_new_backbone_and_validation_args_pair_up(
        sentiment_texts, isolated_cache, tmp_path):
    from tiny_models import make_tiny_bert

    texts, y = sentiment_texts
    clf = TransferClassifier(backbone="minilm").fit(texts, y)
    assert clf.head_.predict_proba(np.zeros((1, 384))).shape == (1, 2)
    tiny = f"hf:{make_tiny_bert(tmp_path / 'bert')}"
    clf.set_params(backbone=tiny).fit(texts, y)
    assert clf.backbone_.describe()["name"] == f"hf:{(tmp_path / 'bert').resolve()}"
    assert clf.backbone_.feature_dim == 16  # not the 384 of the first fit's minilm
    assert clf.predict_proba(texts).shape == (len(texts), 2)
    with pytest.raises(TransferkitError, match="X_val and y_val go together"):
        TransferClassifier(backbone="minilm").fit(texts, y, X_val=texts)
    with pytest.raises(TransferkitError, match="unknown threshold_metric"):
        FromScratchClassifier(threshold_metric="auc").fit(texts, y)


def test_from_scratch_takes_other_input_forms_at_predict_and_pandas(tmp_path):
    import os

    import pandas as pd
    import scipy.sparse as sp
    from PIL import Image

    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, (40, 16, 16), dtype=np.uint8)
    y = np.array(["a", "b"] * 20)
    clf = FromScratchClassifier().fit(X, y)
    paths = []
    for i, image in enumerate(X[:5]):
        paths.append(os.path.join(tmp_path, f"{i}.png"))
        Image.fromarray(image).save(paths[-1])
    np.testing.assert_allclose(clf.predict_proba(paths), clf.predict_proba(X[:5]), atol=1e-6)
    assert clf.predict_proba(rng.integers(0, 255, (3, 20, 20), dtype=np.uint8)).shape == (3, 2)
    T = rng.normal(size=(40, 4))
    tab = FromScratchClassifier().fit(pd.DataFrame(T), y)
    np.testing.assert_allclose(tab.predict_proba(pd.DataFrame(T)), tab.predict_proba(T))
    with pytest.raises(TransferkitError, match="3 columns but the model was fitted on 4"):
        tab.predict(T[:, :3])
    bad = T.copy()
    bad[0, 0] = np.nan
    with pytest.raises(TransferkitError, match="NaN"):
        FromScratchClassifier().fit(bad, y)
    sparse = FromScratchClassifier().fit(sp.csr_matrix(T), y)
    assert sparse.predict(sp.csr_matrix(T)).shape == (40,)
    texts = pd.Series(["good film", "bad film"] * 20)
    assert list(FromScratchClassifier().fit(texts, y).predict(texts[:2])) == ["a", "b"]
