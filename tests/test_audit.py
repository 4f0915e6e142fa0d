"""``transferkit audit``: confident learning (cleanlab) on out-of-fold probabilities flags
wrong labels; its files; its one-line errors; ``fit --drop-flagged``."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest

from transferkit.audit import audit_labels, flag_label_issues, read_flagged
from transferkit.cli import main
from transferkit.data.dataset import Dataset
from transferkit.errors import TransferkitError


def flipped(y: np.ndarray, share: float, n_classes: int, seed: int = 0):
    """``y`` with ``share`` of its labels moved (seeded) uniformly to another class, and the
    positions moved."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(y), int(round(share * len(y))), replace=False)
    noisy = y.copy()
    noisy[idx] = (y[idx] + rng.integers(1, n_classes, len(idx))) % n_classes
    return noisy, idx


def blobs(n_per_class: int = 100, n_classes: int = 4, dim: int = 10, seed: int = 0):
    """Separable Gaussian blobs ``(n_classes * n_per_class, dim)`` and their classes."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (n_classes, dim))
    y = np.repeat(np.arange(n_classes), n_per_class)
    return centres[y] + rng.normal(0, 1, (len(y), dim)), y


def digit_images(n_per_class: int = 40, seed: int = 0):
    """Three classes of 16x16 grey images (a bright square top-left, one bottom-right, a
    vertical bar) ``(3 * n_per_class, 16, 16)`` uint8 and their classes."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1, 2], n_per_class)
    X = rng.integers(0, 60, (len(y), 16, 16)).astype(np.uint8)
    X[y == 0, 2:8, 2:8] = 250
    X[y == 1, 8:14, 8:14] = 250
    X[y == 2, :, 7:9] = 250
    return X, y


def precision_recall(found: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    hit = len(set(found.tolist()) & set(truth.tolist()))
    return hit / max(len(found), 1), hit / len(truth)


def test_flipped_labels_are_found_with_precision_and_recall_above_0_7():
    X, y = blobs()
    noisy, idx = flipped(y, 0.1, 4)
    result = flag_label_issues(X, noisy, folds=5, seed=0)
    precision, recall = precision_recall(result.indices, idx)
    assert precision >= 0.7 and recall >= 0.7, (precision, recall)
    assert result.n_samples == len(y) and result.pred_probs.shape == (len(y), 4)
    assert np.all(np.diff(result.scores) >= 0)  # lowest label quality first
    assert np.array_equal(result.given, noisy[result.indices])
    # the suggested class is the one the flipped examples truly belong to, mostly
    true_hits = np.isin(result.indices, idx)
    assert (result.suggested[true_hits] == y[result.indices[true_hits]]).mean() >= 0.9
    again = flag_label_issues(X, noisy, folds=5, seed=0)
    assert np.array_equal(again.indices, result.indices)  # seeded


def test_string_labels_and_a_sparse_matrix_work():
    from scipy.sparse import csr_matrix

    X, y = blobs(n_classes=2, dim=6)
    noisy, idx = flipped(y, 0.1, 2)
    names = np.array(["ham", "spam"])[noisy]
    result = flag_label_issues(csr_matrix(np.abs(X)), names, folds=3, seed=1)
    assert set(result.given) <= {"ham", "spam"} and list(result.classes) == ["ham", "spam"]


@pytest.mark.parametrize("labels, folds, message", [
    (np.zeros(20, dtype=int), 5, "every example has the label 0"),
    (np.array([0] * 10 + [1] * 3), 5, "class 1 has 3 example(s), fewer than the 5 folds"),
    (np.array([0] * 10 + [1]), 2, "class 1 has 1 example(s)"),
    (np.array([0] * 10 + [1] * 10), 1, "folds must be an integer >= 2"),
])
def test_unusable_labels_are_one_line(labels, folds, message):
    with pytest.raises(TransferkitError, match=re.escape(message)) as info:
        flag_label_issues(np.zeros((len(labels), 3)), labels, folds=folds)
    assert info.value.fix


def test_audit_writes_flagged_csv_and_audit_json(tmp_path, isolated_cache, capsys):
    from transferkit.report.page import read_run, render
    from transferkit.results import SCHEMA, SCHEMA_VERSION

    X, y = digit_images()
    noisy, idx = flipped(y, 0.1, 3)
    np.savez(tmp_path / "digits.npz", X=X, y=noisy)
    out = tmp_path / "audit"
    assert main(["audit", str(tmp_path / "digits.npz"), "--backbone", "lenet", "--out",
                 str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "flagged as likely mislabelled" in text and "protocol: frozen lenet features" in text
    with open(out / "flagged.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["index", "input", "given_label", "suggested_label", "score"]
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores) and all(0 <= s <= 1 for s in scores)
    assert all(r["input"] == r["index"] for r in rows)  # arrays: the row number
    assert all(int(r["given_label"]) == noisy[int(r["index"])] for r in rows)
    doc = json.loads((out / "audit.json").read_text())
    assert (doc["schema"], doc["schema_version"], doc["kind"]) == (SCHEMA, SCHEMA_VERSION,
                                                                   "audit")
    assert doc["n_samples"] == len(y) and doc["n_flagged"] == len(rows) > 0
    assert doc["backbone"] == "lenet" and "5-fold" in doc["protocol"]
    assert "cleanlab" in doc["protocol"] and "logistic" in doc["protocol"]
    examples = doc["examples"]
    assert len(examples) == min(48, len(rows))
    assert [e["index"] for e in examples] == [int(r["index"]) for r in rows][:48]
    assert set(examples[0]) == {"index", "input", "given", "suggested", "score", "image"}
    assert examples[0]["image"].startswith("data:image/png;base64,")
    page = render([read_run(out)])  # the report reads it: one picture per example
    assert page.count("<img alt=\"example") == len(examples)

    # a second audit into the same folder replaces it; a foreign folder is refused
    assert main(["audit", str(tmp_path / "digits.npz"), "--backbone", "lenet", "--out",
                 str(out), "--quiet", "--seed", "1"]) == 0
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    capsys.readouterr()
    assert main(["audit", str(tmp_path / "digits.npz"), "--backbone", "lenet", "--out",
                 str(tmp_path / "mine"), "--quiet"]) == 2
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_audit_of_texts_keeps_the_text(tmp_path, isolated_cache, sentiment_texts):
    from tiny_models import make_tiny_bert

    texts, y = sentiment_texts
    y = y.copy()
    y[0] = "neg"  # a glowing review labelled negative
    bert = make_tiny_bert(tmp_path / "bert")
    data = Dataset(list(texts), y, "text", name="reviews")
    result = audit_labels(data, f"hf:{bert}", folds=3, seed=0, engine="torch",
                          progress=False)
    assert result.backbone == f"hf:{bert}" and result.n_samples == len(texts)
    from transferkit.audit import audit_document

    doc = audit_document(result, data, "reviews.csv")
    for e in doc["examples"]:
        assert e["text"] == texts[e["index"]] == e["input"] and "image" not in e


@pytest.mark.parametrize("labels, message", [
    ([0] * 30, "only one class"),  # the loader's own check
    ([0] * 27 + [1] * 3, "class 1 has 3 example(s), fewer than the 5 folds"),
])
def test_audit_cli_bad_labels_exit_2_with_one_line(labels, message, tmp_path, capsys,
                                                   isolated_cache):
    from transferkit import features

    X, _ = digit_images(10)
    np.savez(tmp_path / "d.npz", X=X, y=np.asarray(labels))
    before = features.STATS["extracted"]
    assert main(["audit", str(tmp_path / "d.npz"), "--backbone", "lenet", "--out",
                 str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and " -- " in err and "\n" not in err
    assert features.STATS["extracted"] == before  # refused before any extraction
    assert not (tmp_path / "a").exists()


@pytest.fixture
def audited(tmp_path, isolated_cache):
    """Digits with 15 % flipped labels and their audit: (data file, audit dir)."""
    X, y = digit_images()
    noisy, _ = flipped(y, 0.15, 3)
    data = tmp_path / "digits.npz"
    np.savez(data, X=X, y=noisy)
    audit = tmp_path / "audit"
    assert main(["audit", str(data), "--backbone", "lenet", "--out", str(audit),
                 "--quiet"]) == 0
    return data, audit


def test_fit_drop_flagged_retrains_without_them_beside_the_plain_fit(audited, tmp_path,
                                                                     capsys):
    data, audit = audited
    n_flagged = json.loads((audit / "audit.json").read_text())["n_flagged"]
    capsys.readouterr()
    run = tmp_path / "run"
    assert main(["fit", str(data), "--backbone", "lenet", "--drop-flagged", str(audit),
                 "--out", str(run), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "without the flagged" in text and "all labels" in text
    assert "dropping the flagged examples" in text and "same test split" in text
    metrics = json.loads((run / "metrics.json").read_text())
    assert [r["name"].split(" (")[0] for r in metrics["rows"]] == ["transfer", "from scratch"]
    assert all(r["name"].endswith("without the flagged") for r in metrics["rows"])
    drop = metrics["drop_flagged"]
    assert drop["n_flagged"] == n_flagged and drop["all_labels"]["name"].endswith("all labels")
    assert 0 < metrics["excluded_per_seed"][0] <= n_flagged
    # the same test split: both scored on as many test examples
    assert drop["per_seed"][0]["n"] == metrics["per_seed"]["transfer"][0]["n"]


def test_drop_flagged_of_other_data_is_one_line(tmp_path, isolated_cache, capsys):
    X, y = digit_images()
    noisy, _ = flipped(y, 0.1, 3)
    np.savez(tmp_path / "a.npz", X=X, y=noisy)
    assert main(["audit", str(tmp_path / "a.npz"), "--backbone", "lenet", "--out",
                 str(tmp_path / "audit"), "--quiet"]) == 0
    np.savez(tmp_path / "b.npz", X=X[:90], y=noisy[:90])
    capsys.readouterr()
    assert main(["fit", str(tmp_path / "b.npz"), "--backbone", "lenet", "--drop-flagged",
                 str(tmp_path / "audit"), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert "an audit of 120 examples" in err and " -- " in err and "\n" not in err
    assert not (tmp_path / "run").exists()
    with pytest.raises(TransferkitError, match="not found"):
        read_flagged(tmp_path / "nowhere", Dataset(X, noisy, "image"))


def test_drop_flagged_with_fine_tuning_keeps_the_two_fits_checkpoints_apart(
        audited, tmp_path, capsys, monkeypatch):
    from transferkit import experiment

    data, audit = audited
    dirs = []
    real_compare = experiment.compare

    def spy(data, **kwargs):  # the checkpoint folder of each of the two fits
        dirs.append(kwargs["finetune_params"]["checkpoint_dir"])
        return real_compare(data, **kwargs)

    monkeypatch.setattr(experiment, "compare", spy)
    run = tmp_path / "run"
    capsys.readouterr()
    assert main(["fit", str(data), "--backbone", "lenet", "--strategy", "finetune",
                 "--epochs", "1", "--drop-flagged", str(audit), "--out", str(run),
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "without the flagged" in text and "all labels" in text
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["drop_flagged"]["all_labels"]["name"].endswith("all labels")
    assert "finetune" in metrics["rows"][0]["name"]
    assert dirs == [f"{run}.ckpt", f"{run}.ckpt/all-labels"]
    assert not (tmp_path / "run.ckpt").exists()  # saved: the checkpoints are done


def test_drop_flagged_outside_single_label_classification_is_one_line(
        tmp_path, isolated_cache, capsys):
    X, y = digit_images(10)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    assert main(["fit", str(tmp_path / "d.npz"), "--backbone", "lenet", "--drop-flagged",
                 str(tmp_path / "audit"), "--out", str(tmp_path / "run"), "--task",
                 "regression"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "audits check single class labels" in err
    assert " -- " in err and "\n" not in err


def test_audit_of_an_image_folder_names_the_files(image_folder, tmp_path, isolated_cache,
                                                  capsys):
    import shutil

    # one blue image filed under red: the audit should point at its path
    wrong = image_folder / "red" / "from_blue.png"
    shutil.copy(image_folder / "blue" / "0.png", wrong)
    out = tmp_path / "audit"
    assert main(["audit", str(image_folder), "--out", str(out), "--quiet", "--folds",
                 "3"]) == 0
    text = capsys.readouterr().out
    header = next(line for line in text.splitlines() if line.startswith("#  "))
    assert "efficientnet_lite0" in text and header.split()[:3] == ["#", "index", "input"]
    with open(out / "flagged.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all(r["input"].endswith(".png") for r in rows)
    assert str(wrong) in [r["input"] for r in rows]
    example = json.loads((out / "audit.json").read_text())["examples"][0]
    assert example["input"].endswith(".png") and example["image"].startswith("data:image/png")
