"""The fast extraction path matches PyTorch, and the cache makes a second run free."""

import numpy as np
import pytest

from transferkit import features
from transferkit.backbones import load_backbone
from transferkit.errors import TransferkitError
from transferkit.features import TorchRunner, extract_features


@pytest.fixture(scope="module")
def effnet():
    return load_backbone("efficientnet_lite0")


@pytest.fixture
def digit_images():
    from sklearn.datasets import load_digits

    from transferkit.data import to_uint8

    return to_uint8(load_digits().images[:24])


def test_onnx_features_match_pytorch_reference(effnet, digit_images, isolated_cache):
    fast = extract_features(effnet, digit_images, engine="onnx", cache=False)
    ref = TorchRunner(effnet)(effnet.prepare(list(digit_images)))
    diff = float(np.abs(fast - ref).max())
    print(f"max abs difference ONNX Runtime vs PyTorch: {diff:.2e}")
    assert diff < 1e-3
    assert np.corrcoef(fast.ravel(), ref.ravel())[0, 1] > 0.99999


def test_second_extraction_reads_the_cache(effnet, digit_images, isolated_cache):
    before = dict(features.STATS)
    first = extract_features(effnet, digit_images)
    assert features.STATS["extracted"] - before["extracted"] == len(digit_images)
    mid = dict(features.STATS)
    again = extract_features(effnet, digit_images[::-1][:10])  # a reordered subset
    assert features.STATS["extracted"] == mid["extracted"]  # nothing went through the model
    assert np.array_equal(again, first[::-1][:10])


def test_cache_key_includes_content(effnet, digit_images, isolated_cache):
    extract_features(effnet, digit_images[:4])
    before = features.STATS["extracted"]
    changed = digit_images[:4].copy()
    changed[0, 0, 0] ^= 1
    extract_features(effnet, changed)
    assert features.STATS["extracted"] - before == 1  # only the edited image is new


def test_text_extraction_keeps_input_order(isolated_cache):
    bb = load_backbone("minilm")
    texts = ["short", "a much much longer sentence about transfer learning", "mid length one"]
    out = extract_features(bb, texts, cache=False)
    single = extract_features(bb, [texts[1]], cache=False)
    assert np.allclose(out[1], single[0], atol=1e-5)


def test_unknown_engine(effnet, digit_images):
    with pytest.raises(TransferkitError, match="unknown engine"):
        extract_features(effnet, digit_images, engine="tpu")
