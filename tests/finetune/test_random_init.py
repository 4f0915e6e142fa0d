"""init="random": the from-scratch baseline trains the same architecture from random weights;
``fit --strategy`` reports it beside the transfer row."""

import numpy as np
import torch

from transferkit.backbones import load_backbone
from transferkit.backbones.base import reinitialize
from transferkit.cli import main
from transferkit.run import load_run

from .conftest import fit_model


def test_reinitialize_changes_every_layer_and_is_seeded(tiny_bert):
    pretrained = load_backbone(tiny_bert).state_dict()
    a = reinitialize(load_backbone(tiny_bert), seed=3).state_dict()
    b = reinitialize(load_backbone(tiny_bert), seed=3).state_dict()
    weights = [k for k, v in pretrained.items() if v.ndim == 2 and "embeddings" not in k]
    assert weights
    for k in weights:
        assert not torch.equal(a[k], pretrained[k]), k
        torch.testing.assert_close(a[k], b[k])


def test_random_init_run_saves_its_whole_backbone(tiny_bert, texts, tmp_path):
    X, y = texts
    clf = fit_model(tiny_bert, "bitfit", X, y, init="random")
    clf.save(tmp_path / "run")
    assert (tmp_path / "run" / "backbone.safetensors").is_file()  # frozen parts are random
    np.testing.assert_allclose(load_run(tmp_path / "run").predict_proba(X),
                               clf.predict_proba(X), atol=1e-6)


def test_fit_with_a_strategy_reports_the_random_init_baseline(tiny_bert, texts, tmp_path,
                                                              capsys):
    import csv

    X, y = texts
    path = tmp_path / "reviews.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([["text", "label"], *zip(X * 2, list(y) * 2, strict=True)])
    assert main(["--quiet", "fit", str(path), "--out", str(tmp_path / "run"), "--backbone",
                 tiny_bert, "--strategy", "finetune", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "from scratch (same architecture, random init" in out
