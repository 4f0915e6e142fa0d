"""Multi-label and regression through the one loop: the task gives the loss, activation,
validation metrics and the best-epoch key; the estimator chooses per-label thresholds on
validation, saves and reloads the task with the model."""

import numpy as np
import pytest
import torch
from tiny_models import make_squares

from transferkit.errors import TransferkitError
from transferkit.finetune import (
    FineTuneClassifier,
    FineTuneModel,
    FineTuneRegressor,
    TrainConfig,
    Trainer,
)
from transferkit.finetune.objectives import Supervised
from transferkit.runformat import load_run
from transferkit.tasks import MultiLabel, Regression, make_task, split_label_cells

from .conftest import TinyCNN

_squares = make_squares


def test_multilabel_trains_through_the_loop():
    X, Y = _squares()
    task = make_task("multilabel").fit(Y)
    cfg = TrainConfig(epochs=6, batch_size=16, lr=3e-3, head_lr=3e-2, augment=False)
    trainer = Trainer(FineTuneModel(TinyCNN(), task.out_features), "finetune", cfg,
                      objective=Supervised(task))
    result = trainer.fit(X[:120], task.encode(Y[:120]), X[120:], task.encode(Y[120:]))
    assert {"val_loss", "val_map"} <= set(result.history[0])
    keys = [task.selection_key(h) for h in result.history]
    assert result.best_epoch == int(np.argmax([k[0] for k in keys])) or keys.count(max(keys)) > 1
    assert max(h["val_map"] for h in result.history) > 0.9  # chance is about 0.5


def test_multilabel_estimator_thresholds_metrics_and_reload(tmp_path):
    X, Y = _squares(200)
    labels = [tuple(name for name, on in zip(("tl", "br"), row, strict=True) if on)
              for row in Y]
    clf = FineTuneClassifier(backbone="tiny_cnn_test", task="multilabel", epochs=12,
                             batch_size=16, lr=3e-3, head_lr=3e-2, augment=False)
    clf.fit(X[:150], labels[:150])
    assert clf.classes_.tolist() == ["br", "tl"]
    assert len(clf.threshold_) == 2 and all(0 < t < 1 for t in clf.threshold_)
    P = clf.predict_proba(X[150:])
    assert P.shape == (50, 2) and ((P >= 0) & (P <= 1)).all()
    truth = clf.task_.encode(labels[150:])
    metrics = clf.task_.metrics(truth, P, np.asarray(clf.threshold_))
    assert metrics["f1_macro"] > 0.85 and metrics["map"] > 0.9
    assert set(metrics) == {"n", "f1_micro", "f1_macro", "map", "subset_accuracy",
                            "hamming_loss"}
    assert clf.predict(X[150:]).shape == (50, 2)
    clf.save(tmp_path / "run")
    again = load_run(tmp_path / "run")
    assert np.allclose(again.predict_proba(X[150:]), P)
    assert again.threshold_ == clf.threshold_ and isinstance(again.task_, MultiLabel)


def test_per_label_thresholds_maximise_validation_f1():
    task = make_task("multilabel").fit(np.array([[1, 0], [0, 1], [1, 1], [0, 0]]))
    Y = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [0, 0], [1, 1]], float)
    P = np.array([[0.3, 0.1], [0.25, 0.2], [0.1, 0.8], [0.2, 0.9], [0.05, 0.2], [0.35, 0.7]])
    t = task.choose_thresholds(Y, P)
    assert 0.2 < t[0] <= 0.25 and 0.2 < t[1] <= 0.7  # label 0's positives sit below 0.5
    assert task.metrics(Y, P, t)["f1_macro"] == 1.0 > task.metrics(Y, P, 0.5)["f1_macro"]


def test_regression_estimator_learns_saves_and_reloads(tmp_path):
    X, _ = _squares(200)
    y = X.reshape(len(X), -1).mean(axis=1) / 10.0  # mean brightness, about 3 to 15
    reg = FineTuneRegressor(backbone="tiny_cnn_test", epochs=8, batch_size=16, lr=3e-3,
                            head_lr=3e-2, augment=False)
    reg.fit(X[:150], y[:150])
    pred = reg.predict(X[150:])
    metrics = Regression.metrics(y[150:], pred)
    baseline = Regression.metrics(y[150:], np.full(50, y[:150].mean()))
    assert metrics["mae"] < 0.5 * baseline["mae"] and metrics["r2"] > 0.5
    assert {"val_mae", "val_rmse"} <= set(reg.result_.history[0])
    assert reg.score(X[150:], y[150:]) == pytest.approx(metrics["r2"])
    reg.save(tmp_path / "run")
    again = load_run(tmp_path / "run")
    assert isinstance(again, FineTuneRegressor)
    assert np.allclose(again.predict(X[150:]), pred)


def test_huber_is_a_loss_option_and_an_unknown_one_is_one_line():
    task = make_task("regression", loss="huber").fit([0.0, 1.0, 10.0])
    out = torch.tensor([[0.0], [0.0]])
    assert float(task.loss(out, torch.tensor([[0.5], [3.0]]))) == pytest.approx(
        (0.5 * 0.5**2 + (3.0 - 0.5)) / 2)
    with pytest.raises(TransferkitError, match="unknown regression loss 'l1'"):
        make_task("regression", loss="l1")


@pytest.mark.parametrize("make, message", [
    (lambda: make_task("regression").fit(["1.5", "cheap"]), "must be numbers"),
    (lambda: make_task("regression").fit([1.0, float("nan")]), "1 missing or infinite"),
    (lambda: make_task("multilabel").fit([("a",), ("b",), ("a",)]),
     "exactly one label.*plain classifier"),
    (lambda: split_label_cells(["a;b", "b;c", "a"]), "separated by ';', not by '\\|'.*"
     "--label-sep ';'"),
    (lambda: make_task("ranking"), "unknown task kind 'ranking'"),
])
def test_bad_targets_are_one_line(make, message):
    with pytest.raises(TransferkitError, match=message) as info:
        make()
    assert "\n" not in str(info.value)


def test_label_cells_split_on_the_named_separator():
    assert split_label_cells(["b|a", "c", "", None]) == [("a", "b"), ("c",), (), ()]
    assert split_label_cells(["a,b", "c"], sep=",") == [("a", "b"), ("c",)]


@pytest.mark.parametrize("weighting", ["equal", "uncertainty"])
def test_multitask_shares_one_backbone_and_learns_every_head(weighting):
    from transferkit.tasks import MultiTask, task_from_dict

    X, Y = _squares(200)
    targets = {"tl": Y[:, 0], "br": Y[:, 1],
               "bright": X.reshape(len(X), -1).mean(axis=1) / 10.0}
    task = MultiTask({"tl": "classification", "br": "classification",
                      "bright": "regression"}, weighting=weighting).fit(targets)
    assert task.out_features == 2 + 2 + 1
    T = task.encode(targets)
    cfg = TrainConfig(epochs=12, batch_size=16, lr=3e-3, head_lr=3e-2, augment=False)
    trainer = Trainer(FineTuneModel(TinyCNN(), task.out_features), "finetune", cfg,
                      objective=Supervised(task))
    result = trainer.fit(X[:150], T[:150], X[150:], T[150:])
    best = result.history[result.best_epoch]
    assert best["tl/val_accuracy"] > 0.75 and best["br/val_accuracy"] > 0.75  # chance 0.5
    assert best["bright/val_rmse"] < 0.6 * np.std(targets["bright"][150:])
    assert result.best_epoch == int(np.argmin([h["val_loss"] for h in result.history]))
    weights = task.task_weights()
    if weighting == "uncertainty":  # learnt, and saved with the task
        assert len(set(weights.values())) == 3 and all(w != 1.0 for w in weights.values())
    else:
        assert weights == {"tl": 1.0, "br": 1.0, "bright": 1.0}
    again = task_from_dict(task.to_dict())
    assert again.task_weights() == pytest.approx(weights)
    assert again.out_features == 5 and again.tasks["bright"].mean_ == task.tasks["bright"].mean_


@pytest.mark.parametrize("spec, message", [
    ("digit:classification,digit:regression", "task 'digit' is named twice"),
    ("digit:ranking", "unknown task kind 'ranking' for task 'digit'"),
    ("digit", "is not NAME:KIND"),
])
def test_bad_task_lists_are_one_line(spec, message):
    from transferkit.tasks import parse_tasks

    with pytest.raises(TransferkitError, match=message):
        parse_tasks(spec)
    assert parse_tasks("a:classification, b:regression") == {"a": "classification",
                                                              "b": "regression"}


def test_a_multitask_model_saves_its_learnt_weights_and_reloads(tmp_path):
    X, Y = _squares(160)
    targets = {"tl": np.where(Y[:, 0] == 1, "yes", "no"),
               "bright": X.reshape(len(X), -1).mean(axis=1) / 10.0}
    clf = FineTuneClassifier(backbone="tiny_cnn_test", task="multitask",
                             task_params={"tasks": {"tl": "classification",
                                                    "bright": "regression"},
                                          "weighting": "uncertainty"},
                             epochs=4, batch_size=16, lr=3e-3, head_lr=3e-2, augment=False)
    clf.fit(X[:120], {k: v[:120] for k, v in targets.items()})
    predicted = clf.predict(X[120:])
    assert set(predicted) == {"tl", "bright"} and set(predicted["tl"]) <= {"yes", "no"}
    assert predicted["bright"].shape == (40,)
    weights = clf.task_.task_weights()
    assert all(w != 1.0 for w in weights.values())  # learnt
    clf.save(tmp_path / "run")
    again = load_run(tmp_path / "run")
    assert again.task_.task_weights() == pytest.approx(weights)
    assert np.allclose(again.predict_proba(X[120:]), clf.predict_proba(X[120:]))
    assert (again.predict(X[120:])["tl"] == predicted["tl"]).all()


def test_regression_transfers_between_diabetes_groups(tmp_path):
    """Real data shipped with scikit-learn: an MLP trained on one sex's patients, saved as
    a run dir and fine-tuned on 30 patients of the other sex predicts their disease score
    better than the same MLP trained on those 30 alone (the benchmark
    benchmarks/diabetes_regression.py reports 5 seeds, both directions, and ridge)."""
    from sklearn.datasets import load_diabetes

    from transferkit.backbones.tabular import ColumnSchema, TabularMLP
    from transferkit.finetune import FineTuneRegressor

    data = load_diabetes(scaled=False)
    sex, X, y = data.data[:, 1], np.delete(data.data, 1, axis=1), data.target
    names = [n for n in data.feature_names if n != "sex"]
    schema = ColumnSchema.fit(X[sex == 1], columns=names)
    loop = {"strategy": "finetune", "lr": 1e-3, "head_lr": 1e-3, "batch_size": 16,
            "warmup": 0.0}
    source = FineTuneRegressor(backbone=TabularMLP(schema, hidden=(64, 64)), epochs=60,
                               **loop).fit(schema.rows(X[sex == 1]), y[sex == 1])
    source.save(tmp_path / "source")
    rows, yt = schema.rows(X[sex == 2]), y[sex == 2]
    order = np.random.default_rng(0).permutation(len(yt))
    val, train, test = order[:6], order[6:30], order[30:]
    maes = {}
    for name, backbone in (("transfer", f"file:{tmp_path / 'source'}"),
                           ("scratch", TabularMLP(schema, hidden=(64, 64)))):
        model = FineTuneRegressor(backbone=backbone, epochs=60, **loop)
        model.fit(rows[train], yt[train], rows[val], yt[val])
        maes[name] = Regression.metrics(yt[test], model.predict(rows[test]))["mae"]
    baseline = float(np.mean(np.abs(yt[test] - yt[train].mean())))  # predict the mean
    assert maes["transfer"] < maes["scratch"]
    assert maes["transfer"] < 0.9 * baseline
