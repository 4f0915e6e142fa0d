"""End to end through the CLI: fit, predict, evaluate, backbones, and one-line errors."""

import json
import subprocess
import sys

import pytest

from transferkit.cli import main


def run_cli(*args, expect=0):
    code = main([str(a) for a in args])
    assert code == expect
    return code


def test_fit_predict_evaluate_on_an_image_folder(image_folder, tmp_path, isolated_cache, capsys):
    out = tmp_path / "run"
    run_cli("fit", image_folder, "--out", out, "--seeds", "0,1")
    text = capsys.readouterr().out
    assert "transfer (efficientnet_lite0" in text and "from scratch (raw pixels" in text
    assert "protocol: stratified split (seeded)" in text and "seeds [0, 1]" in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["per_seed"]["transfer"]) == 2
    config = json.loads((out / "config.json").read_text())
    assert config["classes"] == ["blue", "red"] and config["backbone"]["name"] == \
        "efficientnet_lite0"
    assert (out / "head.safetensors").is_file()

    run_cli("predict", out, image_folder / "red", "-o", tmp_path / "pred.csv")
    lines = (tmp_path / "pred.csv").read_text().splitlines()
    assert lines[0] == "input,label,p_blue,p_red" and len(lines) == 11
    assert sum(line.split(",")[1] == "red" for line in lines[1:]) >= 9

    run_cli("evaluate", out, image_folder)
    assert "accuracy" in capsys.readouterr().out
    run_cli("evaluate", out, image_folder, "--json")
    scores = json.loads(capsys.readouterr().out)  # one JSON object, nothing else on stdout
    assert scores["n"] == 20 and 0.5 <= scores["accuracy"] <= 1
    assert metrics["schema"] == "transferkit.results" and metrics["kind"] == "fit"
    assert [row["name"].split()[0] for row in metrics["rows"]] == ["transfer", "from"]
    accuracy = metrics["rows"][0]["metrics"]["accuracy"]
    assert set(accuracy) == {"mean", "sd"} and accuracy["sd"] is not None  # two seeds
    assert metrics["protocol"].startswith("stratified split")


def test_second_fit_extracts_nothing(image_folder, tmp_path, isolated_cache, capsys):
    from transferkit import features

    run_cli("fit", image_folder, "--out", tmp_path / "a", "--no-baseline")
    before = features.STATS["extracted"]
    run_cli("fit", image_folder, "--out", tmp_path / "b", "--no-baseline", "--seeds", "5")
    assert features.STATS["extracted"] == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["fit", "{empty}", "--out", "{out}"], "no images found"),
        (["fit", "{images}", "--out", "{out}", "--backbone", "nope"], "unknown backbone 'nope'"),
        (["fit", "{images}", "--out", "{out}", "--backbone", "minilm"], "takes text inputs"),
        (["fit", "{images}", "--out", "{out}", "--head", "svm"], "unknown head 'svm'"),
        (["predict", "{out}", "{images}"], "not a complete transferkit run dir"),
        (["fit", "{images}", "--out", "{out}", "--seeds", "a"], "is not a list of integers"),
        (["fit", "{images}", "--out", "{out}", "--test-size", "1.5"], "--test-size must be"),
        (["fit", "{images}", "--out", "{out}", "--threshold-metric", "auc"],
         "unknown threshold_metric 'auc'"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(args, message, image_folder, tmp_path, capsys,
                                           isolated_cache):
    (tmp_path / "empty").mkdir()
    fill = {"empty": tmp_path / "empty", "images": image_folder, "out": tmp_path / "out"}
    run_cli(*[a.format(**fill) for a in args], expect=2)
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert " -- " in err  # the fix is named


def test_corrupt_image_fails_cleanly_and_keeps_the_old_run(image_folder, tmp_path, capsys,
                                                           isolated_cache):
    out = tmp_path / "run"
    run_cli("fit", image_folder, "--out", out, "--no-baseline")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (image_folder / "red" / "zz_broken.png").write_bytes(b"\x89PNG garbage")
    run_cli("fit", image_folder, "--out", out, expect=2)
    assert "zz_broken.png" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing damaged


def test_predict_wrong_modality(image_folder, tmp_path, isolated_cache, capsys):
    out = tmp_path / "run"
    run_cli("fit", image_folder, "--out", out, "--no-baseline")
    (tmp_path / "texts.txt").write_text("hello\nworld\n")
    run_cli("predict", out, tmp_path / "texts.txt", expect=2)
    assert "not an image" in capsys.readouterr().err


def test_backbones_lists_offline_and_optional(capsys):
    run_cli("backbones")
    text = capsys.readouterr().out
    assert "efficientnet_lite0" in text and "available offline" in text
    assert "timm:<…>" in text


def test_console_script_exit_code_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "transferkit.cli", "fit", str(tmp_path / "nope"),
                           "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "data not found" in proc.stderr


def test_text_table_fit_then_predict_lines_and_table(sentiment_texts, tmp_path, capsys):
    import pandas as pd

    texts, y = sentiment_texts
    pd.DataFrame({"review": texts, "sentiment": y}).to_csv(tmp_path / "reviews.csv", index=False)
    out = tmp_path / "run"
    run_cli("fit", tmp_path / "reviews.csv", "--label-column", "sentiment", "--text-column",
            "review", "--out", out, "--test-size", "0.25")
    assert "transfer (minilm + logistic head)" in capsys.readouterr().out
    (tmp_path / "new.txt").write_text("a wonderful, lovely film\n\nboring and awful\n")
    run_cli("predict", out, tmp_path / "new.txt", "-o", tmp_path / "p.csv")
    import csv

    rows = list(csv.reader((tmp_path / "p.csv").open()))
    assert rows[0] == ["input", "label", "p_neg", "p_pos"] and len(rows) == 3
    assert rows[1][:2] == ["a wonderful, lovely film", "pos"] and rows[2][1] == "neg"
    pd.DataFrame({"review": ["great fun"]}).to_csv(tmp_path / "new.csv", index=False)
    capsys.readouterr()
    run_cli("predict", out, tmp_path / "new.csv", "--text-column", "review")
    assert capsys.readouterr().out.splitlines()[1].startswith("great fun,pos,")  # the text


def test_a_foreign_ckpt_folder_beside_out_is_never_deleted(image_folder, tmp_path, capsys,
                                                          isolated_cache):
    foreign = tmp_path / "m.ckpt"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("precious")
    run_cli("fit", image_folder, "--out", tmp_path / "m", "--no-baseline")  # linear probe
    assert (foreign / "notes.txt").read_text() == "precious"
    run_cli("fit", image_folder, "--out", tmp_path / "m", "--no-baseline", "--strategy",
            "finetune", "--backbone", "lenet", "--epochs", "1", expect=2)
    assert "does not hold transferkit checkpoints" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "precious"


def test_quiet_and_debug_also_after_the_command_and_object_npz_is_one_line(tmp_path, capsys):
    import numpy as np

    np.savez(tmp_path / "mixed.npz", X=np.zeros((10, 4)),
             y=np.array([1, "a"] * 5, dtype=object))
    assert main(["fit", str(tmp_path / "mixed.npz"), "--out", str(tmp_path / "r"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "holds Python objects" in err and "\n" not in err
    with pytest.raises(Exception, match="Python objects"):  # --debug re-raises
        main(["fit", str(tmp_path / "mixed.npz"), "--out", str(tmp_path / "r"), "--debug"])


def test_evaluate_on_a_split_folder_scores_its_test_split_only(tmp_path, capsys,
                                                              isolated_cache):
    from conftest import make_image_folder

    root = tmp_path / "data"
    make_image_folder(root / "train", n_per_class=8)
    make_image_folder(root / "test", n_per_class=3, seed=1)
    run_cli("fit", root, "--out", tmp_path / "run", "--no-baseline")
    capsys.readouterr()
    run_cli("evaluate", tmp_path / "run", root)
    out = capsys.readouterr().out
    assert "its 'test' split (6 samples)" in out


def test_a_huge_text_cell_is_one_line_exit_2(tmp_path, capsys):
    """A text cell of millions of characters would take gigabytes to tokenise (only its first
    tokens are ever read): refused before any work, in one line."""
    import csv

    path = tmp_path / "texts.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([["text", "label"], ["short", "a"], ["x" * 1_200_000, "b"],
                                  ["fine", "a"], ["ok", "b"]])
    assert main(["fit", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: texts.csv's column 'text' holds a text of 1,200,000 "
                          "characters (row 2") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()
