"""gradual: head first, then one more group per epoch from the top, lower LR for earlier
groups."""

from transferkit.backbones import load_backbone
from transferkit.finetune.model import FineTuneModel
from transferkit.finetune.strategies import make_strategy

from .conftest import changed, fit_model, pretrained_state, state_copy


def test_unfreezes_from_the_top_one_group_per_epoch(tiny_bert):
    model = FineTuneModel(load_backbone(tiny_bert), 2)
    s = make_strategy("gradual")
    s.apply(model)
    groups = model.layer_groups()

    def open_groups():
        return [all(p.requires_grad for p in g.parameters()) for g in groups]

    assert [g.name for g in groups] == ["embeddings", "block0", "block1"]  # pooler in block1
    s.on_epoch_start(model, 0)
    assert open_groups() == [False, False, False]
    s.on_epoch_start(model, 1)
    assert open_groups() == [False, False, True]
    s.on_epoch_start(model, 2)
    assert open_groups() == [False, True, True]
    assert all(p.requires_grad for p in model.head.parameters())


def test_discriminative_learning_rates(tiny_bert):
    model = FineTuneModel(load_backbone(tiny_bert), 2)
    s = make_strategy("gradual", decay=0.5)
    s.apply(model)
    lrs = [g["lr"] for g in s.param_groups(model, lr=1.0, head_lr=10.0)]
    backbone_lrs = sorted(set(lrs) - {10.0})
    assert backbone_lrs == [0.25, 0.5, 1.0]  # 3 groups: input side slowest


def test_training_moves_only_the_unfrozen_top_groups(tiny_bert, texts):
    X, y = texts
    # epoch 0: head; 1: + block1 (the top block: its first unfreezing trains a real block)
    # no validation split: the last epoch is kept (an earlier best epoch would restore the
    # groups opened after it to their untrained values)
    clf = fit_model(tiny_bert, "gradual", X, y, epochs=2, validation_fraction=0)
    moved = changed(pretrained_state(tiny_bert), state_copy(clf.backbone_))
    assert any(k.startswith("model.encoder.layer.1.") for k in moved), sorted(moved)
    assert not any(k.startswith(("model.embeddings", "model.encoder.layer.0.")) for k in moved)
