"""The opt-in int8 engine: an int8-quantized copy of the ONNX export (static for images,
dynamic for text), built once and cached, features close to fp32 ones and cached apart."""

from types import SimpleNamespace

import numpy as np
import onnx
import pytest
from tiny_models import make_tiny_bert, make_tiny_vit

from transferkit import features
from transferkit.backbones import load_backbone
from transferkit.errors import TransferkitError
from transferkit.features import (
    ENGINES,
    cache_key,
    calibration_images,
    extract_features,
    onnx_model_path,
    quantize_onnx,
)

TEXTS = ["a wonderful heartfelt film", "dull boring mess", "great acting and a superb story",
         "terrible awful script waste of time", "loved every minute", "painfully slow"]


@pytest.fixture
def onnx_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERKIT_ONNX_CACHE", str(tmp_path / "onnx"))
    monkeypatch.setattr(features, "_SESSIONS", {})
    return tmp_path / "onnx"


@pytest.fixture(scope="module")
def vit(tmp_path_factory):
    return load_backbone(f"hf:{make_tiny_vit(tmp_path_factory.mktemp('vit'))}")


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return load_backbone(f"hf:{make_tiny_bert(tmp_path_factory.mktemp('bert'), dropout=0.0)}")


@pytest.fixture
def digit_images():
    from sklearn.datasets import load_digits

    from transferkit.data import to_uint8

    return to_uint8(load_digits().images[:40])


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def op_types(path) -> set[str]:
    return {node.op_type for node in onnx.load(str(path)).graph.node}


def test_int8_is_an_engine_and_names_its_own_cache_folder():
    assert "int8" in ENGINES
    assert cache_key("abc", "int8") == "abc-int8"


@pytest.mark.parametrize("model, added", [("vit", {"QuantizeLinear", "DequantizeLinear"}),
                                          ("bert", {"MatMulInteger", "DynamicQuantizeLinear"})])
def test_int8_features_come_from_a_quantized_model_close_to_fp32(model, added, request,
                                                                 digit_images, onnx_cache):
    backbone = request.getfixturevalue(model)
    items = digit_images if model == "vit" else TEXTS
    ref = extract_features(backbone, items, engine="onnx", cache=False)
    low = extract_features(backbone, items, engine="int8", cache=False)
    assert low.dtype == np.float32 and low.shape == ref.shape
    assert not np.array_equal(low, ref)
    assert cosines(low, ref).min() > 0.98
    quantized = onnx_model_path(backbone, "int8")
    assert quantized.name.endswith("-int8.onnx") and quantized.parent == onnx_cache
    assert added <= op_types(quantized) - op_types(onnx_model_path(backbone))


def test_the_quantized_model_is_built_once_and_rebuilt_when_damaged(vit, digit_images,
                                                                    onnx_cache, monkeypatch):
    first = extract_features(vit, digit_images, engine="int8", cache=False)
    path = onnx_model_path(vit, "int8")
    built = []
    real = features.quantize_onnx
    monkeypatch.setattr(features, "quantize_onnx", lambda *a: built.append(a) or real(*a))
    features._SESSIONS.clear()  # as in a new process: read from the cached file
    np.testing.assert_array_equal(extract_features(vit, digit_images, engine="int8",
                                                   cache=False), first)
    assert built == []
    path.write_bytes(path.read_bytes()[:100])  # truncated
    features._SESSIONS.clear()
    again = extract_features(vit, digit_images, engine="int8", cache=False)
    assert len(built) == 1  # quantized again (the same seeded calibration: the same model)
    np.testing.assert_allclose(again, first, atol=1e-6)


def test_int8_and_fp32_caches_do_not_mix(bert, onnx_cache, isolated_cache):
    ref = extract_features(bert, TEXTS, engine="onnx")
    before = features.STATS["extracted"]
    low = extract_features(bert, TEXTS, engine="int8")
    assert features.STATS["extracted"] - before == len(TEXTS)  # not read from fp32
    assert not np.array_equal(low, ref)
    fp = bert.fingerprint()
    assert {p.name for p in (isolated_cache / "features").iterdir()} == {fp, f"{fp}-int8"}


def test_calibration_images_are_seeded_natural_crops():
    crops = calibration_images(224, n=6)
    assert len(crops) == 6 and all(c.dtype == np.uint8 and c.ndim == 3 for c in crops)
    assert all(c.shape[0] == c.shape[1] >= 224 for c in crops)
    assert all(np.array_equal(a, b) for a, b in zip(crops, calibration_images(224, n=6),
                                                     strict=True))
    assert len({c.tobytes() for c in crops}) == 6


def test_int8_refuses_a_modality_it_does_not_quantize(tmp_path):
    table = SimpleNamespace(modality="tabular", name="tabular_mlp")
    with pytest.raises(TransferkitError, match="image and text backbones") as info:
        quantize_onnx(table, tmp_path / "t.onnx")
    assert "--engine onnx" in info.value.fix
    assert not (tmp_path / "t.onnx").exists()
