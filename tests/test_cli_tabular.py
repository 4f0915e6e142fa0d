"""``transferkit fit TABLE --backbone tabular_mlp|file:SRC_RUN``: the MLP over the table's
column schema beside the from-scratch MLP and gradient boosting; predict/evaluate on target
tables (unseen categories, missing cells); bad input is one line and exit 2."""

import json
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from transferkit.cli import main
from transferkit.data import load_dataset
from transferkit.errors import TransferkitError
from transferkit.tabular_compare import TabularGradientBoosting, is_tabular_backbone


def customers(n: int, seed: int) -> pd.DataFrame:
    """A table of numbers, text categories and empty cells with two learnable labels:
    ``default`` = (age > 40) XOR (edu == 'uni'); ``big`` = (limit > 50k)."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "ID": np.arange(seed * 10_000, seed * 10_000 + n),
        "age": rng.normal(40, 10, n).round(1),
        "limit": rng.exponential(5e4, n).round(),
        "edu": rng.choice(["grad", "uni", "high"], n),
        "pay": rng.integers(-2, 8, n),
    })
    df["default"] = ((df.age > 40) ^ (df.edu == "uni")).astype(int)
    df["big"] = (df.limit > 5e4).astype(int)
    df.loc[rng.random(n) < 0.1, "age"] = np.nan
    df.loc[rng.random(n) < 0.05, "edu"] = None
    return df


@pytest.fixture
def tables(tmp_path):
    source = customers(500, 0)
    source.to_csv(tmp_path / "source.csv", index=False)
    target = customers(300, 1)
    target.loc[:9, "edu"] = "phd"  # a category the source never saw
    target.to_csv(tmp_path / "target.csv", index=False)
    return tmp_path / "source.csv", tmp_path / "target.csv"


def fit(*args: str) -> int:
    return main(["--quiet", "fit", *map(str, args)])


def test_fit_transfer_predict_evaluate(tables, tmp_path, capsys):
    source, target = tables
    src = tmp_path / "src"
    assert fit(source, "--label-column", "default", "--backbone", "tabular_mlp",
               "--drop-columns", "ID,big", "--epochs", "8", "--seeds", "0,1",
               "--out", src) == 0
    out, err = capsys.readouterr()
    assert "data: " in out and "4 feature columns, tabular, 2 classes" in out
    assert "MLP (tabular_mlp 256x256, random init, finetune" in out
    assert "gradient boosting (HistGradientBoostingClassifier" in out
    assert "from scratch" not in out  # no source: the MLP is the from-scratch model
    header = next(line for line in out.splitlines() if line.startswith("model"))
    assert header.split()[1:] == ["accuracy", "balanced_accuracy", "f1_macro", "f1_positive",
                                  "roc_auc"]
    assert "warning" not in err  # ID dropped: no identifier warning
    metrics = json.loads((src / "metrics.json").read_text())
    assert [len(v) for v in metrics["per_seed"].values()] == [2, 2]
    assert metrics["rows"][1]["metrics"]["roc_auc"]["mean"] > 0.9  # the rule is learnable
    config = json.loads((src / "config.json").read_text())
    schema = config["backbone"]["init_config"]["schema"]
    assert [c["name"] for c in schema["columns"]] == ["age", "limit", "edu", "pay"]
    assert is_tabular_backbone(f"file:{src}") and not is_tabular_backbone("lenet")

    # transfer to the target table, another label; its ID and default columns are extra
    run = tmp_path / "run"
    assert fit(target, "--label-column", "big", "--backbone", f"file:{src}", "--epochs", "4",
               "--out", run) == 0
    out = capsys.readouterr().out
    names = [row["name"] for row in json.loads((run / "metrics.json").read_text())["rows"]]
    assert names[0].startswith(f"transfer (file:{src}, finetune")
    assert names[1].startswith("from scratch (same architecture, random init")
    assert names[2].startswith("gradient boosting")
    assert "the source model's column schema" in out

    # predict: unseen category 'phd' and empty cells are no error; extra columns ignored
    assert main(["predict", str(run), str(target), "-o", str(tmp_path / "p.csv")]) == 0
    pred = pd.read_csv(tmp_path / "p.csv")
    assert len(pred) == 300 and list(pred.columns) == ["input", "label", "p_0", "p_1"]
    assert np.allclose(pred.p_0 + pred.p_1, 1, atol=1e-5)
    capsys.readouterr()
    assert main(["evaluate", str(run), str(target), "--label-column", "big", "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["n"] == 300 and 0 <= m["roc_auc"] <= 1


def test_an_identifier_column_warns_once_and_strategy_defaults(tables, tmp_path, capsys):
    source, _ = tables
    assert fit(source, "--label-column", "default", "--backbone", "tabular_mlp", "--epochs",
               "1", "--no-baseline", "--seeds", "0,1", "--out", tmp_path / "r") == 0
    out, err = capsys.readouterr()
    assert err.count("column 'ID' holds a different value in every row") == 1, err
    assert "--drop-columns ID" in err
    assert "finetune, lr 0.001, 1 epochs" in out and "gradient boosting" not in out


def test_a_categorical_column_of_10000_values_warns_in_one_line(tmp_path):
    rng = np.random.default_rng(0)
    n = 10_300  # every value distinct: 10,094 of them in the rows the schema is fitted on
    pd.DataFrame({"customer": [f"c{i}" for i in range(n)], "x": rng.normal(size=n),
                  "y": rng.integers(0, 2, n)}).to_csv(tmp_path / "ids.csv", index=False)
    proc = subprocess.run(
        [sys.executable, "-m", "transferkit.cli", "--quiet", "fit", str(tmp_path / "ids.csv"),
         "--label-column", "y", "--backbone", "tabular_mlp", "--epochs", "1", "--batch-size",
         "1024", "--test-size",
         "0.02", "--val-size", "0.01", "--out", str(tmp_path / "r")],
        capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr  # embedded with one warning line, not an error
    assert lines[0].startswith("warning: categorical column 'customer' has 10,094 distinct values")
    assert "it is embedded" in lines[0] and "drop it from the table" in lines[0]


@pytest.mark.parametrize("case, message", [
    ("missing", "target lacks column(s) edu that the source model file:"),
    ("label-is-input", "the label column 'pay' is an input column of the source model"),
    ("linear-probe", "--strategy linear-probe trains a head on a frozen backbone"),
    ("drop-unknown", "has no column(s) nope to drop"),
    ("drop-label", "--drop-columns names the label column 'default'"),
    ("multilabel", "the tabular backbone takes --task classification or regression"),
])
def test_bad_tabular_input_is_one_line_exit_2(tables, tmp_path, capsys, case, message):
    source, target = tables
    src = tmp_path / "src"
    if case in ("missing", "label-is-input"):
        assert fit(source, "--label-column", "default", "--backbone", "tabular_mlp",
                   "--drop-columns", "ID,big", "--epochs", "1", "--no-baseline",
                   "--out", src) == 0
        capsys.readouterr()
    args = {
        "missing": [tmp_path / "target.csv", "--label-column", "big", "--backbone",
                    f"file:{src}"],
        "label-is-input": [target, "--label-column", "pay", "--backbone", f"file:{src}"],
        "linear-probe": [source, "--label-column", "default", "--backbone", "tabular_mlp",
                         "--strategy", "linear-probe"],
        "drop-unknown": [source, "--label-column", "default", "--backbone", "tabular_mlp",
                         "--drop-columns", "nope"],
        "drop-label": [source, "--label-column", "default", "--backbone", "tabular_mlp",
                       "--drop-columns", "default"],
        "multilabel": [source, "--label-column", "default", "--backbone", "tabular_mlp",
                       "--task", "multilabel"],
    }[case]
    if case == "missing":
        pd.read_csv(target).drop(columns=["edu"]).to_csv(tmp_path / "target.csv", index=False)
    out = tmp_path / "out"
    code = fit(*args, "--epochs", "1", "--out", out)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err, err
    assert len(err.strip().splitlines()) == 1 and not out.exists()
    if case == "missing":  # predict and evaluate say the same in one line
        for command in (["predict", str(src), str(tmp_path / "target.csv")],
                        ["evaluate", str(src), str(tmp_path / "target.csv"),
                         "--label-column", "default"]):
            assert main(command) == 2
            err = capsys.readouterr().err
            assert "lacks column(s) edu that the model" in err and err.count("\n") == 1


def test_regression_on_a_table(tables, tmp_path, capsys):
    source, _ = tables
    df = pd.read_csv(source)
    df["score"] = df["limit"] / 1e4 + (df["edu"] == "uni") * 3
    df.to_csv(tmp_path / "reg.csv", index=False)
    assert fit(tmp_path / "reg.csv", "--label-column", "score", "--task", "regression",
               "--backbone", "tabular_mlp", "--drop-columns", "ID,big,default",
               "--epochs", "3", "--out", tmp_path / "r") == 0
    out = capsys.readouterr().out
    assert "HistGradientBoostingRegressor" in out and "random split" in out
    rows = json.loads((tmp_path / "r" / "metrics.json").read_text())["rows"]
    assert set(rows[0]["metrics"]) == {"mae", "rmse", "r2"}
    assert rows[1]["metrics"]["r2"]["mean"] > 0.5  # edu explains the target's variance


def test_feature_tables_keep_their_old_behaviour(tmp_path, capsys):
    rng = np.random.default_rng(0)
    pd.DataFrame({"a": rng.normal(size=20), "b": rng.normal(size=20),
                  "label": [0, 1] * 10}).to_csv(tmp_path / "n.csv", index=False)
    assert fit(tmp_path / "n.csv", "--backbone", "minilm", "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err
    assert "holds tabular features; no pretrained backbone reads those" in err
    assert "--backbone tabular_mlp" in err  # the way to train on a table
    # the default path still reads only numeric columns and refuses empty cells
    pd.DataFrame({"a": [1.0, np.nan] * 10, "label": [0, 1] * 10}).to_csv(tmp_path / "m.csv",
                                                                         index=False)
    assert fit(tmp_path / "m.csv", "--out", tmp_path / "o") == 2
    assert "NaN or infinite values in 10 rows" in capsys.readouterr().err


def test_mixed_tables_keep_text_and_missing_cells(tables):
    source, _ = tables
    ds = load_dataset(source, label_column="default", mixed=True, drop_columns=["ID"])
    assert ds.modality == "tabular" and ds.X.dtype == object
    assert ds.feature_names == ["age", "limit", "edu", "pay", "big"]
    assert pd.isna(ds.X[:, 0]).any() and {"grad", "uni", "high"} <= set(ds.X[:, 2].tolist())
    with pytest.raises(TransferkitError, match="NaN or infinite"):
        load_dataset(source, label_column="default", drop_columns=["ID", "edu"])
    numeric = load_dataset(source, label_column="default", drop_columns=["ID", "edu", "age"])
    assert numeric.X.dtype == np.float64 and numeric.feature_names == ["limit", "pay", "big"]


def test_gradient_boosting_baseline():
    df = customers(600, 0).drop(columns=["ID", "big"])
    y = df.pop("default").to_numpy()
    cols = list(df.columns)
    X = df.to_numpy(dtype=object)
    gbm = TabularGradientBoosting(columns=cols, categorical=["edu", "pay"]).fit(
        X[:400], y[:400], X[400:500], y[400:500])
    assert 0 < gbm.threshold_ < 1 and list(gbm.classes_) == [0, 1]
    assert (gbm.predict(X[500:]) == y[500:]).mean() > 0.85
    unseen = X[500:].copy()
    unseen[:, 2] = "never seen"  # -> missing for the trees: no error
    assert gbm.predict_proba(unseen).shape == (100, 2)
    many = pd.DataFrame({"shop": [f"s{i % 400}" for i in range(800)], "x": np.arange(800.0)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 400 categories: ordinal codes, no error or warning
        TabularGradientBoosting(columns=["shop", "x"]).fit(
            many.to_numpy(dtype=object), np.arange(800) % 2)
    reg = TabularGradientBoosting(columns=cols, task="regression").fit(X[:400], y[:400] * 2.0)
    assert reg.predict(X[400:]).shape == (200,)


@pytest.mark.realdata
def test_credit_default_transfer_through_the_cli(shared_data, tmp_path, capsys):
    """Source = education 1-2, target = education 3 (200 labelled rows): the transferred MLP
    ranks the target's defaults above chance."""
    path = shared_data("credit_default_taiwan_uci", "UCI_Credit_Card.csv")
    df = pd.read_csv(path)
    df[df.EDUCATION.isin([1, 2])].to_csv(tmp_path / "source.csv", index=False)
    df[df.EDUCATION == 3].to_csv(tmp_path / "target.csv", index=False)
    label = ["--label-column", "default.payment.next.month"]
    assert fit(tmp_path / "source.csv", *label, "--backbone", "tabular_mlp", "--drop-columns",
               "ID", "--epochs", "2", "--batch-size", "256", "--no-baseline",
               "--out", tmp_path / "src") == 0
    assert fit(tmp_path / "target.csv", *label, "--backbone", f"file:{tmp_path / 'src'}",
               "--labels-per-class", "100", "--epochs", "5", "--out", tmp_path / "run") == 0
    rows = json.loads((tmp_path / "run" / "metrics.json").read_text())["rows"]
    assert rows[0]["name"].startswith("transfer")
    assert rows[0]["metrics"]["roc_auc"]["mean"] > 0.6  # chance: 0.5
    assert len(rows) == 3 and capsys.readouterr().out.count("\n") >= 5
