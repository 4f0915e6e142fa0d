"""bitfit: only bias terms (and the head) change; every other tensor is bit-identical."""

from transferkit.finetune.model import unwrap

from .conftest import changed, fit_model, pretrained_state, state_copy


def test_only_biases_change(tiny_bert, texts):
    X, y = texts
    clf = fit_model(tiny_bert, "bitfit", X, y)
    moved = changed(pretrained_state(tiny_bert), state_copy(unwrap(clf.model_).backbone))
    assert moved, "no bias moved"
    assert all(k.endswith(".bias") for k in moved), sorted(moved)
    n_bias = sum(p.numel() for n, p in unwrap(clf.model_).backbone.named_parameters()
                 if n.endswith("bias"))
    head = unwrap(clf.model_).head
    assert clf.result_.trainable_params == n_bias + head.weight.numel() + head.bias.numel()


def test_bitfit_keeps_bn_statistics(images):
    X, y = images
    clf = fit_model("tiny_cnn_test", "bitfit", X, y)
    moved = changed(pretrained_state("tiny_cnn_test"), state_copy(unwrap(clf.model_).backbone))
    assert moved and all(k.endswith(".bias") for k in moved), sorted(moved)
