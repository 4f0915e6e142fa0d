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


@pytest.fixture
def tiny_bert_folder(tmp_path):
    from tiny_models import make_tiny_bert

    return make_tiny_bert(tmp_path / "bert", dropout=0.0)


def test_hf_cache_key_covers_config_and_tokenizer_and_paths_are_canonical(
        tiny_bert_folder, tmp_path, monkeypatch, isolated_cache):
    import json

    monkeypatch.chdir(tiny_bert_folder.parent)
    relative = load_backbone(f"hf:{tiny_bert_folder.name}")
    absolute = load_backbone(f"hf:{tiny_bert_folder}")
    assert relative.fingerprint() == absolute.fingerprint()  # one model, one cache
    config = tiny_bert_folder / "config.json"
    settings = json.loads(config.read_text())
    settings["num_hidden_layers"] = 1
    config.write_text(json.dumps(settings))
    assert load_backbone(f"hf:{tiny_bert_folder}").fingerprint() != absolute.fingerprint()


def test_a_run_on_a_relative_hf_folder_reloads(tiny_bert_folder, tmp_path, monkeypatch,
                                               isolated_cache, sentiment_texts):
    from transferkit import TransferClassifier
    from transferkit.run import load_run

    texts, y = sentiment_texts
    monkeypatch.chdir(tiny_bert_folder.parent)
    clf = TransferClassifier(backbone=f"hf:{tiny_bert_folder.name}").fit(texts, y)
    clf.save(tmp_path / "run")
    monkeypatch.chdir(tmp_path.parent)  # somewhere else
    np.testing.assert_allclose(load_run(tmp_path / "run").predict_proba(texts),
                               clf.predict_proba(texts), atol=1e-5)


def test_a_damaged_onnx_export_is_rebuilt(tiny_bert_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERKIT_ONNX_CACHE", str(tmp_path / "onnx"))
    bb = load_backbone(f"hf:{tiny_bert_folder}")
    texts = ["a good film", "bad"]
    reference = extract_features(bb, texts, engine="torch", cache=False)
    path = features.onnx_model_path(bb)
    extract_features(bb, texts, engine="onnx", cache=False)
    path.write_bytes(path.read_bytes()[:100])  # truncated
    features._SESSIONS.clear()  # as in a new process: the session is built from the file
    np.testing.assert_allclose(extract_features(bb, texts, engine="onnx", cache=False),
                               reference, atol=1e-4)


def test_image_cache_keys_see_palettes_and_file_content(effnet, tmp_path, isolated_cache):
    from PIL import Image

    from transferkit.data import item_digests

    index = np.arange(64, dtype=np.uint8).reshape(8, 8)
    a, b = Image.fromarray(index, "P"), Image.fromarray(index, "P")
    a.putpalette(list(range(256)) * 3)
    b.putpalette(list(range(255, -1, -1)) * 3)
    assert item_digests([a], "image")[0] != item_digests([b], "image")[0]
    path = tmp_path / "x.png"
    a.convert("RGB").save(path)
    first = item_digests(np.array([str(path)]), "image")[0]
    b.convert("RGB").save(path)
    assert item_digests(np.array([str(path)]), "image")[0] != first  # content, not the path


def test_16_bit_images_are_scaled_not_clipped(tmp_path):
    from PIL import Image

    from transferkit.data.images import load_rgb

    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (8, 1))
    Image.fromarray(ramp).save(tmp_path / "ramp16.png")
    rgb = np.asarray(load_rgb(str(tmp_path / "ramp16.png")))
    assert rgb[0, 0, 0] < 5 and 120 < rgb[0, 32, 0] < 135 and rgb[0, -1, 0] > 250


def test_empty_input_and_an_empty_cache_shard(effnet, digit_images, isolated_cache):
    assert extract_features(effnet, [], cache=False).shape == (0, effnet.feature_dim)
    extract_features(effnet, digit_images[:2])
    shard = next((isolated_cache / "features").rglob("*.keys.npy"))
    shard.write_bytes(b"")  # e.g. a crash between creating and writing the file
    again = extract_features(effnet, digit_images[:2])
    assert again.shape == (2, effnet.feature_dim) and np.isfinite(again).all()


def test_weights_digest_sees_permuted_weights(tiny_bert_folder):
    import torch

    bb = load_backbone(f"hf:{tiny_bert_folder}")
    bb._digest = ""
    before = bb.weights_digest()
    with torch.no_grad():
        emb = bb.model.embeddings.word_embeddings.weight
        emb[[5, 6]] = emb[[6, 5]].clone()  # same sum, other weights
    assert bb.weights_digest() != before


def test_a_failed_extraction_keeps_the_batches_already_done(effnet, tmp_path, isolated_cache):
    from PIL import Image

    paths = []
    for i in range(5):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(np.full((32, 32, 3), 40 * i, np.uint8)).save(paths[-1])
    (tmp_path / "4.png").write_bytes(b"not a png")
    with pytest.raises(TransferkitError, match="cannot decode image"):
        extract_features(effnet, paths, batch_size=2)
    before = features.STATS["extracted"]
    extract_features(effnet, paths[:4], batch_size=2)
    assert features.STATS["extracted"] == before  # the first 4 came from the cache
