"""partial: freeze=K leaves exactly the first K layer groups unchanged."""

import pytest

from transferkit.errors import TransferkitError
from transferkit.finetune.model import unwrap

from .conftest import changed, fit_model, state_copy


def _group_state(model, group):
    return {f"{i}.{k}": v.detach().clone() for i, m in enumerate(group.modules)
            for k, v in m.state_dict().items()}


def test_freeze_two_leaves_exactly_first_two_groups(tiny_bert, texts):
    from transferkit.backbones import load_backbone
    from transferkit.finetune.model import FineTuneModel

    X, y = texts
    ref = FineTuneModel(load_backbone(tiny_bert), 2)
    before = [_group_state(ref, g) for g in ref.layer_groups()]
    clf = fit_model(tiny_bert, "partial", X, y, strategy_params={"freeze": 2})
    model = unwrap(clf.model_)
    groups = model.layer_groups()
    after = [_group_state(model, g) for g in groups]
    assert [g.name for g in model.layer_groups()][:2] == ["embeddings", "block0"]
    for i, (b, a) in enumerate(zip(before, after, strict=True)):
        if i < 2:
            assert changed(b, a) == set(), f"frozen group {i} changed"
        else:
            assert changed(b, a), f"trainable group {i} did not change"


def test_freeze_larger_than_groups_is_a_clear_error(tiny_bert, texts):
    X, y = texts
    with pytest.raises(TransferkitError, match="freeze=9 but backbone .* has only 3"):
        fit_model(tiny_bert, "partial", X, y, strategy_params={"freeze": 9})


def test_image_backbone_partial(images):
    X, y = images
    clf = fit_model("tiny_cnn_test", "partial", X, y, strategy_params={"freeze": 1},
                    augment=True)
    before = state_copy(__import__("transferkit").backbones.load_backbone("tiny_cnn_test"))
    after = state_copy(unwrap(clf.model_).backbone)
    assert not any(k.startswith("stem.") for k in changed(before, after))
    assert any(k.startswith("block.") for k in changed(before, after))
