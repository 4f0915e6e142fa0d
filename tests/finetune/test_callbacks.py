"""Each of the loop's callbacks on its own: what it adds to the record, what it decides,
what it shows. (Checkpointing and resume: test_loop.py, test_resume.py, test_cli.py.)"""

import io
from contextlib import redirect_stderr

import numpy as np
import pytest
import torch

from transferkit.errors import TransferkitError
from transferkit.finetune import FineTuneModel, TrainConfig, Trainer
from transferkit.finetune.callbacks import (
    BestEpoch,
    Callback,
    EpochLines,
    LabelFreeSelection,
    Monitor,
    ProgressBar,
    StepHook,
    TrainState,
    ValidationScore,
)
from transferkit.progress import progress_bars

from .conftest import TinyCNN


def _data(images):
    X, y = images
    return X, (y == "stripes").astype(int)


def _trainer(epochs=2, callbacks=(), **config):
    cfg = TrainConfig(epochs=epochs, batch_size=8, lr=1e-3, augment=False, **config)
    return Trainer(FineTuneModel(TinyCNN(), 2), "finetune", cfg, callbacks=callbacks)


class Recorder(Callback):
    """Records the events, in order."""

    def __init__(self):
        self.events = []

    def on_train_begin(self, trainer, state):
        self.events.append("train_begin")

    def on_epoch_begin(self, trainer, state, epoch, opened):
        self.events.append(f"epoch_begin {epoch} ({len(opened)} opened)")

    def on_step_end(self, trainer, state, epoch, step, loss):
        self.events.append("step")

    def on_epoch_end(self, trainer, state, epoch, record):
        self.events.append(f"epoch_end {epoch} {sorted(record)}")

    def on_train_end(self, trainer, state):
        self.events.append("train_end")


def test_events_arrive_in_order_with_the_record(images):
    X, c = _data(images)
    recorder = Recorder()
    _trainer(callbacks=[recorder], max_steps_per_epoch=2).fit(X[:24], c[:24])
    n_params = sum(1 for _ in FineTuneModel(TinyCNN(), 2).parameters())
    assert recorder.events == [
        "train_begin", f"epoch_begin 0 ({n_params} opened)", "step", "step",
        "epoch_end 0 ['epoch', 'lr', 'train_loss']", "epoch_begin 1 (0 opened)", "step",
        "step", "epoch_end 1 ['epoch', 'lr', 'train_loss']", "train_end"]


def test_validation_score_adds_the_task_metrics_and_the_key(images):
    X, c = _data(images)
    trainer = _trainer(epochs=1)
    trainer.setup(X[:16], c[:16])
    state, record = TrainState(), {}
    ValidationScore(X[16:32], c[16:32]).on_epoch_end(trainer, state, 0, record)
    assert set(record) == {"val_loss", "val_accuracy"}
    assert state.score == (record["val_accuracy"], -record["val_loss"])


def test_label_free_selection_scores_and_refuses_a_non_finite_score(images):
    X, c = _data(images)
    trainer = _trainer(epochs=1)
    state, record = TrainState(), {}
    LabelFreeSelection(lambda module: {"selection_score": 0.25}).on_epoch_end(
        trainer, state, 0, record)
    assert record == {"selection_score": 0.25} and state.score == (0.25,)
    with pytest.raises(TransferkitError, match="score is nan at epoch 3"):
        LabelFreeSelection(lambda module: {"selection_score": float("nan")}).on_epoch_end(
            trainer, state, 2, {})


def test_a_monitor_reports_without_selecting(images):
    X, c = _data(images)
    calls = []
    monitor = Monitor(lambda module: calls.append(1) or {"oracle": float(len(calls))})
    result = _trainer(epochs=3, callbacks=[monitor]).fit(X[:16], c[:16])
    assert [h["oracle"] for h in result.history] == [1.0, 2.0, 3.0]
    assert result.best_epoch == 2  # nothing scores: the last epoch, whatever the monitor says


def test_best_epoch_keeps_the_best_weights_and_stops_after_patience(images):
    X, c = _data(images)
    scores = iter([0.9, 0.5, 0.4, 0.95])
    snapshots = []

    def selector(module):
        snapshots.append({k: v.clone() for k, v in module.state_dict().items()})
        return {"selection_score": next(scores)}

    trainer = _trainer(epochs=4, patience=2, callbacks=[LabelFreeSelection(selector)])
    result = trainer.fit(X[:16], c[:16])
    assert result.best_epoch == 0 and result.stopped_early and len(result.history) == 3
    final = trainer.module.state_dict()
    assert all(torch.equal(final[k], snapshots[0][k]) for k in final)


def test_best_epoch_without_a_score_keeps_the_last_epoch():
    state = TrainState()
    best = BestEpoch()
    for epoch in range(3):
        best.on_epoch_end(None, state, epoch, {"epoch": epoch})
    assert state.best_epoch == 2 and state.best_weights is None and len(state.history) == 3


def test_the_progress_bar_follows_quiet_and_the_environment(images, monkeypatch):
    X, c = _data(images)
    for show, visible in ((True, True), (False, False)):
        err = io.StringIO()
        with progress_bars(show), redirect_stderr(err):
            _trainer(epochs=1, desc="mine").fit(X[:16], c[:16])
        assert ("mine epoch 1/1" in err.getvalue()) is visible, err.getvalue()
    monkeypatch.setenv("TRANSFERKIT_NO_PROGRESS", "1")
    err = io.StringIO()
    with redirect_stderr(err):
        _trainer(epochs=1, desc="mine").fit(X[:16], c[:16])
    assert "mine epoch" not in err.getvalue()


def test_epoch_lines_print_the_record_to_stderr(images, capsys):
    X, c = _data(images)
    trainer = _trainer(epochs=1, desc="mine")
    EpochLines().on_epoch_end(trainer, TrainState(), 0, {"epoch": 0, "train_loss": 0.5,
                                                        "note": "x"})
    assert capsys.readouterr().err == "  mine epoch 1/1  train_loss=0.5  note=x\n"


def test_the_step_hook_is_called_after_every_step(images):
    X, c = _data(images)
    steps = []
    _trainer(epochs=2, callbacks=[StepHook(lambda e, s: steps.append((e, s)))]).fit(
        X[:24], c[:24])
    assert steps == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]


def test_progress_bar_is_a_callback_of_every_run(images):
    trainer = _trainer(epochs=1)
    names = [type(cb).__name__ for cb in trainer.callbacks_for(None, None, False, None)]
    assert names == ["BestEpoch", "ProgressBar"]
    assert isinstance(trainer.callbacks_for(np.zeros((2, 16, 16, 3), np.uint8), np.array([0, 1]),
                                            False, None)[0], ValidationScore)
    assert ProgressBar in {type(cb) for cb in trainer.callbacks_for(None, None, False, None)}
