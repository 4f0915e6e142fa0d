"""linear-probe through the loop: the backbone is bit-identical, only the head trains."""

from transferkit.finetune.model import unwrap

from .conftest import changed, fit_model, pretrained_state, state_copy


def test_backbone_untouched_head_trains(tiny_bert, texts):
    X, y = texts
    clf = fit_model(tiny_bert, "linear-probe", X, y)
    model = unwrap(clf.model_)
    assert changed(pretrained_state(tiny_bert), state_copy(model.backbone)) == set()
    assert clf.result_.trainable_params == model.head.weight.numel() + model.head.bias.numel()
    assert clf.predict_proba(X).shape == (len(X), 2)


def test_transfer_classifier_default_stays_cached_path(tiny_bert, texts, isolated_cache):
    from transferkit import TransferClassifier

    X, y = texts
    clf = TransferClassifier(backbone=tiny_bert).fit(X, y)
    assert not hasattr(clf, "finetuned_") and clf.strategy == "linear-probe"
