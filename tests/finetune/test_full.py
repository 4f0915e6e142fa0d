"""finetune: every backbone tensor moves; TransferClassifier delegates; run dir round-trips."""

import numpy as np

from transferkit import TransferClassifier
from transferkit.finetune import FineTuneClassifier
from transferkit.finetune.model import unwrap

from .conftest import changed, fit_model, pretrained_state, state_copy


def test_all_weights_train(tiny_bert, texts):
    X, y = texts
    clf = fit_model(tiny_bert, "finetune", X, y)
    before = pretrained_state(tiny_bert)
    after = state_copy(unwrap(clf.model_).backbone)
    params = {n for n, _ in unwrap(clf.model_).backbone.named_parameters()}
    moved = changed(before, after)
    # everything with a gradient moves (the unused pooler and token-type rows may not)
    assert len(moved & params) >= 0.8 * len(params)
    assert clf.result_.trainable_params == clf.result_.total_params


def test_transfer_classifier_delegates_and_round_trips(tiny_bert, texts, tmp_path):
    X, y = texts
    clf = TransferClassifier(backbone=tiny_bert, strategy="finetune", epochs=2, lr=1e-3,
                             finetune_params={"batch_size": 8}).fit(X, y)
    assert isinstance(clf.finetuned_, FineTuneClassifier)
    clf.save(tmp_path / "run")
    assert (tmp_path / "run" / "backbone.safetensors").is_file()
    loaded = TransferClassifier.load(tmp_path / "run")
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert list(loaded.predict(X)) == list(clf.predict(X))


def test_file_scheme_loads_the_finetuned_backbone(tiny_bert, texts, tmp_path):
    import torch

    from transferkit.backbones import load_backbone

    X, y = texts
    clf = fit_model(tiny_bert, "finetune", X, y, epochs=1)
    clf.save(tmp_path / "run")
    bb = load_backbone(f"file:{tmp_path / 'run'}")
    x = bb.prepare(X[:3])
    with torch.no_grad():
        assert torch.allclose(bb(**x), unwrap(clf.model_).backbone(**x))
