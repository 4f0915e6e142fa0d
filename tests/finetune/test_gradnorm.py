"""GradNorm loss weighting (Chen et al. 2018) in the one loop: the weights balance the
tasks' gradient norms, sum to the number of tasks, are saved with the run and reloaded,
and survive a resume."""

import numpy as np
import pytest
import torch
from tiny_models import make_squares

from transferkit.errors import TransferkitError
from transferkit.finetune import FineTuneClassifier, FineTuneModel, TrainConfig, Trainer
from transferkit.finetune.objectives import Supervised
from transferkit.runformat import load_run
from transferkit.tasks import Classification, MultiTask, task_from_dict

from .conftest import TinyCNN


class Scaled(Classification):
    """Classification whose loss is multiplied by ``factor`` (an up-scaled task)."""

    def __init__(self, factor: float):
        self.factor = factor

    def loss(self, outputs, targets):
        return self.factor * super().loss(outputs, targets)


def _train(task, X, T, epochs=3, **config):
    cfg = TrainConfig(epochs=epochs, batch_size=16, lr=3e-3, head_lr=3e-2, augment=False,
                      **config)
    trainer = Trainer(FineTuneModel(TinyCNN(), task.out_features), "finetune", cfg,
                      objective=Supervised(task))
    return trainer, trainer.fit(X[:120], T[:120], X[120:], T[120:])


def test_the_up_scaled_task_loses_weight_and_the_weights_sum_to_the_task_count():
    X, Y = make_squares(160)
    # the same target twice; the second task's loss is 10 times larger
    task = MultiTask([("plain", Classification()), ("loud", Scaled(10.0))],
                     weighting="gradnorm").fit({"plain": Y[:, 0], "loud": Y[:, 0]})
    T = task.encode({"plain": Y[:, 0], "loud": Y[:, 0]})
    _, result = _train(task, X, T)
    weights = task.task_weights()
    assert sum(weights.values()) == pytest.approx(2.0, abs=1e-5)
    assert weights["loud"] < 0.5 < 1.5 < weights["plain"], weights  # from 1 and 1
    # the weighted gradient norms end up closer than the raw ones (10x apart)
    assert task.initial_losses is not None and len(result.history) == 3


def test_equal_scales_leave_the_weights_near_one():
    X, Y = make_squares(160)
    y = {"a": Y[:, 0], "b": Y[:, 1]}
    task = MultiTask({"a": "classification", "b": "classification"},
                     weighting="gradnorm").fit(y)
    _train(task, X, task.encode(y), epochs=2)
    weights = task.task_weights()
    assert sum(weights.values()) == pytest.approx(2.0, abs=1e-5)
    assert all(0.5 < w < 1.5 for w in weights.values()), weights


def test_gradnorm_weights_are_saved_with_the_run_and_reloaded(tmp_path):
    X, Y = make_squares(160)
    targets = {"tl": np.where(Y[:, 0] == 1, "yes", "no"),
               "bright": X.reshape(len(X), -1).mean(axis=1) / 10.0}
    clf = FineTuneClassifier(backbone="tiny_cnn_test", task="multitask",
                             task_params={"tasks": {"tl": "classification",
                                                    "bright": "regression"},
                                          "weighting": "gradnorm", "alpha": 1.0},
                             epochs=2, batch_size=16, lr=3e-3, head_lr=3e-2, augment=False)
    clf.fit(X[:120], {k: v[:120] for k, v in targets.items()})
    weights = clf.task_.task_weights()
    assert all(w != 1.0 for w in weights.values()) and sum(weights.values()) == pytest.approx(2)
    clf.save(tmp_path / "run")
    again = load_run(tmp_path / "run")
    assert again.task_.weighting == "gradnorm" and again.task_.alpha == 1.0
    assert again.task_.task_weights() == pytest.approx(weights)
    assert np.allclose(again.predict_proba(X[120:]), clf.predict_proba(X[120:]))
    rebuilt = task_from_dict(clf.task_.to_dict())
    assert torch.equal(rebuilt.initial_losses, clf.task_.initial_losses)


def test_resume_restores_the_learnt_weights(tmp_path):
    X, Y = make_squares(160)
    y = {"a": Y[:, 0], "b": Y[:, 1]}

    def task():
        return MultiTask({"a": "classification", "b": "classification"},
                         weighting="gradnorm").fit(y)

    full = task()
    _train(full, X, full.encode(y), epochs=2)
    first = task()
    cfg = TrainConfig(epochs=2, batch_size=16, lr=3e-3, head_lr=3e-2, augment=False)
    trainer = Trainer(FineTuneModel(TinyCNN(), first.out_features), "finetune", cfg,
                      checkpoint_dir=tmp_path / "ckpt", objective=Supervised(first))
    trainer.fit(X[:120], first.encode(y)[:120], X[120:], first.encode(y)[120:])
    resumed = task()  # weights 1, 1: the checkpoint must put back the learnt ones
    trainer = Trainer(FineTuneModel(TinyCNN(), resumed.out_features), "finetune", cfg,
                      checkpoint_dir=tmp_path / "ckpt", objective=Supervised(resumed))
    trainer.fit(X[:120], resumed.encode(y)[:120], X[120:], resumed.encode(y)[120:],
                resume=True)
    assert resumed.task_weights() == pytest.approx(first.task_weights())
    assert resumed.task_weights() == pytest.approx(full.task_weights(), abs=1e-4)


@pytest.mark.parametrize("params, message", [
    ({"weighting": "sometimes"}, "unknown loss weighting 'sometimes'"),
    ({"weighting": "gradnorm", "alpha": -1}, "alpha must be a number >= 0"),
])
def test_bad_weighting_options_are_one_line(params, message):
    with pytest.raises(TransferkitError, match=message):
        MultiTask({"a": "classification"}, **params)
