"""``transferkit adapt``: source vs. target from files, the source-only row, the oracle
column clearly labelled, a saved model that predicts; bad input -> one line, exit 2."""

import numpy as np
import pytest
from deep_testdata import digit_domains

from transferkit.cli import main
from transferkit.report import build_report
from transferkit.results import read_results
from transferkit.run import load_run


@pytest.fixture
def domains(tmp_path):
    Xs, ys, Xt, yt = digit_domains(n=80)
    np.savez(tmp_path / "source.npz", X=Xs, y=ys)
    np.savez(tmp_path / "target.npz", X=Xt)  # no labels: the target needs none
    np.savez(tmp_path / "target_test.npz", X=Xt, y=yt)
    np.savez(tmp_path / "features.npz", X=np.ones((20, 4)) * np.arange(20)[:, None],
             y=np.arange(20) % 2)
    np.savez(tmp_path / "other_classes.npz", X=Xt, y=np.where(np.arange(len(yt)) % 2, yt, 77))
    return tmp_path


def test_adapt_reports_method_and_source_only_then_saves(domains, capsys):
    out = domains / "run"
    code = main(["--quiet", "adapt", "--source", str(domains / "source.npz"),
                 "--target", str(domains / "target.npz"), "--target-test",
                 str(domains / "target_test.npz"), "--method", "deep-coral", "--epochs", "2",
                 "--oracle", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "deep-coral (epoch" in text and "source-only (epoch" in text
    assert "chosen by selector 'dev' without target labels" in text
    assert "NOT a valid estimate" in text and "oracle_accuracy" in text
    results = read_results(out)
    assert results["kind"] == "adapt-deep" and results["selector"] == "dev"
    assert len(results["history"]["deep-coral"]) == 2 and "selection_score" in \
        results["history"]["source-only"][0]
    Xt = np.load(domains / "target_test.npz")["X"]
    assert load_run(out).predict(Xt).shape == (len(Xt),)
    csv = domains / "pred.csv"  # the CLI predicts on arrays like the ones it trained on
    assert main(["predict", str(out), str(domains / "target_test.npz"), "-o", str(csv)]) == 0
    rows = csv.read_text().splitlines()
    assert len(rows) == 1 + len(Xt) and rows[1].startswith("0,")
    # the report draws the target test errors and both domains before and after adaptation
    page = build_report([out], domains / "report.html").read_text(encoding="utf-8")
    assert 'data-plot="confusion"' in page
    assert 'data-plot="domains-before"' in page and 'data-plot="domains-after"' in page
    assert "the source-only model: by domain" in page


@pytest.mark.parametrize("args, message", [
    (["--method", "nope"], "error: unknown domain-adaptation method 'nope'"),
    (["--selector", "test"], "error: unknown selector 'test'"),
    (["--oracle"], "error: --oracle needs --target-test"),
    (["--trade-off", "nan"], "error: trade_off must be a finite number >= 0"),
    (["--trade-off", "-1"], "error: trade_off must be a finite number >= 0"),
    (["--params", '{"width": 3}'], "error: bad options for method 'dann'"),
    (["--params", '{"hidden": 8}', "--method", "source-only"], "error: --params has nothing"),
    (["--lr", "-1"], "error: lr must be a finite number >= 0, got -1.0"),
    (["--lr", "inf"], "error: lr must be a finite number >= 0, got inf"),
    (["--method", "nope", "--target-labelled", "x.npz"], "error: unknown domain-adaptation"),
    (["--source", "{d}/features.npz", "--target", "{d}/features.npz", "--backbone", "lenet"],
     "error: {d}/features.npz holds tabular features; no pretrained backbone reads those"),
    (["--target-test", "{d}/other_classes.npz"],  # found before any training
     "error: other_classes has label(s) 77 that source does not have"),
])
def test_bad_input_is_one_line_exit_2(domains, capsys, args, message):
    code = main(["adapt", "--source", str(domains / "source.npz"), "--target",
                 str(domains / "target.npz"), *(a.replace("{d}", str(domains)) for a in args)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(message.replace("{d}", str(domains)))
    assert len(err.strip().splitlines()) == 1


def test_unlabelled_source_is_refused(domains, capsys):
    code = main(["adapt", "--source", str(domains / "target.npz"), "--target",
                 str(domains / "target.npz")])
    assert code == 2 and "has no labels" in capsys.readouterr().err


def test_target_labels_are_ignored_and_a_flat_image_folder_is_a_target(domains, capsys):
    from PIL import Image

    Xt = np.load(domains / "target.npz")["X"]
    np.savez(domains / "one_class.npz", X=Xt, y=np.zeros(len(Xt)))
    flat = domains / "flat"
    flat.mkdir()
    for i, image in enumerate(Xt[:20]):
        Image.fromarray(image).save(flat / f"{i}.png")
    for target in ("one_class.npz", "flat"):
        code = main(["--quiet", "adapt", "--source", str(domains / "source.npz"), "--target",
                     str(domains / target), "--method", "deep-coral", "--epochs", "1",
                     "--no-baseline"])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert "labels unused" in captured.out


def test_a_foreign_out_folder_fails_before_any_training(domains, capsys):
    out = domains / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    code = main(["--quiet", "adapt", "--source", str(domains / "source.npz"), "--target",
                 str(domains / "target.npz"), "--epochs", "1", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2 and "not a transferkit run dir" in captured.err
    assert "chosen by selector" not in captured.out  # nothing was trained
    assert (out / "notes.txt").read_text() == "keep me"


def test_a_diverging_run_is_one_line_and_saves_nothing(domains, capsys):
    code = main(["--quiet", "adapt", "--source", str(domains / "source.npz"), "--target",
                 str(domains / "target.npz"), "--lr", "1e9", "--epochs", "2", "--no-baseline",
                 "--out", str(domains / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "diverged" in err and len(err.strip().splitlines()) == 1, err
    assert not (domains / "run").exists()


def test_a_source_folder_with_a_val_split_selects_on_it(domains, capsys):
    from PIL import Image

    source = np.load(domains / "source.npz")
    root = domains / "src"
    for i, (image, label) in enumerate(zip(source["X"], source["y"], strict=True)):
        folder = root / ("val" if i % 4 == 0 else "train") / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i}.png")
    n_val = len(list((root / "val").rglob("*.png")))
    code = main(["--quiet", "adapt", "--source", str(root), "--target",
                 str(domains / "target.npz"), "--method", "deep-coral", "--epochs", "1",
                 "--no-baseline"])
    out = capsys.readouterr().out
    assert code == 0 and f"its {n_val} 'val' samples held out for selection" in out
