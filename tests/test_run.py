"""Run dirs: atomic save (an interrupted save leaves the old run loadable), exact reload."""

import numpy as np
import pytest

from transferkit import TransferClassifier
from transferkit.errors import TransferkitError
from transferkit.run import load_run


@pytest.fixture
def fitted(sentiment_texts):
    texts, y = sentiment_texts
    return TransferClassifier(backbone="minilm").fit(texts, y), texts


def test_interrupted_save_keeps_the_previous_run(fitted, tmp_path, monkeypatch):
    clf, texts = fitted
    run = tmp_path / "run"
    clf.save(run)
    before = {p.name: p.read_bytes() for p in run.iterdir()}

    import transferkit.runformat as run_module

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr(run_module, "write_json", crash)
    with pytest.raises(KeyboardInterrupt):
        clf.save(run)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no staging folder left behind
    assert np.allclose(load_run(run).predict_proba(texts), clf.predict_proba(texts))


def test_refuses_to_overwrite_a_foreign_folder(fitted, tmp_path):
    clf, _ = fitted
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("precious")
    with pytest.raises(TransferkitError, match="not a transferkit run dir"):
        clf.save(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "precious"


def test_damaged_weights_are_a_clear_error(fitted, tmp_path):
    clf, _ = fitted
    clf.save(tmp_path / "run")
    (tmp_path / "run" / "head.safetensors").write_bytes(b"garbage")
    with pytest.raises(TransferkitError, match="cannot read weights file"):
        load_run(tmp_path / "run")
