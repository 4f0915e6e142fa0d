"""The shared loop: schedule, validation-only selection, early stopping, bf16, checkpoints,
augmentation, forkserver workers."""

import numpy as np
import pytest
import torch

from transferkit.backbones import Preprocessing
from transferkit.errors import TransferkitError
from transferkit.finetune import FineTuneModel, TrainConfig, Trainer
from transferkit.finetune.augment import make_augment
from transferkit.finetune.loop import warmup_cosine

from .conftest import TinyCNN


def _data(images):
    X, y = images
    return X, (y == "stripes").astype(int)


def test_warmup_then_cosine():
    f = warmup_cosine(100, 0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(55) == pytest.approx(0.5, abs=0.02)
    assert f(99) < 0.01
    assert all(f(i) >= f(i + 1) for i in range(10, 99))


def test_best_epoch_is_chosen_on_validation_and_restored(images):
    X, c = _data(images)
    tr, va = np.arange(0, 40, 2), np.arange(1, 40, 2)
    trainer = Trainer(FineTuneModel(TinyCNN(), 2), "finetune",
                      TrainConfig(epochs=4, batch_size=8, lr=1e-2, augment=False))
    result = trainer.fit(X[tr], c[tr], X[va], c[va])
    keys = [(h["val_accuracy"], -h["val_loss"]) for h in result.history]
    assert result.best_epoch == int(np.argmax([k[0] * 1e6 + k[1] for k in keys]))
    now = trainer.evaluate(X[va], c[va])
    assert now["val_loss"] == pytest.approx(result.history[result.best_epoch]["val_loss"])


def test_early_stopping_with_patience(images):
    X, c = _data(images)
    cfg = TrainConfig(epochs=6, batch_size=8, lr=0.0, head_lr=0.0, patience=2, augment=False,
                      bn="eval")
    result = Trainer(FineTuneModel(TinyCNN(), 2), "finetune", cfg).fit(X[:30], c[:30],
                                                                        X[30:], c[30:])
    assert result.stopped_early and len(result.history) == 3 and result.best_epoch == 0


def test_bf16_autocast_on_cpu(images):
    X, c = _data(images)
    cfg = TrainConfig(epochs=1, batch_size=8, precision="bf16", augment=False)
    result = Trainer(FineTuneModel(TinyCNN(), 2), "bitfit", cfg).fit(X, c)
    assert np.isfinite(result.history[0]["train_loss"])


def test_checkpoint_files_and_safe_optimizer_state(images, tmp_path):
    X, c = _data(images)
    cfg = TrainConfig(epochs=2, batch_size=8, augment=False)
    Trainer(FineTuneModel(TinyCNN(), 2), "finetune", cfg, checkpoint_dir=tmp_path / "ck").fit(
        X[:30], c[:30], X[30:], c[30:])
    files = {p.name for p in (tmp_path / "ck").iterdir()}
    assert {"model.safetensors", "best.safetensors", "optimizer.pt", "rng.safetensors",
            "state.json"} <= files
    state = torch.load(tmp_path / "ck" / "optimizer.pt", weights_only=True)
    assert state["state"] and state["param_groups"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_resume_rejects_another_strategy(images, tmp_path):
    X, c = _data(images)
    cfg = TrainConfig(epochs=1, batch_size=8, augment=False)
    Trainer(FineTuneModel(TinyCNN(), 2), "finetune", cfg, checkpoint_dir=tmp_path).fit(X, c)
    with pytest.raises(TransferkitError, match="trained with finetune"):
        Trainer(FineTuneModel(TinyCNN(), 2), "bitfit", cfg, checkpoint_dir=tmp_path).fit(
            X, c, resume=True)


def test_kornia_augmentation():
    pre = Preprocessing(modality="image", image_size=16, mean=(0.5,) * 3, std=(0.5,) * 3)
    aug = make_augment(True, pre)
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    torch.manual_seed(0)
    out = aug(x)
    assert out.shape == x.shape and not torch.equal(out, x)
    assert out.min() >= -1.0 - 1e-5 and out.max() <= 1.0 + 1e-5
    assert make_augment(False, pre) is None
    assert make_augment(True, Preprocessing(modality="text")) is None


def test_forkserver_workers(tiny_vit):
    from transferkit.backbones import load_backbone

    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, size=(8, 32, 32, 3)).astype(np.uint8)
    c = np.array([0, 1] * 4)
    cfg = TrainConfig(epochs=1, batch_size=4, num_workers=1)  # augmentation on (kornia)
    result = Trainer(FineTuneModel(load_backbone(tiny_vit), 2), "finetune", cfg).fit(X, c)
    assert np.isfinite(result.history[0]["train_loss"])


def test_bad_settings_are_clear_errors():
    with pytest.raises(TransferkitError, match="precision"):
        TrainConfig(precision="fp8").check()
    with pytest.raises(TransferkitError, match="unknown strategy 'nope'"):
        Trainer(FineTuneModel(TinyCNN(), 2), "nope")


def test_an_early_best_epoch_of_gradual_restores_layers_opened_later(images):
    """gradual opens one group per epoch: when the first epoch is the best, the groups
    opened afterwards must come back as they were then (untrained), not as trained later."""
    from transferkit.finetune.callbacks import LabelFreeSelection

    X, c = _data(images)
    states = []

    def first_epoch_best(module):
        states.append({k: v.detach().clone() for k, v in module.state_dict().items()})
        return {"selection_score": -float(len(states))}

    model = FineTuneModel(TinyCNN(), 2)
    cfg = TrainConfig(epochs=3, batch_size=8, lr=1e-2, augment=False)
    result = Trainer(model, "gradual", cfg,
                     callbacks=[LabelFreeSelection(first_epoch_best)]).fit(X, c)
    assert result.best_epoch == 0
    final = model.state_dict()
    assert any(not torch.equal(states[0][k], states[2][k]) for k in final
               if k.startswith("backbone.last"))  # the later epochs did train "last"
    assert all(torch.equal(final[k], states[0][k]) for k in final), \
        [k for k in final if not torch.equal(final[k], states[0][k])]


def test_a_diverging_run_stops_with_one_line(images):
    X, c = _data(images)
    cfg = TrainConfig(epochs=2, batch_size=8, lr=1e9, head_lr=1e9, augment=False,
                      grad_clip=0)
    with pytest.raises(TransferkitError, match="diverged") as info:
        Trainer(FineTuneModel(TinyCNN(), 2), "finetune", cfg).fit(X, c)
    assert "lower the learning rate" in str(info.value) and "\n" not in str(info.value)


def test_a_checkpoint_resumes_only_on_the_data_it_was_trained_on(images, tmp_path):
    """e.g. a checkpoint folder reused across cross-validation folds must not hand fold 2
    the model of fold 1 (trained on fold 2's test rows)."""
    X, c = _data(images)
    cfg = TrainConfig(epochs=1, batch_size=8, augment=False)
    Trainer(FineTuneModel(TinyCNN(), 2), "finetune", cfg, checkpoint_dir=tmp_path / "ck").fit(
        X[:30], c[:30])
    with pytest.raises(TransferkitError, match="trained on other data"):
        Trainer(FineTuneModel(TinyCNN(), 2), "finetune", cfg,
                checkpoint_dir=tmp_path / "ck").fit(X[10:40], c[10:40], resume=True)
    again = Trainer(FineTuneModel(TinyCNN(), 2), "finetune", cfg,
                    checkpoint_dir=tmp_path / "ck").fit(X[:30], c[:30], resume=True)
    assert again.resumed_from == 1


@pytest.mark.parametrize("settings, message", [
    ({"lr": -1.0}, "lr must be a finite number >= 0"),
    ({"head_lr": float("nan")}, "head_lr must be a finite number >= 0"),
    ({"weight_decay": -0.1}, "weight_decay must be >= 0"),
])
def test_bad_rates_are_one_line(settings, message):
    with pytest.raises(TransferkitError, match=message):
        TrainConfig(**settings).check()
    TrainConfig(lr=None).check()  # None: the strategy's default rate


def test_verbose_epoch_lines_go_to_stderr_counted_from_one(images, capsys):
    X, c = _data(images)
    cfg = TrainConfig(epochs=2, batch_size=8, lr=1e-3, augment=False, verbose=True, desc="mine")
    Trainer(FineTuneModel(TinyCNN(), 2), "finetune", cfg).fit(X[:16], c[:16], X[16:24], c[16:24])
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("  mine epoch ")]
    assert [line.split()[2] for line in lines] == ["1/2", "2/2"], captured.err
    assert "val_accuracy=" in lines[0] and "epoch=" not in captured.err + captured.out
