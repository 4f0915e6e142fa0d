"""BatchNorm semantics: frozen groups keep eval-mode BN (running stats untouched) unless
``bn="train"``."""

import pytest
import torch

from transferkit.finetune import FineTuneModel, TrainConfig, Trainer

from .conftest import TinyCNN


def _train(images, bn):
    X, y = images
    codes = (y == "stripes").astype(int)
    torch.manual_seed(0)
    model = FineTuneModel(TinyCNN(), 2)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items() if "running" in k}
    cfg = TrainConfig(epochs=1, batch_size=8, lr=1e-2, bn=bn, augment=False)
    Trainer(model, "partial", cfg).fit(X, codes)
    after = model.backbone.state_dict()
    return {k for k in before if not torch.equal(before[k], after[k])}, model


@pytest.mark.parametrize("bn", ["auto", "train"])
def test_frozen_group_bn_statistics(images, bn):
    moved, model = _train(images, bn)
    # partial(freeze=1): the stem is frozen, block and last train
    assert {"block.1.running_mean", "last.1.running_mean"} <= moved
    if bn == "auto":
        assert not any(k.startswith("stem.") for k in moved)
    else:
        assert "stem.1.running_mean" in moved
    assert not model.backbone.stem[0].weight.requires_grad


def test_bn_eval_everywhere(images):
    moved, _ = _train(images, "eval")
    assert moved == set()


def test_linear_probe_with_bn_train_saves_its_statistics(images, tmp_path):
    import numpy as np

    from transferkit.finetune import FineTuneClassifier
    from transferkit.run import load_run

    X, y = images
    clf = FineTuneClassifier(backbone="tiny_cnn_test", strategy="linear-probe", bn="train",
                             epochs=2, batch_size=8, augment=False).fit(X, y)
    clf.save(tmp_path / "run")
    np.testing.assert_allclose(load_run(tmp_path / "run").predict_proba(X),
                               clf.predict_proba(X), atol=1e-6)
