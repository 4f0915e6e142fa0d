"""`transferkit rank`: candidates scored on the target's training split (LogME, H-score,
NCE/LEEP where a source head exists), --fit-top, source datasets by domain distance, and
the one-line errors."""

import json

import numpy as np
import pytest
from sklearn.datasets import load_digits

from transferkit.cli import main
from transferkit.data.dataset import Dataset
from transferkit.pretrain import pretrain_supervised
from transferkit.ranking.candidates import rank_candidates
from transferkit.report import build_report


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """sklearn's 8x8 digits: a source run pretrained on 0-4, the target 5-9 (.npz)."""
    root = tmp_path_factory.mktemp("rank")
    d = load_digits()
    images = (d.images * 16).clip(0, 255).astype(np.uint8)
    low = d.target < 5
    source = Dataset(images[low], d.target[low], "image", name="digits 0-4")
    pretrain_supervised(source, "lenet", epochs=2).save(root / "src")
    np.savez(root / "target.npz", X=images[~low], y=d.target[~low])
    np.savez(root / "target_unlabelled.npz", X=images[~low])
    return root


def test_rank_candidates_scores_each_on_the_training_split(digits):
    target = np.load(digits / "target.npz")
    data = Dataset(target["X"], target["y"], "image", name="digits 5-9")
    ranking = rank_candidates(data, ["lenet", f"file:{digits / 'src'}"], test_size=0.25,
                              progress=False)
    assert len(ranking.train) + len(ranking.test) == len(data)
    random, trained = ranking.candidates
    assert random.scores["logme"] is not None and trained.scores["logme"] is not None
    # LEEP and NCE need a source head: the random LeNet has none, the pretrain run has one
    assert random.scores["leep"] is None and "source" in random.reasons["leep"]
    assert trained.scores["leep"] is not None and trained.scores["nce"] is not None
    assert set(ranking.order("logme")) == {"lenet", f"file:{digits / 'src'}"}
    table = ranking.table()
    assert "n/a" in table and "logme" in table


def test_rank_cli_prints_the_table_and_writes_json(digits, tmp_path, capsys):
    out = tmp_path / "ranking"
    code = main(["rank", str(digits / "target.npz"), "--candidates",
                 f"lenet,file:{digits / 'src'}", "--fit-top", "2", "--epochs", "1",
                 "--out", str(out), "--quiet"])
    text = capsys.readouterr().out
    assert code == 0
    assert "predicted order (logme)" in text and "actual order" in text
    assert "ranking 2 candidates took" in text
    saved = json.loads((out / "ranking.json").read_text())
    assert len(saved["candidates"]) == 2 and len(saved["actual"]) == 2
    assert all(0 <= v["accuracy"] <= 1 for v in saved["actual"].values())
    page = build_report([out], tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'data-plot="score-vs-accuracy"' in page


@pytest.mark.parametrize("case, message", [
    (["--candidates", "lenet,minilm"], "reads text inputs"),
    (["--candidates", "file:{dir}/target.npz"], "neither a run dir"),
    (["--candidates", "lenet", "--fit-top", "2"], "more candidates than the 1 given"),
    (["--candidates", "lenet,lenet"], "named twice"),
    ([], "either --candidates"),
    (["--candidates", "lenet", "--score", "nope"], "unknown"),
    (["--candidates", "lenet", "--engine", "nope"], "unknown engine 'nope'"),
    (["--candidates", "lenet", "--engine", "int8"], "has no ONNX export"),
])
def test_bad_rank_input_is_one_line_exit_2(digits, tmp_path, capsys, case, message):
    args = [a.format(dir=digits) for a in case]
    assert main(["rank", str(digits / "target.npz"), *args, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and " -- " in err and len(err.splitlines()) == 1
    assert message in err, err


def _blobs(n: int, shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian classes in 5 dimensions, moved by ``shift`` towards class 0 and away
    from class 1 (a domain shift that a head trained on the moved data gets wrong)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n // 3)
    centres = np.eye(3, 5) * 4.0
    return centres[y] + np.array([shift, -shift, 0, 0, 0]) + rng.normal(size=(len(y), 5)), y


def test_rank_sources_cli_orders_the_closest_source_first(tmp_path, capsys):
    """``rank TARGET --sources``: on feature arrays (no backbone) the source drawn from the
    target's distribution comes first under every distance and the source-head score."""
    for name, shift, seed in [("target", 0.0, 0), ("far", 3.0, 1), ("near", 0.1, 2)]:
        X, y = _blobs(90, shift, seed)
        np.savez(tmp_path / f"{name}.npz", X=X, y=y)
    out = tmp_path / "sources"
    code = main(["rank", str(tmp_path / "target.npz"), "--sources",
                 f"{tmp_path / 'far.npz'},{tmp_path / 'near.npz'}", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "features: the features as given" in text
    orders = [line for line in text.splitlines() if line.startswith("order by ")]
    assert orders and all(line.split(": ")[1].startswith(str(tmp_path / "near.npz"))
                          for line in orders), orders
    saved = json.loads((out / "ranking.json").read_text())
    assert [r["source"] for r in saved["sources"]] == [str(tmp_path / "far.npz"),
                                                        str(tmp_path / "near.npz")]
    page = build_report([out], tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Ranking of sources" in page and "near.npz" in page


def test_rank_sources_cli_needs_two_sources(tmp_path, capsys):
    X, y = _blobs(30, 0.0, 0)
    np.savez(tmp_path / "t.npz", X=X, y=y)
    assert main(["rank", str(tmp_path / "t.npz"), "--sources", str(tmp_path / "t.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "nothing to order" in err and len(err.splitlines()) == 1
