"""``transferkit adapt --method <shallow method>``: feature files (or frozen backbone features of
images), the no-adaptation row beside it, atomic outputs; bad input -> one line, exit 2."""

import json
import re

import numpy as np
import pytest
from adapt_testdata import toy_shift
from deep_testdata import digit_domains

from transferkit.cli import main
from transferkit.report import build_report


@pytest.fixture
def files(tmp_path):
    Xs, ys, Xt, yt = toy_shift()
    np.savez(tmp_path / "source.npz", X=Xs, y=ys)
    np.savez(tmp_path / "target.npz", X=Xt)
    np.savez(tmp_path / "target_test.npz", X=Xt, y=yt)
    np.savez(tmp_path / "target_3d.npz", X=Xt[:, :3])
    np.savez(tmp_path / "tiny.npz", X=Xs[:6], y=ys[:6])
    return tmp_path


def adapt(files, *args):
    return main(["--quiet", "adapt", "--source", str(files / "source.npz"), "--target",
                 str(files / "target.npz"), *args])


def test_shallow_method_prints_the_no_adaptation_row_and_writes_predictions(files, capsys):
    out = files / "run"
    code = adapt(files, "--target-test", str(files / "target_test.npz"), "--method", "tca",
                 "--params", '{"n_components": 2}', "--out", str(out))
    text = capsys.readouterr().out
    assert code == 0
    assert '{"n_components": 2}' in text
    rows = [line.split()[0] for line in text.splitlines() if line]
    assert "tca" in rows and "no adaptation (KNeighborsClassifier)" in text
    lines = (out / "target_predictions.csv").read_text().splitlines()
    assert lines[0] == "index,label" and len(lines) == 1 + 150
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["method"] == "tca" and metrics["kind"] == "adapt-shallow"
    tca = next(row for row in metrics["rows"] if row["name"] == "tca")
    accuracy = tca["metrics"]["accuracy"]
    assert 0.5 < accuracy["mean"] <= 1 and accuracy["sd"] is None
    # the report: errors on the target test set, both domains before and after TCA's map
    page = build_report([out], files / "report.html").read_text(encoding="utf-8")
    assert 'data-plot="confusion"' in page and 'data-plot="domains-after"' in page
    assert "features as given: by domain" in page


@pytest.mark.filterwarnings("ignore::transferkit.adapt.AdaptWarning")  # dead random-init units
def test_images_go_through_a_frozen_backbone_first(tmp_path, capsys):
    Xs, ys, Xt, yt = digit_domains(n=60)
    np.savez(tmp_path / "s.npz", X=Xs, y=ys)
    np.savez(tmp_path / "t.npz", X=Xt)
    np.savez(tmp_path / "tt.npz", X=Xt, y=yt)
    code = main(["--quiet", "adapt", "--source", str(tmp_path / "s.npz"), "--target",
                 str(tmp_path / "t.npz"), "--target-test", str(tmp_path / "tt.npz"),
                 "--method", "coral", "--backbone", "lenet"])
    text = capsys.readouterr().out
    assert code == 0 and "frozen lenet features" in text
    assert "coral" in [line.split()[0] for line in text.splitlines() if line]


@pytest.mark.parametrize("args, message", [
    (["--method", "tca", "--params", '{"n_components": 30}', "--source", "{tiny}"],
     "n_components=30"),
    (["--method", "coral", "--target", "{target_3d}"],
     "target_3d has 3 feature columns but source has 5"),
    (["--method", "tca", "--params", '{"nope": 1}'], "bad --params for tca"),
    (["--method", "tca", "--params", "{not json"], "bad --params for tca"),
    (["--method", "tradaboost"], "tradaboost trains on a few labelled target samples"),
    (["--method", "regular-transfer"], "pass them with --target-labelled FILE"),
    (["--method", "coral", "--target-labelled", "{tiny}"], "coral never uses target labels"),
    (["--method", "dann", "--target-labelled", "{tiny}"], "dann never uses target labels"),
    (["--method", "coral", "--oracle"], "--oracle applies to deep methods"),
    (["--method", "coral", "--selector", "dev"], "--selector chooses a deep method's epoch"),
    (["--method", "dann", "--zscore"], "--zscore standardises the features of shallow"),
    (["--method", "kliep", "--params", '{"max_iter": "x"}'], "max_iter must be a positive"),
    (["--method", "tca", "--params", '{"reg": "1"}'], "bad --params for tca"),
    (["--method", "kmm", "--params", '{"estimator": "knn"}'], "bad --params for kmm"),
    (["--method", "tca", "--params", "[1, 2]"], "not a JSON object"),
    (["--method", "regular-transfer", "--target-labelled", "{tiny}", "--target-test", "{tiny}"],
     "every tiny sample is also in tiny, the labelled samples the model trains on"),
])
def test_bad_input_is_one_line_exit_2(files, capsys, args, message):
    args = [a.replace("{tiny}", str(files / "tiny.npz")).replace(
        "{target_3d}", str(files / "target_3d.npz")) for a in args]
    code = adapt(files, *args)
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_a_bad_params_value_is_the_only_line_the_data_warning_waits_for_a_valid_fit(
        tmp_path, capsys):
    Xs, ys, Xt, _ = toy_shift()
    Xs[:, 0] = Xt[:, 0] = 1.0  # constant in both domains: a data warning when the fit runs
    np.savez(tmp_path / "s.npz", X=Xs, y=ys)
    np.savez(tmp_path / "t.npz", X=Xt)
    run = ["--quiet", "adapt", "--source", str(tmp_path / "s.npz"), "--target",
           str(tmp_path / "t.npz"), "--method", "tca"]
    assert main([*run, "--params", '{"n_components": "a"}']) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: n_components must be a positive integer, got 'a'"), err
    assert err.count("\n") == 1, err
    assert main([*run, "--params", '{"n_components": 2}']) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: 1 feature column(s) are constant") and err.count("\n") == 1


@pytest.mark.parametrize("method", ["regular-transfer", "multitask", "tradaboost"])
def test_few_labelled_target_methods_train_on_target_labelled(files, capsys, method):
    Xs, ys, Xt, yt = toy_shift()
    np.savez(files / "few.npz", X=Xt[:20], y=yt[:20])
    out = files / method
    code = adapt(files, "--method", method, "--target-labelled", str(files / "few.npz"),
                 "--target-test", str(files / "target_test.npz"), "--out", str(out))
    text = capsys.readouterr().out
    assert code == 0 and "labelled target: " in text and "(20 samples)" in text
    rows = {line.split("  ")[0]: float(line.split()[-3]) for line in text.splitlines()
            if line.startswith((method, "no adaptation", "labelled target only"))}
    assert set(rows) == {method, "no adaptation (LogisticRegression)",
                         "labelled target only (LogisticRegression)"}, rows
    assert all(50 < acc <= 100 for acc in rows.values())  # %
    lines = (out / "target_predictions.csv").read_text().splitlines()
    assert lines[0] == "index,label" and len(lines) == 1 + 150


def test_a_foreign_out_folder_is_left_alone(files, capsys):
    out = files / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert adapt(files, "--method", "coral", "--out", str(out)) == 2
    assert "not a transferkit run dir" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "keep me" and len(list(out.iterdir())) == 1


@pytest.mark.parametrize("marker, kind", [("config.json", "a saved model"),
                                           ("metrics.json", None)])
def test_a_saved_model_is_never_replaced_by_a_shallow_run(marker, kind, files, capsys):
    out = files / "model_run"  # a `fit` or deep `adapt` run: config.json, weights, metrics.json
    out.mkdir()
    for name in (marker, "metrics.json", "head.safetensors"):
        (out / name).write_text("{}")
    assert adapt(files, "--method", "coral", "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "not a transferkit run dir of this kind" in err
    assert (kind is None) or f"it holds {kind}" in err
    assert sorted(p.name for p in out.iterdir()) == sorted({marker, "metrics.json",
                                                            "head.safetensors"})


@pytest.mark.parametrize("X, y, message", [
    (None, 9, "test_bad has label.s. 9 that source does not have"),
    (3, None, "test_bad has 3 feature columns but source has 5"),
])
def test_a_test_file_that_cannot_be_scored_fails_before_any_fit(X, y, message, files, capsys):
    Xs, ys, Xt, yt = toy_shift()
    np.savez(files / "test_bad.npz", X=Xt if X is None else Xt[:, :X],
             y=yt if y is None else np.where(np.arange(len(yt)) % 2, yt, y))
    assert adapt(files, "--method", "coral", "--target-test", str(files / "test_bad.npz")) == 2
    captured = capsys.readouterr()
    assert re.search(message, captured.err) and "source:" not in captured.out  # nothing fitted


def test_zscore_gives_the_published_easytl_number_from_the_raw_files(capsys):
    from adapt_testdata import data_root

    from transferkit.adapt.datasets import published_easytl

    root = data_root() / "amazon_review_400"
    code = main(["--quiet", "adapt", "--source", str(root / "books_400.mat"), "--target",
                 str(root / "kitchen_400.mat"), "--target-test", str(root / "kitchen_400.mat"),
                 "--method", "easytl", "--zscore"])
    out, err = capsys.readouterr()
    assert code == 0 and "z-scored per domain" in out
    row = next(line for line in out.splitlines() if line.startswith("easytl"))
    published = published_easytl(data_root())["amazon"]["BK"]["EasyTL"]
    assert float(row.split()[1]) == pytest.approx(published, abs=0.05)
    assert err.startswith("warning: 1 feature column(s) are constant") and err.count("\n") == 1


def _table(path, X, y=None, columns=None):
    import pandas as pd

    df = pd.DataFrame(X, columns=columns or [f"f{i}" for i in range(X.shape[1])])
    if y is not None:
        df["label"] = y
    df.to_csv(path, index=False)


def test_tables_target_needs_no_label_column_and_columns_match_by_name(tmp_path, capsys):
    Xs, ys, Xt, yt = toy_shift()
    names = [f"f{i}" for i in range(Xs.shape[1])]
    _table(tmp_path / "s.csv", Xs, ys)
    _table(tmp_path / "t.csv", Xt)  # no label column at all
    _table(tmp_path / "tt.csv", Xt, yt)
    order = names[::-1]  # the same columns in another order
    _table(tmp_path / "tt_reversed.csv", Xt[:, ::-1], yt, columns=order)
    accuracies = []
    for test in ("tt.csv", "tt_reversed.csv"):
        code = main(["--quiet", "adapt", "--source", str(tmp_path / "s.csv"), "--target",
                     str(tmp_path / "t.csv"), "--target-test", str(tmp_path / test),
                     "--method", "coral"])
        out = capsys.readouterr().out
        assert code == 0
        accuracies.append(next(line for line in out.splitlines()
                               if line.startswith("coral")).split()[1])
    assert accuracies[0] == accuracies[1]
    _table(tmp_path / "other.csv", Xt, yt, columns=names[:-1] + ["g"])
    code = main(["adapt", "--source", str(tmp_path / "s.csv"), "--target",
                 str(tmp_path / "other.csv"), "--method", "coral"])
    err = capsys.readouterr().err
    assert code == 2 and "missing: f4; extra: g" in err and len(err.strip().splitlines()) == 1


def test_target_labels_are_never_checked(files, capsys):
    Xt = np.load(files / "target.npz")["X"]
    np.savez(files / "one_class_target.npz", X=Xt, y=np.zeros(len(Xt)))
    code = main(["--quiet", "adapt", "--source", str(files / "source.npz"), "--target",
                 str(files / "one_class_target.npz"), "--method", "coral"])
    assert code == 0, capsys.readouterr().err


def test_predictions_csv_quotes_labels_with_commas(tmp_path):
    import pandas as pd

    Xs, ys, Xt, _ = toy_shift()
    labels = np.array(["cat, big", 'dog "x"'])[ys]
    np.savez(tmp_path / "s.npz", X=Xs, y=labels)
    np.savez(tmp_path / "t.npz", X=Xt)
    assert main(["--quiet", "adapt", "--source", str(tmp_path / "s.npz"), "--target",
                 str(tmp_path / "t.npz"), "--method", "coral", "--out",
                 str(tmp_path / "run")]) == 0
    table = pd.read_csv(tmp_path / "run" / "target_predictions.csv")
    assert list(table.columns) == ["index", "label"] and len(table) == len(Xt)
    assert set(table["label"]) <= {"cat, big", 'dog "x"'}


def test_a_test_set_sharing_samples_with_the_labelled_ones_warns(files, capsys):
    Xs, ys, Xt, yt = toy_shift()
    np.savez(files / "few.npz", X=Xt[:20], y=yt[:20])
    np.savez(files / "test_mixed.npz", X=Xt[10:60], y=yt[10:60])  # 10 of them in few.npz
    assert adapt(files, "--method", "regular-transfer", "--target-labelled",
                 str(files / "few.npz"), "--target-test", str(files / "test_mixed.npz")) == 0
    assert "warning: 10 of the 50 test_mixed samples are also in few" in capsys.readouterr().err
