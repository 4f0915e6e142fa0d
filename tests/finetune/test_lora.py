"""lora (peft): base weights frozen, adapter + head saved together, reload predicts identically."""

import numpy as np
import pytest

from transferkit.errors import TransferkitError
from transferkit.finetune import FineTuneClassifier
from transferkit.finetune.strategies.lora import find_lora_targets
from transferkit.run import load_run

from .conftest import fit_model


def test_targets_are_attention_projections(tiny_bert):
    from transferkit.backbones import load_backbone
    from transferkit.finetune.model import FineTuneModel

    targets = find_lora_targets(FineTuneModel(load_backbone(tiny_bert), 2))
    assert targets and {t.split(".")[-1] for t in targets} == {"query", "key", "value"}


def test_saved_lora_run_reloads_and_predicts_identically(tiny_bert, texts, tmp_path):
    X, y = texts
    clf = fit_model(tiny_bert, "lora", X, y)
    trainable, total = clf.result_.trainable_params, clf.result_.total_params
    assert 0 < trainable < total / 2
    clf.save(tmp_path / "run")
    files = {p.name for p in (tmp_path / "run").iterdir()}
    assert "adapter.safetensors" in files and "backbone.safetensors" not in files
    loaded = load_run(tmp_path / "run")
    assert isinstance(loaded, FineTuneClassifier)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    # the head really is restored from the adapter file (not a fresh random head)
    fresh = FineTuneClassifier(backbone=tiny_bert, strategy="lora", random_state=1)
    assert fresh.random_state != clf.random_state


def test_lora_without_linear_layers_is_a_clear_error(images):
    X, y = images
    with pytest.raises(TransferkitError, match="LoRA found no Linear or attention layers"):
        fit_model("tiny_cnn_test", "lora", X, y)


def test_file_backbone_of_a_lora_run_has_the_adapter_merged(tiny_bert, texts, tmp_path):
    import torch

    from transferkit.backbones import load_backbone

    X, y = texts
    clf = fit_model(tiny_bert, "lora", X, y)
    clf.save(tmp_path / "run")
    merged = load_backbone(f"file:{tmp_path / 'run'}")
    base = load_backbone(tiny_bert)
    inputs = base.prepare(X[:4])
    with torch.no_grad():
        tuned = clf.model_.eval()(return_features=True, **inputs)[0]
        got, plain = merged(**inputs), base(**inputs)
    torch.testing.assert_close(got, tuned, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(got, plain, atol=1e-5)  # the adapter really changed features


def test_a_lora_run_as_a_file_backbone_has_its_own_fingerprint_and_reloads(tiny_bert, texts,
                                                                          tmp_path):
    from transferkit import TransferClassifier
    from transferkit.backbones import load_backbone
    from transferkit.run import load_run

    X, y = texts
    fit_model(tiny_bert, "lora", X, y).save(tmp_path / "run")
    merged = load_backbone(f"file:{tmp_path / 'run'}")
    # the feature cache and the ONNX export are keyed by fingerprint: a merged adapter must
    # not share the base model's
    assert merged.fingerprint() != load_backbone(tiny_bert).fingerprint()
    assert merged.describe()["name"] == f"file:{(tmp_path / 'run').resolve()}"
    clf = TransferClassifier(backbone=f"file:{tmp_path / 'run'}", engine="torch",
                             cache=False).fit(X, y)
    clf.save(tmp_path / "on_file")
    np.testing.assert_allclose(load_run(tmp_path / "on_file").predict_proba(X),
                               clf.predict_proba(X), atol=1e-6)


def test_fine_tuned_backbone_changes_its_fingerprint(tiny_bert, texts):
    from transferkit.backbones import load_backbone

    X, y = texts
    clf = fit_model(tiny_bert, "finetune", X, y, epochs=1)
    assert clf.backbone_.fingerprint() != load_backbone(tiny_bert).fingerprint()
    assert clf.base_fingerprint_ == load_backbone(tiny_bert).fingerprint()


def test_lora_on_a_random_init_reloads_identically(tiny_bert, texts, tmp_path):
    X, y = texts
    clf = fit_model(tiny_bert, "lora", X, y, epochs=1, init="random")
    assert clf.backbone_changed()
    clf.save(tmp_path / "run")
    np.testing.assert_allclose(load_run(tmp_path / "run").predict_proba(X),
                               clf.predict_proba(X), atol=1e-6)


def test_lora_with_bn_train_saves_the_batchnorm_statistics(images, tmp_path):
    import torch
    from torch import nn

    from transferkit.backbones import BackboneInfo, register_backbone

    from .conftest import TinyCNN

    class TinyCNNLinear(TinyCNN):  # BatchNorm (statistics) + a Linear layer (LoRA target)
        name = "tiny_cnn_linear_test"

        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(8, 8)

        def forward(self, pixel_values):
            return self.proj(super().forward(pixel_values))

    @register_backbone(BackboneInfo("tiny_cnn_linear_test", "image", "test only"))
    def _make():
        torch.manual_seed(0)
        return TinyCNNLinear()

    X, y = images
    clf = fit_model("tiny_cnn_linear_test", "lora", X, y, epochs=1, bn="train",
                    strategy_params={"target_modules": ["proj"]})
    clf.save(tmp_path / "run")
    assert (tmp_path / "run" / "buffers.safetensors").is_file()
    np.testing.assert_allclose(load_run(tmp_path / "run").predict_proba(X),
                               clf.predict_proba(X), atol=1e-6)
