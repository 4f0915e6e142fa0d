"""The opt-in bf16 engine: float32 features close to fp32 ones, cached apart from them."""

import warnings

import numpy as np
import pytest
import torch

from transferkit import features
from transferkit.backbones import load_backbone
from transferkit.features import ENGINES, cache_key, extract_features


@pytest.fixture(scope="module")
def lenet():
    return load_backbone("lenet")


@pytest.fixture
def digit_images():
    from sklearn.datasets import load_digits

    from transferkit.data import to_uint8

    return to_uint8(load_digits().images[:40])


@pytest.fixture
def eager_compile(monkeypatch):
    """torch.compile as the identity: the bf16 engine's own logic, without the compile time."""
    monkeypatch.setattr(torch, "compile", lambda model, **kwargs: model)
    monkeypatch.setattr(features, "_COMPILED", {})


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_bf16_is_an_engine_and_names_its_own_cache_folder():
    assert "bf16" in ENGINES
    assert cache_key("abc", "bf16") == "abc-bf16"
    for fp32 in ("auto", "onnx", "torch"):  # existing caches keep their folder
        assert cache_key("abc", fp32) == "abc"


def test_compiled_bf16_features_are_float32_and_close_to_fp32(lenet, digit_images,
                                                              monkeypatch):
    monkeypatch.setattr(features, "_COMPILED", {})
    ref = extract_features(lenet, digit_images, engine="torch", cache=False)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fast = extract_features(lenet, digit_images, batch_size=16, engine="bf16",
                                cache=False)  # 16 + 16 + 8: the short batch is padded
    assert not [w for w in record if "torch.compile failed" in str(w.message)]
    assert fast.dtype == np.float32 and fast.shape == ref.shape
    assert not np.array_equal(fast, ref)  # it did run in reduced precision
    cos = cosines(fast, ref)
    print(f"bf16 vs fp32: min cosine {cos.min():.5f}, max abs diff {np.abs(fast - ref).max():.3g}")
    assert cos.min() > 0.99
    assert np.abs(fast - ref).max() < 0.05 * np.abs(ref).max()
    runner = features._COMPILED[lenet.fingerprint()]
    assert runner.compiled is not None  # built once and kept for this fingerprint
    assert features._engine(lenet, "bf16", lenet.fingerprint()) is runner


def test_bf16_leaves_the_callers_backbone_in_fp32(lenet, digit_images, eager_compile):
    extract_features(lenet, digit_images[:4], engine="bf16", cache=False)
    assert all(p.dtype == torch.float32 for p in lenet.parameters())


def test_bf16_and_fp32_caches_do_not_mix(lenet, digit_images, isolated_cache, eager_compile):
    ref = extract_features(lenet, digit_images, engine="torch")
    before = features.STATS["extracted"]
    low = extract_features(lenet, digit_images, engine="bf16")
    assert features.STATS["extracted"] - before == len(digit_images)  # not read from fp32
    assert not np.array_equal(low, ref)
    mid = features.STATS["extracted"]
    again_low = extract_features(lenet, digit_images, engine="bf16")
    again_ref = extract_features(lenet, digit_images, engine="torch")
    assert features.STATS["extracted"] == mid  # each read its own cache
    np.testing.assert_array_equal(again_low, low)
    np.testing.assert_array_equal(again_ref, ref)
    fp = lenet.fingerprint()
    assert {p.name for p in (isolated_cache / "features").iterdir()} == {fp, f"{fp}-bf16"}


def test_bf16_then_fp32_extracts_fp32_again(lenet, digit_images, isolated_cache,
                                            eager_compile):
    low = extract_features(lenet, digit_images, engine="bf16")
    before = features.STATS["extracted"]
    ref = extract_features(lenet, digit_images, engine="torch")
    assert features.STATS["extracted"] - before == len(digit_images)
    assert not np.array_equal(low, ref)


def test_failed_compilation_warns_once_and_runs_eager_bf16(lenet, digit_images,
                                                           monkeypatch):
    class Broken:
        calls = 0

        def __call__(self, **inputs):
            Broken.calls += 1
            raise RuntimeError("no C++ compiler\nsecond line")

    monkeypatch.setattr(torch, "compile", lambda model, **kwargs: Broken())
    monkeypatch.setattr(features, "_COMPILED", {})
    ref = extract_features(lenet, digit_images, engine="torch", cache=False)
    with pytest.warns(UserWarning, match="torch.compile failed") as record:
        out = extract_features(lenet, digit_images, batch_size=8, engine="bf16", cache=False)
    assert len(record) == 1 and "\n" not in str(record[0].message)
    assert Broken.calls == 1  # not retried on every batch
    assert out.dtype == np.float32 and cosines(out, ref).min() > 0.99
