"""SmallResNet (``resnet_small``): the CIFAR ResNet shape, layer groups, seeded init, and
save/load through backbone checkpoints."""

import numpy as np
import pytest
import torch

from transferkit.backbones import list_backbones, load_backbone
from transferkit.backbones.checkpoint import load_backbone_file, save_backbone
from transferkit.backbones.small_resnet import SmallResNet
from transferkit.errors import TransferkitError


def test_registered_with_a_description():
    info = {b.name: b for b in list_backbones()}["resnet_small"]
    assert info.modality == "image" and "32x32" in info.description and info.available()
    bb = load_backbone("resnet_small")
    assert isinstance(bb, SmallResNet) and not bb.training


@pytest.mark.parametrize("width,blocks", [(1, 3), (2, 1)])
def test_shapes_and_feature_dim(width, blocks):
    bb = SmallResNet(width=width, blocks=blocks).eval()
    assert bb.feature_dim == 64 * width
    with torch.no_grad():
        assert bb(pixel_values=torch.randn(2, 3, 32, 32)).shape == (2, 64 * width)
        assert bb(pixel_values=torch.randn(2, 1, 32, 32)).shape == (2, 64 * width)  # grey
    convs = [m for m in bb.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) == 6 * blocks + 1  # ResNet-(6n+2): the 3x3 convs, the fc is the head


def test_resnet20_has_its_parameter_count():
    # the CIFAR ResNet-20 is 0.27M parameters with its fc; 1x1 projection shortcuts
    # (two of them) add a few thousand
    n = sum(p.numel() for p in SmallResNet().parameters())
    assert 265_000 < n < 280_000


def test_prepare_resizes_any_image_to_32x32_rgb():
    bb = SmallResNet()
    grey = np.random.default_rng(0).integers(0, 255, (3, 16, 16), dtype=np.uint8)
    x = bb.prepare(list(grey))["pixel_values"]
    assert x.shape == (3, 3, 32, 32) and x.dtype == torch.float32
    assert torch.equal(x[:, 0], x[:, 1])
    assert x.min() >= -1 and x.max() <= 1


def test_layer_groups_cover_every_parameter_once():
    bb = SmallResNet(blocks=2)
    groups = bb.layer_groups()
    assert [g.name for g in groups] == ["stem", "stage1", "stage2", "stage3"]
    ids = [id(p) for g in groups for p in g.parameters()]
    assert len(ids) == len(set(ids)) and set(ids) == {id(p) for p in bb.parameters()}


def test_seeded_init_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    a, b, c = SmallResNet(seed=0), SmallResNet(seed=0), SmallResNet(seed=1)
    assert torch.equal(torch.rand(1), expected)
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert not torch.equal(a.stem[0].weight, c.stem[0].weight)


def test_save_and_load_give_identical_features(tmp_path):
    bb = SmallResNet(width=2, blocks=1, seed=3)
    with torch.no_grad():  # move the BN statistics and weights away from their init
        bb.train()(pixel_values=torch.randn(8, 3, 32, 32))
        for p in bb.parameters():
            p.add_(0.01 * torch.randn_like(p))
    bb.eval()
    path = tmp_path / "resnet.safetensors"
    save_backbone(bb, path)
    again = load_backbone_file(path)
    assert isinstance(again, SmallResNet) and again.init_config() == {
        "width": 2, "blocks": 1, "seed": 3}
    assert again.describe()["init_config"] == bb.init_config()
    x = bb.prepare(list(np.random.default_rng(1).integers(0, 255, (4, 20, 20, 3),
                                                          dtype=np.uint8)))
    with torch.no_grad():
        assert torch.equal(bb(**x), again(**x))
    assert load_backbone("resnet_small", {"width": 2}).feature_dim == 128


@pytest.mark.parametrize("kwargs,match", [({"width": 0}, "width"), ({"blocks": 0}, "blocks"),
                                          ({"width": 1.5}, "width")])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(TransferkitError, match=match):
        SmallResNet(**kwargs)
    with pytest.raises(TransferkitError, match="does not take"):
        load_backbone("resnet_small", {"depth": 20})
