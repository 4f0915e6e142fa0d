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


def _dead_pid() -> int:
    import subprocess

    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_kill_between_the_swaps_two_renames_is_repaired(fitted, tmp_path):
    """The old folder had been moved aside and the new one not yet moved in: the next load
    (or save) puts the old run back and removes the dead process's staging folder."""
    clf, texts = fitted
    run = tmp_path / "run"
    clf.save(run)
    pid = _dead_pid()
    run.rename(tmp_path / f".run.old-{pid}")
    (tmp_path / f".run.stage-{pid}-x1y2").mkdir()
    (tmp_path / f".run.stage-{pid}-x1y2" / "half.safetensors").write_bytes(b"half")
    assert np.allclose(load_run(run).predict_proba(texts), clf.predict_proba(texts))
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    (tmp_path / f".run.stage-{pid}-x3").mkdir()  # a save cleans them too
    clf.save(run)
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_a_live_writers_staging_folder_is_left_alone(fitted, tmp_path):
    import os

    clf, _ = fitted
    clf.save(tmp_path / "run")
    busy = tmp_path / f".run.stage-{os.getppid()}-abc"  # a process that is running
    busy.mkdir()
    clf.save(tmp_path / "run")
    assert busy.is_dir()


def test_a_full_disk_is_one_line_and_keeps_the_previous_run(fitted, tmp_path, monkeypatch):
    import errno

    import transferkit._io as io_module

    clf, texts = fitted
    run = tmp_path / "run"
    clf.save(run)
    before = {p.name: p.read_bytes() for p in run.iterdir()}

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(io_module, "save_file", full)
    with pytest.raises(TransferkitError, match="no space left on the device") as info:
        clf.save(run)
    assert "\n" not in str(info.value) and "nothing there was changed" in str(info.value)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_a_full_disk_for_a_cache_file_is_one_line(tmp_path):
    import errno

    from transferkit._io import atomic_path

    with pytest.raises(TransferkitError, match="no space left on the device while writing"):
        with atomic_path(tmp_path / "model.onnx"):
            raise RuntimeError("export failed") from OSError(errno.ENOSPC, "disk full")
    assert list(tmp_path.iterdir()) == []
