"""Shared fixtures: real data under ../shared/data is optional and skipped when absent."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The tests run against this checkout's sources, whichever checkout the editable install
# points at (git worktrees), in this process and in the subprocesses the tests start.
sys.path.insert(0, str(ROOT / "src"))
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])
SHARED_DATA = Path(os.environ.get("TRANSFERKIT_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """Path under ../shared/data, or skip the test with a reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not found at {path} (CI has ../shared/data beside the repo)")
    return path


@pytest.fixture
def shared_data():
    return shared_path


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory):
    """The tests write features and ONNX exports to a cache of their own, never to the
    user's (``~/.cache/transferkit``): models built in temporary folders get new
    fingerprints each run, so their entries there would only pile up. The user's ONNX
    exports of registry backbones are hard-linked in, and the feature folders of those
    backbones linked, so the tests neither export nor extract them again."""
    from transferkit._io import cache_dir, onnx_cache_dir
    from transferkit.backbones import list_backbones

    user_onnx, user_features = onnx_cache_dir(), cache_dir() / "features"
    root = tmp_path_factory.mktemp("transferkit-cache")
    (root / "onnx").mkdir()
    (root / "features").mkdir()
    for info in list_backbones():  # registry names; schemes (hf:, file:) match no file
        for path in user_onnx.glob(f"{info.name}-*.onnx"):
            try:
                os.link(path, root / "onnx" / path.name)
            except OSError:  # another file system: it is exported again
                continue
            fingerprint = path.stem.rsplit("-", 1)[1]
            for folder in user_features.glob(f"{fingerprint}*"):  # fp32 and -bf16
                (root / "features" / folder.name).symlink_to(folder, target_is_directory=True)
    saved = {k: os.environ.get(k) for k in ("TRANSFERKIT_CACHE", "TRANSFERKIT_ONNX_CACHE")}
    os.environ.update(TRANSFERKIT_CACHE=str(root), TRANSFERKIT_ONNX_CACHE=str(root / "onnx"))
    yield root
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def _offline_quiet(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFERKIT_NO_PROGRESS", "1")


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """A fresh, empty feature cache for this test (exported ONNX models stay shared)."""
    from transferkit._io import onnx_cache_dir

    monkeypatch.setenv("TRANSFERKIT_ONNX_CACHE", str(onnx_cache_dir()))
    path = tmp_path / "cache"
    monkeypatch.setenv("TRANSFERKIT_CACHE", str(path))
    return path


def make_image_folder(root: Path, n_per_class: int = 10, size: int = 24, seed: int = 0) -> Path:
    """Two visually distinct classes of small PNGs: reddish squares vs. bluish stripes."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for label in ("red", "blue"):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            img = rng.integers(0, 60, size=(size, size, 3)).astype(np.uint8)
            if label == "red":
                img[4:-4, 4:-4, 0] = 200 + rng.integers(0, 55)
            else:
                img[:, ::4, 2] = 200 + rng.integers(0, 55)
            Image.fromarray(img).save(root / label / f"{i}.png")
    return root


@pytest.fixture
def image_folder(tmp_path):
    return make_image_folder(tmp_path / "images")


TEXTS_POS = [
    "a wonderful heartfelt film with great acting",
    "brilliant moving and funny, loved every minute",
    "superb story and a delightful cast",
    "an excellent charming movie, highly recommended",
    "great direction and a beautiful score",
    "joyful clever and touching throughout",
    "one of the best films this year, wonderful",
    "fantastic performances and a smart script",
    "lovely warm and genuinely funny",
    "a triumph: gorgeous, witty and kind",
    "i enjoyed it a lot, great fun",
    "smart, sweet and wonderfully acted",
]
TEXTS_NEG = [
    "a dull boring mess with terrible acting",
    "awful script and a waste of time",
    "painfully slow, i hated every minute",
    "the worst film i have seen, dreadful",
    "tedious lifeless and badly directed",
    "a stupid plot and wooden performances",
    "boring, ugly and far too long",
    "terrible dialogue and no story at all",
    "an incoherent, irritating disaster",
    "bland forgettable and poorly made",
    "i was bored and annoyed throughout",
    "clumsy, cheap and utterly pointless",
]


@pytest.fixture
def sentiment_texts():
    import numpy as np

    texts = TEXTS_POS + TEXTS_NEG
    y = np.array(["pos"] * len(TEXTS_POS) + ["neg"] * len(TEXTS_NEG))
    return texts, y
