"""``transferkit fit --task multilabel|regression``: transfer beside from-scratch over seeds,
predict and evaluate on the saved run; bad task input is one line and exit 2."""

import json

import numpy as np
import pytest
from tiny_models import make_squares

from transferkit.cli import main

_squares = make_squares


@pytest.fixture
def multilabel_npz(tmp_path):
    X, Y = _squares(120)
    cells = ["|".join(n for n, on in zip(("tl", "br"), row, strict=True) if on) for row in Y]
    np.savez(tmp_path / "ml.npz", X=X, y=np.asarray(cells, dtype=str))
    return tmp_path / "ml.npz"


@pytest.fixture
def regression_npz(tmp_path):
    X, _ = _squares(120)
    np.savez(tmp_path / "reg.npz", X=X, y=X.reshape(len(X), -1).mean(axis=1) / 10)
    return tmp_path / "reg.npz"


def test_multilabel_fit_predict_evaluate(multilabel_npz, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["--quiet", "fit", str(multilabel_npz), "--task", "multilabel", "--backbone",
                 "lenet", "--strategy", "finetune", "--epochs", "2", "--seeds", "0,1",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "multilabel, 2 labels" in text and "per-label thresholds" in text
    assert "f1_micro" in text and "hamming_loss" in text and "from scratch (same" in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "multilabel" and len(metrics["per_seed"]["transfer"]) == 2
    assert set(metrics["rows"][0]["metrics"]) == {"f1_micro", "f1_macro", "map",
                                                  "subset_accuracy", "hamming_loss"}
    config = json.loads((out / "config.json").read_text())
    assert config["task"]["kind"] == "multilabel" and len(config["threshold"]) == 2
    assert main(["predict", str(out), str(multilabel_npz), "-o", str(tmp_path / "p.csv")]) == 0
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "input,labels,p_br,p_tl" and len(lines) == 121
    assert all(set(line.split(",")[1].split("|")) <= {"", "br", "tl"} for line in lines[1:])
    capsys.readouterr()
    assert main(["evaluate", str(out), str(multilabel_npz), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["n"] == 120 and 0 <= scores["hamming_loss"] <= 1


def test_regression_fit_predict_evaluate(regression_npz, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["--quiet", "fit", str(regression_npz), "--task", "regression", "--backbone",
                 "lenet", "--strategy", "finetune", "--epochs", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "regression" in text and "mae" in text and "r2" in text
    assert "random split (seeded)" in text and "validation RMSE" in text
    assert main(["predict", str(out), str(regression_npz)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "input,value" and len(lines) == 121
    float(lines[1].split(",")[1])
    assert main(["evaluate", str(out), str(regression_npz), "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"n", "mae", "rmse", "r2"}


def _write(tmp_path, y):
    X, _ = _squares(len(y))
    np.savez(tmp_path / "bad.npz", X=X, y=np.asarray(y))
    return str(tmp_path / "bad.npz")


@pytest.mark.parametrize("labels, extra, message", [
    (["a,b", "b", "a,b", "a"] * 10, ["--task", "multilabel"],
     "separated by ',', not by '|' (e.g. 'a,b') -- pass --label-sep ','"),
    (["a", "b"] * 20, ["--task", "multilabel"],
     "exactly one label, so this is not a multi-label task -- use the plain classifier"),
    (["a", "b"] * 20, ["--task", "ranking"], "unknown task kind 'ranking'"),
    (["1.5", "cheap"] * 20, ["--task", "regression"], "must be numbers"),
    ([1.0, float("nan")] * 20, ["--task", "regression"], "samples without a label"),
])
def test_bad_task_input_is_one_line_exit_2(tmp_path, capsys, labels, extra, message):
    path = _write(tmp_path, labels)
    assert main(["--quiet", "fit", path, "--backbone", "lenet", "--out",
                 str(tmp_path / "run"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()
