"""``transferkit fit --tasks``: a multi-task model (one shared backbone, one head per task)
beside from-scratch over seeds, per-task metrics, the learnt weights printed and saved;
predict writes one column per task, evaluate gives ``task/metric``; bad input is one line
and exit 2."""

import csv
import json

import numpy as np
import pytest
from PIL import Image
from tiny_models import make_squares

from transferkit.cli import main


def _targets(n: int):
    X, Y = make_squares(n)
    return X, {"tl": np.where(Y[:, 0] == 1, "on", "off"), "br": Y[:, 1],
               "bright": X.reshape(n, -1).mean(axis=1) / 10.0}


@pytest.fixture
def multitask_npz(tmp_path):
    X, y = _targets(120)
    np.savez(tmp_path / "mt.npz", X=X, **{f"y_{k}": v for k, v in y.items()})
    return tmp_path / "mt.npz"


@pytest.fixture
def multitask_csv(tmp_path):
    X, y = _targets(80)
    (tmp_path / "img").mkdir()
    rows = []
    for i, image in enumerate(X):
        Image.fromarray(image).save(tmp_path / "img" / f"{i}.png")
        rows.append({"image": f"img/{i}.png", **{k: v[i] for k, v in y.items()}})
    with open(tmp_path / "mt.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, ["image", "tl", "br", "bright"])
        writer.writeheader()
        writer.writerows(rows)
    return tmp_path / "mt.csv"


def test_fit_predict_evaluate_a_multitask_npz(multitask_npz, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["--quiet", "fit", str(multitask_npz), "--tasks",
                 "tl:classification,br:classification,bright:regression", "--backbone",
                 "lenet", "--strategy", "finetune", "--epochs", "2", "--seeds", "0,1",
                 "--loss-weighting", "uncertainty", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "multi-task: tl (classification), br (classification), bright (regression)" in text
    assert "split stratified on task 'tl' (seeded)" in text
    assert "loss weighting 'uncertainty'" in text
    assert "the unweighted sum of the tasks' validation losses" in text
    for column in ("tl/accuracy", "tl/f1_macro", "br/accuracy", "bright/mae", "bright/rmse",
                   "bright/r2"):
        assert column in text
    assert "from scratch (same architecture" in text
    weights_line = next(line for line in text.splitlines() if line.startswith("  transfer:"))
    assert "tl " in weights_line and "±" in weights_line  # two seeds: mean ± sd
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "multitask" and metrics["weighting"] == "uncertainty"
    assert len(metrics["per_seed"]["transfer"]) == 2 == len(metrics["task_weights"]["transfer"])
    assert "bright/r2" in metrics["rows"][0]["metrics"]
    learnt = metrics["task_weights"]["transfer"][0]
    assert all(w != 1.0 for w in learnt.values())  # uncertainty weights are learnt
    config = json.loads((out / "config.json").read_text())
    assert config["task"]["kind"] == "multitask"
    assert config["task"]["options"]["weighting"] == "uncertainty"
    order = [name for name, _ in config["task"]["options"]["tasks"]]
    assert order == ["tl", "br", "bright"]  # the output layout, as given
    assert np.allclose(np.exp(-np.array(config["task"]["state"]["log_vars"])),
                       [learnt[n] for n in order])  # the first seed's model is the saved one
    assert not (tmp_path / "run.ckpt").exists()

    assert main(["predict", str(out), str(multitask_npz), "-o", str(tmp_path / "p.csv")]) == 0
    lines = list(csv.reader((tmp_path / "p.csv").open()))
    assert lines[0] == ["input", "tl", "br", "bright"] and len(lines) == 121
    assert {row[1] for row in lines[1:]} <= {"on", "off"}
    assert {row[2] for row in lines[1:]} <= {"0", "1"}
    float(lines[1][3])
    capsys.readouterr()
    assert main(["evaluate", str(out), str(multitask_npz), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert set(scores) == {"n", "tl/accuracy", "tl/f1_macro", "br/accuracy", "br/f1_macro",
                           "bright/mae", "bright/rmse", "bright/r2"}
    assert scores["n"] == 120 and 0 <= scores["tl/accuracy"] <= 1
    assert main(["evaluate", str(out), str(multitask_npz)]) == 0
    assert "bright/mae" in capsys.readouterr().out


def test_a_table_with_one_column_per_task_and_gradnorm(multitask_csv, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["--quiet", "fit", str(multitask_csv), "--tasks",
                 "tl:classification,bright:regression", "--backbone", "lenet",
                 "--strategy", "finetune", "--epochs", "1", "--no-baseline",
                 "--loss-weighting", "gradnorm", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "gradnorm: GradNorm w_i" in text and "from scratch" not in text
    saved = json.loads((out / "config.json").read_text())["task"]
    assert saved["options"]["alpha"] == 1.5
    assert sum(saved["state"]["loss_weights"]) == pytest.approx(2.0, abs=1e-5)
    # the task columns of the table are labels, never inputs: predict reads the same table
    assert main(["predict", str(out), str(multitask_csv)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "input,tl,bright" and len(lines) == 81
    assert main(["evaluate", str(out), str(multitask_csv), "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"n", "tl/accuracy", "tl/f1_macro",
                                                         "bright/mae", "bright/rmse",
                                                         "bright/r2"}


@pytest.mark.parametrize("extra, message", [
    (["--tasks", "tl:classification,size:regression"],
     "has no labels for task(s) 'size' (arrays: X, y_tl, y_br, y_bright) -- save one array "
     "y_<task> per task"),
    (["--tasks", "tl:classification", "--task", "regression"],
     "--tasks names the tasks itself; --task regression is for a single task"),
    (["--tasks", "tl:classification", "--task", "classification"],
     "--tasks names the tasks itself; --task classification is for a single task"),
    (["--tasks", "tl:classification,tl:regression"], "task 'tl' is named twice"),
    (["--tasks", "tl:ranking"], "unknown task kind 'ranking' for task 'tl'"),
    (["--tasks", "tl"], "--tasks entry 'tl' is not NAME:KIND"),
    (["--tasks", "tl:classification", "--loss-weighting", "often"],
     "unknown loss weighting 'often' -- use one of: equal, uncertainty, gradnorm"),
    (["--tasks", "tl:regression"], "must be numbers"),
])
def test_bad_multitask_input_is_one_line_exit_2(multitask_npz, tmp_path, capsys, extra,
                                               message):
    assert main(["--quiet", "fit", str(multitask_npz), "--backbone", "lenet", "--out",
                 str(tmp_path / "run"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


def test_a_missing_task_column_in_a_table_is_one_line(multitask_csv, tmp_path, capsys):
    assert main(["--quiet", "fit", str(multitask_csv), "--tasks",
                 "tl:classification,parity:classification", "--backbone", "lenet",
                 "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mt.csv has no label column for task(s) 'parity'" in err
    assert "add one label column per task, named as the task" in err
    assert not (tmp_path / "run").exists()
