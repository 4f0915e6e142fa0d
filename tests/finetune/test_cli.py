"""``transferkit fit --strategy ...`` and ``transferkit lr-find``; bad input -> one line,
exit 2."""

import csv
import json

import pytest

from transferkit.cli import main


@pytest.fixture
def text_csv(tmp_path, texts):
    X, y = texts
    path = tmp_path / "reviews.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([["text", "label"], *zip(X * 2, list(y) * 2, strict=True)])
    return path


def test_fit_with_a_strategy_then_predict(tiny_bert, text_csv, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["--quiet", "fit", str(text_csv), "--out", str(out), "--backbone", tiny_bert,
                 "--strategy", "bitfit", "--epochs", "1", "--lr", "1e-3",
                 "--no-baseline"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "finetune" and config["strategy"]["name"] == "bitfit"
    assert not out.with_name("run.ckpt").exists()  # checkpoints removed once saved
    assert main(["predict", str(out), str(text_csv), "--text-column", "text",
                 "-o", str(tmp_path / "p.csv")]) == 0
    assert (tmp_path / "p.csv").read_text().startswith("input,label,p_neg,p_pos")


def test_freeze_implies_partial(tiny_bert, text_csv, tmp_path):
    out = tmp_path / "run"
    assert main(["--quiet", "fit", str(text_csv), "--out", str(out), "--backbone", tiny_bert,
                 "--freeze", "2", "--epochs", "1", "--no-baseline"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["strategy"] == {"name": "partial", "options": {"freeze": 2}, "auto": None,
                                  "state": {}}


@pytest.mark.parametrize("args, message", [
    (["--strategy", "nope"], "error: unknown strategy 'nope' -- use one of:"),
    (["--freeze", "99"], "error: freeze=99 but backbone"),
    (["--strategy", "lora", "--freeze", "1"], "error: --freeze applies to strategy 'partial'"),
])
def test_bad_strategy_input_is_one_line_exit_2(tiny_bert, text_csv, tmp_path, capsys, args,
                                               message):
    code = main(["fit", str(text_csv), "--out", str(tmp_path / "r"), "--backbone", tiny_bert,
                 "--no-baseline", *args])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(message) and len(err.strip().splitlines()) == 1


def test_lora_without_matching_modules_exit_2(tmp_path, capsys, image_folder):
    code = main(["fit", str(image_folder), "--out", str(tmp_path / "r"), "--backbone",
                 "tiny_cnn_test", "--strategy", "lora", "--no-baseline"])
    err = capsys.readouterr().err
    assert code == 2 and "LoRA found no Linear or attention layers" in err
    assert len(err.strip().splitlines()) == 1


def test_lr_find(tiny_bert, text_csv, capsys):
    assert main(["lr-find", str(text_csv), "--backbone", tiny_bert, "--steps", "12",
                 "--batch-size", "8"]) == 0
    out = capsys.readouterr().out
    assert "suggested lr:" in out and "lr range test: finetune" in out


def test_a_crash_in_the_baseline_phase_resumes_and_a_rerun_works(tiny_bert, text_csv, tmp_path,
                                                                  capsys, monkeypatch):
    """The baseline's checkpoints live in <out>.ckpt/from-scratch/: --resume recognises them,
    and once the run is saved the same command runs again (it exited 2 before)."""
    from transferkit.finetune import estimator

    out = tmp_path / "run"
    args = ["--quiet", "fit", str(text_csv), "--out", str(out), "--backbone", tiny_bert,
            "--strategy", "bitfit", "--epochs", "1", "--lr", "1e-3"]
    real_fit = estimator.FineTuneClassifier.fit

    def crash_in_baseline(self, *a, **k):
        if self.init == "random":
            raise KeyboardInterrupt("killed in the baseline")
        return real_fit(self, *a, **k)

    monkeypatch.setattr(estimator.FineTuneClassifier, "fit", crash_in_baseline)
    assert main(args) == 130
    ckpt = out.with_name("run.ckpt")
    assert (ckpt / "seed0" / "state.json").is_file()
    (ckpt / "from-scratch" / "seed0").mkdir(parents=True)  # what a baseline epoch leaves
    monkeypatch.setattr(estimator.FineTuneClassifier, "fit", real_fit)
    assert main([*args, "--resume"]) == 0, capsys.readouterr().err
    assert not ckpt.exists()
    assert main(args) == 0, capsys.readouterr().err


def test_resume_with_other_settings_is_one_line(tiny_bert, text_csv, tmp_path, capsys,
                                               monkeypatch):
    from transferkit.finetune import estimator

    out = tmp_path / "run"
    args = ["--quiet", "fit", str(text_csv), "--out", str(out), "--backbone", tiny_bert,
            "--strategy", "bitfit", "--epochs", "2", "--lr", "1e-3", "--no-baseline"]

    def crash(*a, **k):
        raise KeyboardInterrupt

    # a first run that is killed after its epochs' checkpoints were written
    monkeypatch.setattr(estimator.Trainer, "_result", crash)
    assert main(args) == 130
    monkeypatch.undo()
    capsys.readouterr()
    assert main([*[a if a != "1e-3" else "1e-2" for a in args], "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the checkpoint in") and "lr=0.001 (now 0.01)" in err
    assert err.count("\n") == 1 and "drop --resume" in err
    assert not out.exists()
