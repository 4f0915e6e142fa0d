"""Multi-label and regression on the frozen path: a one-vs-rest logistic / ridge head on
cached features, hyperparameters and per-label thresholds chosen on validation, run dirs
that load back to the same predictions, the CLI on them, and ``--label-columns``."""

import json

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from tiny_models import make_squares

from transferkit import (
    FromScratchClassifier,
    FromScratchRegressor,
    TransferClassifier,
    TransferkitError,
    TransferRegressor,
)
from transferkit.cli import main
from transferkit.features import STATS
from transferkit.heads import make_head
from transferkit.heads.multilabel import OneVsRestLogisticHead
from transferkit.heads.ridge import RidgeHead
from transferkit.runformat import load_run
from transferkit.tasks import MultiLabel, mean_average_precision


def _brightness(X):
    return X.reshape(len(X), -1).mean(axis=1) / 10


def test_multilabel_frozen_fit_save_load_predict_identical(tmp_path, isolated_cache):
    X, Y = make_squares(160)
    clf = TransferClassifier(backbone="lenet", task="multilabel").fit(X[:120], Y[:120])
    assert clf.head_.name == "ovr-logistic" and clf.chosen_["C"] in OneVsRestLogisticHead.C_GRID
    proba = clf.predict_proba(X[120:])
    assert proba.shape == (40, 2) and ((proba > 0) & (proba < 1)).all()
    assert not np.allclose(proba.sum(axis=1), 1)  # independent per-label probabilities
    predicted = clf.predict(X[120:])
    assert set(np.unique(predicted)) <= {0, 1} and (predicted == Y[120:]).mean() > 0.9
    clf.save(tmp_path / "run")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["kind"] == "transfer" and config["task"]["kind"] == "multilabel"
    assert len(config["threshold"]) == 2 and config["params"]["task"] == "multilabel"
    again = load_run(tmp_path / "run")
    assert type(again) is TransferClassifier
    np.testing.assert_array_equal(again.predict_proba(X[120:]), proba)
    np.testing.assert_array_equal(again.predict(X[120:]), predicted)


def test_regression_frozen_fit_save_load_predict_identical(tmp_path, isolated_cache):
    X, _ = make_squares(160)
    y = _brightness(X)
    reg = TransferRegressor(backbone="lenet").fit(X[:120], y[:120])
    assert reg.head_.name == "ridge" and reg.chosen_["alpha"] in RidgeHead.ALPHA_GRID
    assert reg.task_.mean_ == pytest.approx(y[:120].mean())  # targets standardised
    values = reg.predict(X[120:])
    assert values.shape == (40,) and reg.score(X[120:], y[120:]) > 0.9  # R²
    reg.save(tmp_path / "run")
    again = load_run(tmp_path / "run")
    assert type(again) is TransferRegressor
    np.testing.assert_array_equal(again.predict(X[120:]), values)


def test_ridge_alpha_is_the_one_with_the_lowest_validation_rmse():
    rng = np.random.default_rng(0)
    for n, d in ((200, 30), (40, 120)):  # primal (n > d) and dual (n < d) solutions
        X = rng.normal(size=(n + 100, d))
        y = X[:, :5] @ rng.normal(size=5) + rng.normal(scale=2.0, size=n + 100)
        head = make_head("ridge").fit(X[:n], y[:n], 1, X[n:], y[n:])
        rmse = {a: np.sqrt(np.mean((make_head("ridge", alpha=a).fit(X[:n], y[:n])
                                    .decision_function(X[n:])[:, 0] - y[n:]) ** 2))
                for a in RidgeHead.ALPHA_GRID}
        assert head.alpha_ == min(rmse, key=rmse.get)
        # the closed form is ridge: scikit-learn's Ridge on the same standardised columns
        Z = (X[:n] - X[:n].mean(0)) / X[:n].std(0)
        ref = Ridge(alpha=head.alpha_).fit(Z, y[:n])
        np.testing.assert_allclose(head.coef_, ref.coef_, rtol=1e-4, atol=1e-6)  # float32 Z


def test_regressor_refits_on_train_and_validation_with_the_chosen_alpha():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(150, 20))
    y = X[:, 0] * 3 + rng.normal(size=150)
    reg = FromScratchRegressor().fit(X[:100], y[:100], X[100:], y[100:])
    alpha = reg.chosen_["alpha"]
    direct = make_head("ridge", alpha=alpha).fit(X, reg.task_.encode(y), 1)
    np.testing.assert_allclose(reg.head_.coef_, direct.coef_)  # refit on all 150 rows
    assert reg.n_validation_ == 50


def test_per_label_thresholds_are_chosen_on_validation_and_beat_one_half():
    rng = np.random.default_rng(0)
    n = 900
    X = rng.normal(size=(n, 10))
    # two rare, weakly predictable labels: their F1-best thresholds lie well below 0.5
    Y = np.stack([(X[:, 0] + rng.normal(scale=1.5, size=n)) > 2.0,
                  (X[:, 1] + rng.normal(scale=1.5, size=n)) > 2.2], axis=1).astype(int)
    tr, va = slice(0, 600), slice(600, n)
    clf = FromScratchClassifier(task="multilabel", refit=False).fit(X[tr], Y[tr], X[va], Y[va])
    p_val = clf.predict_proba(X[va])
    expected = MultiLabel().fit(Y[tr]).choose_thresholds(Y[va], p_val)
    np.testing.assert_allclose(clf.threshold_, expected)
    assert all(t < 0.45 for t in clf.threshold_)
    chosen = clf.task_.metrics(Y[va], p_val, np.asarray(clf.threshold_))["f1_macro"]
    assert chosen > clf.task_.metrics(Y[va], p_val, 0.5)["f1_macro"]
    predicted = clf.predict(X[va])
    np.testing.assert_array_equal(predicted, (p_val >= np.asarray(clf.threshold_)).astype(int))


def test_one_vs_rest_c_is_the_one_with_the_best_validation_map():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 40))
    Y = (X[:, :3] + rng.normal(scale=1.0, size=(300, 3)) > 0.5).astype(int)
    head = make_head("ovr-logistic").fit(X[:200], Y[:200], 3, X[200:], Y[200:])
    scores = {C: mean_average_precision(Y[200:], make_head("ovr-logistic", C=C)
                                        .fit(X[:200], Y[:200], 3).predict_proba(X[200:]))
              for C in OneVsRestLogisticHead.C_GRID}
    best = max(scores.values())
    assert scores[head.C_] == pytest.approx(best, abs=1e-3)


def test_a_head_of_another_task_is_one_line():
    X, Y = make_squares(40)
    with pytest.raises(TransferkitError, match="head 'mlp' fits classification targets, not "
                       "multilabel -- use --head ovr-logistic"):
        FromScratchClassifier(task="multilabel", head="mlp").fit(X, Y)
    with pytest.raises(TransferkitError, match="threshold_metric='youden' is a binary"):
        FromScratchClassifier(task="multilabel", threshold_metric="youden").fit(X, Y)


@pytest.fixture
def squares_npz(tmp_path):
    X, Y = make_squares(120)
    cells = ["|".join(n for n, on in zip(("tl", "br"), row, strict=True) if on) for row in Y]
    np.savez(tmp_path / "ml.npz", X=X, y=np.asarray(cells, dtype=str))
    np.savez(tmp_path / "reg.npz", X=X, y=_brightness(X))
    return tmp_path


def test_cli_multilabel_frozen_one_extraction_pass(squares_npz, tmp_path, capsys,
                                                   isolated_cache):
    out = tmp_path / "run"
    before = STATS["extracted"]
    assert main(["--quiet", "fit", str(squares_npz / "ml.npz"), "--task", "multilabel",
                 "--backbone", "lenet", "--seeds", "0,1", "--out", str(out)]) == 0
    assert STATS["extracted"] - before == 120  # one pass; each seed's fits read the cache
    text = capsys.readouterr().out
    assert "transfer (lenet + ovr-logistic head, frozen, cached features)" in text
    assert "from scratch (raw pixels (16x16) + ovr-logistic head)" in text
    assert "per-label thresholds: per label, the threshold" in text
    assert "validation chose, per seed: transfer C=" in text and "f1_macro" in text
    assert not (tmp_path / "run.ckpt").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["per_seed"]["transfer"]) == 2 and len(metrics["chosen"]["transfer"]) == 2
    assert main(["predict", str(out), str(squares_npz / "ml.npz"), "-o",
                 str(tmp_path / "p.csv")]) == 0
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "input,labels,p_br,p_tl" and len(lines) == 121
    capsys.readouterr()
    assert main(["evaluate", str(out), str(squares_npz / "ml.npz"), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["n"] == 120 and scores["f1_macro"] > 0.9


def test_cli_regression_frozen_fit_predict_evaluate(squares_npz, tmp_path, capsys,
                                                    isolated_cache):
    out = tmp_path / "run"
    assert main(["--quiet", "fit", str(squares_npz / "reg.npz"), "--task", "regression",
                 "--backbone", "lenet", "--seeds", "0,1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "transfer (lenet + ridge head, frozen, cached features)" in text
    assert "from scratch (raw pixels (16x16) + ridge head)" in text
    assert "lowest validation RMSE" in text and "transfer alpha=" in text and "r2" in text
    assert main(["predict", str(out), str(squares_npz / "reg.npz")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "input,value" and len(lines) == 121
    values = np.array([float(line.split(",")[1]) for line in lines[1:]])
    truth = np.load(squares_npz / "reg.npz")["y"]
    assert np.abs(values - truth).mean() < 0.2 * truth.std()
    assert main(["evaluate", str(out), str(squares_npz / "reg.npz"), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert set(scores) == {"n", "mae", "rmse", "r2"} and scores["r2"] > 0.9
    assert main(["--quiet", "fit", str(squares_npz / "reg.npz"), "--task", "regression",
                 "--backbone", "lenet", "--head", "logistic", "--out",
                 str(tmp_path / "r2")]) == 2
    assert "head 'logistic' fits classification targets" in capsys.readouterr().err


@pytest.fixture
def label_table(tmp_path):
    """A table of image paths with one 0/1 column per label (tl, br)."""
    from PIL import Image

    X, Y = make_squares(100)
    (tmp_path / "img").mkdir()
    rows = ["image,tl,br"]
    for i, (img, (tl, br)) in enumerate(zip(X, Y, strict=True)):
        Image.fromarray(img).save(tmp_path / "img" / f"{i}.png")
        rows.append(f"img/{i}.png,{tl},{br}")
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "t.csv"


def test_cli_label_columns(label_table, tmp_path, capsys, isolated_cache):
    out = tmp_path / "run"
    assert main(["--quiet", "fit", str(label_table), "--task", "multilabel", "--label-columns",
                 "tl,br", "--backbone", "lenet", "--no-baseline", "--out", str(out)]) == 0
    assert "multilabel, 2 labels" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["classes"] == ["br", "tl"]
    assert main(["evaluate", str(out), str(label_table), "--label-columns", "tl,br",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["f1_macro"] > 0.9


@pytest.mark.parametrize("change, extra, message", [
    ("bad", ["--task", "multilabel", "--label-columns", "tl,br"],
     "label column 'br' holds '2' at data row 3 (1 cell(s) not 0 or 1) -- --label-columns "
     "takes 0/1 columns"),
    (None, ["--task", "multilabel", "--label-columns", "tl,centre"],
     "has no label column(s) 'centre'"),
    (None, ["--task", "multilabel", "--label-columns", "tl,br", "--label-column", "tl"],
     "--label-columns and --label-column both name the labels"),
    (None, ["--task", "regression", "--label-columns", "tl,br"],
     "not of a regression task -- add --task multilabel"),
    (None, ["--label-columns", "tl,br"], "not of a classification task"),
])
def test_cli_label_columns_bad_input_is_one_line(label_table, tmp_path, capsys, change, extra,
                                                 message):
    if change == "bad":
        lines = label_table.read_text().splitlines()
        lines[3] = lines[3][:-1] + "2"
        label_table.write_text("\n".join(lines) + "\n")
    assert main(["--quiet", "fit", str(label_table), "--backbone", "lenet", "--out",
                 str(tmp_path / "run"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()
