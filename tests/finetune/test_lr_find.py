"""lr_find: the range test works on a copy, records the strategy's own LR, survives the
divergence it provokes, and resolves ``auto``."""

import numpy as np
import pytest
import torch

from transferkit.finetune import FineTuneModel, TrainConfig
from transferkit.finetune.lr_find import lr_find

from .conftest import TinyCNN


def _data(images):
    X, y = images
    return X, (y == "stripes").astype(int)


@pytest.mark.parametrize("strategy", ["finetune", "gradual", "auto"])
def test_the_given_model_is_left_as_it_was(images, strategy):
    X, c = _data(images)
    model = FineTuneModel(TinyCNN(), 2).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    result = lr_find(model, strategy, X, c, TrainConfig(batch_size=8, augment=False),
                     start=1e-5, end=10.0, steps=12)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert [p.requires_grad for p in model.parameters()] == flags and not model.training
    assert result.lrs[0] == pytest.approx(1e-5)  # the top group's LR, not gradual's lowest
    assert np.all(np.diff(result.lrs) > 0) and result.lrs[0] <= result.suggestion


def test_a_sweep_into_divergence_ends_instead_of_failing(images):
    X, c = _data(images)
    result = lr_find(FineTuneModel(TinyCNN(), 2), "finetune", X, c,
                     TrainConfig(batch_size=8, augment=False, grad_clip=0), start=1e-3,
                     end=1e12, steps=30)
    assert 1 <= len(result.lrs) <= 30 and np.isfinite(result.suggestion)
