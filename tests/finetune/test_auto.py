"""auto: a documented rule from data size and a domain-distance proxy; it says why."""

import numpy as np

from transferkit.backbones import load_backbone
from transferkit.finetune.model import FineTuneModel
from transferkit.finetune.strategies import STRATEGIES, make_strategy
from transferkit.finetune.strategies.auto import domain_distance


def test_auto_prints_choice_and_reason(tiny_bert, texts, capsys):
    X, y = texts
    codes = np.searchsorted(np.unique(y), y)
    model = FineTuneModel(load_backbone(tiny_bert), 2)
    chosen = make_strategy("auto").resolve(model, X, codes)
    out = capsys.readouterr().out
    assert chosen.name in STRATEGIES and chosen.name != "auto"
    assert "strategy auto ->" in out and "domain distance" in out and f"n={len(X)}" in out


def test_domain_distance_is_small_for_separable_features(images):
    from .conftest import TinyCNN

    X, y = images
    codes = np.searchsorted(np.unique(y), y)
    d = domain_distance(FineTuneModel(TinyCNN(), 2), X, codes)
    assert 0.0 <= d <= 1.0
    shuffled = domain_distance(FineTuneModel(TinyCNN(), 2), X, np.random.default_rng(0)
                               .permutation(codes))
    assert d < shuffled
