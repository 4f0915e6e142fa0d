"""Self-supervised pretraining: the losses against direct formulas, the views, the projection
head kept out of the backbone, the k-NN monitor, train_self_supervised and its one-line
errors."""

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from transferkit.backbones import Backbone, LayerGroup, Preprocessing
from transferkit.backbones.checkpoint import load_backbone_file, save_backbone
from transferkit.backbones.lenet import LeNet
from transferkit.data.images import to_uint8
from transferkit.errors import TransferkitError
from transferkit.finetune import FineTuneModel, TrainConfig, Trainer
from transferkit.finetune.selfsup import (
    SELF_SUPERVISED,
    KNNMonitor,
    SimCLR,
    VICReg,
    knn_accuracy,
    make_image_views,
    nt_xent,
    scarf_corrupt,
    train_self_supervised,
    vicreg_terms,
)


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return to_uint8(d.images), d.target


# ---------------------------------------------------------------------- the losses
def nt_xent_direct(z1: np.ndarray, z2: np.ndarray, t: float) -> float:
    """NT-Xent anchor by anchor, in float64 (the paper's l(i, j) summed over both views)."""
    z = np.concatenate([z1, z2]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n2 = len(z)
    n = n2 // 2
    total = 0.0
    for i in range(n2):
        p = (i + n) % n2
        num = np.exp(z[i] @ z[p] / t)
        den = sum(np.exp(z[i] @ z[k] / t) for k in range(n2) if k != i)
        total += -np.log(num / den)
    return total / n2


@pytest.mark.parametrize("t", [0.5, 0.2, 1.0])
def test_nt_xent_equals_the_direct_formula(t):
    rng = np.random.default_rng(0)
    z1, z2 = rng.normal(size=(5, 7)), rng.normal(size=(5, 7))
    got = nt_xent(torch.tensor(z1), torch.tensor(z2), t)
    assert float(got) == pytest.approx(nt_xent_direct(z1, z2, t), rel=1e-5)


def test_nt_xent_is_low_for_matching_views_and_high_for_swapped_ones():
    z = torch.eye(4) * 5
    assert nt_xent(z, z, 0.5) < nt_xent(z, z.roll(1, dims=0), 0.5)


def test_vicreg_terms_equal_the_direct_formula():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(9, 4)) * 0.5, rng.normal(size=(9, 4)) * 2
    got = {k: float(v) for k, v in vicreg_terms(torch.tensor(a), torch.tensor(b)).items()}
    assert got["invariance"] == pytest.approx(np.mean((a - b) ** 2), rel=1e-5)
    var = sum(np.mean(np.maximum(0, 1 - np.sqrt(x.var(axis=0, ddof=1) + 1e-4))) / 2
              for x in (a, b))
    assert got["variance"] == pytest.approx(var, rel=1e-5)
    cov = 0.0
    for x in (a, b):
        c = np.cov(x, rowvar=False)
        cov += (np.sum(c**2) - np.sum(np.diag(c) ** 2)) / x.shape[1]
    assert got["covariance"] == pytest.approx(cov, rel=1e-5)
    vic = VICReg(4)
    assert float(vic.criterion(torch.tensor(a), torch.tensor(b))) == pytest.approx(
        25 * got["invariance"] + 25 * got["variance"] + got["covariance"], rel=1e-5)


# ---------------------------------------------------------------------- the views
def test_image_views_keep_shape_and_differ_between_draws():
    view = make_image_views(LeNet().preprocessing)
    x = LeNet().prepare(to_uint8(load_digits().images[:6]))["pixel_values"]
    torch.manual_seed(0)
    a, b = view(x), view(x)
    assert a.shape == x.shape == (6, 1, 28, 28) and a.dtype == x.dtype
    assert not torch.equal(a, b) and not torch.equal(a, x)
    assert a.min() >= -1 - 1e-6 and a.max() <= 1 + 1e-6  # still in the normalised range
    rgb = torch.rand(3, 3, 32, 32) * 2 - 1
    assert view(rgb).shape == rgb.shape


def test_the_flip_is_off_by_default_and_an_option():
    names = lambda v: [type(op).__name__ for op in v.pipeline]  # noqa: E731
    pre = LeNet().preprocessing
    assert "RandomHorizontalFlip" not in names(make_image_views(pre))
    assert "RandomHorizontalFlip" in names(make_image_views(pre, flip=True))


def test_scarf_takes_each_corrupted_entry_from_another_row_of_its_column():
    torch.manual_seed(0)
    x = torch.arange(40, dtype=torch.float32).view(8, 5)  # every value distinct
    out = scarf_corrupt(x, 0.5)
    changed = out != x
    assert 0.2 < changed.float().mean() < 0.8
    for i, j in zip(*torch.nonzero(changed, as_tuple=True), strict=True):
        rows = (x[:, j] == out[i, j]).nonzero().flatten().tolist()
        assert rows and rows[0] != int(i)
    assert torch.equal(scarf_corrupt(x, 0.0), x)
    assert bool((scarf_corrupt(x, 1.0) != x).all())
    codes = torch.arange(12).view(6, 2)
    assert scarf_corrupt(codes, 0.7).dtype == torch.int64


# ---------------------------------------------------------------------- the projection head
def test_the_projection_head_trains_but_is_not_part_of_the_backbone(digits, tmp_path):
    X, _ = digits
    backbone = LeNet()
    keys = set(backbone.state_dict())
    objective = SimCLR(backbone.feature_dim)
    before = [p.detach().clone() for p in objective.projector.parameters()]
    model = FineTuneModel(backbone, 2)
    cfg = TrainConfig(epochs=1, batch_size=32, lr=1e-3, augment=False, max_steps_per_epoch=2)
    Trainer(model, "finetune", cfg, objective=objective).fit(X[:64], np.zeros(64, int))
    after = list(objective.projector.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert set(backbone.state_dict()) == keys  # nothing added to the backbone
    own = {p.data_ptr() for p in objective.projector.state_dict().values()}
    assert not own & {t.data_ptr() for t in backbone.state_dict().values()}
    save_backbone(backbone, tmp_path / "bb.safetensors")  # reloads as a plain LeNet
    again = load_backbone_file(tmp_path / "bb.safetensors")
    x = backbone.prepare(X[:4])
    with torch.no_grad():
        assert torch.allclose(again.eval()(**x), backbone.eval()(**x))


def test_the_objective_refuses_the_loops_own_augmentation(digits):
    X, _ = digits
    model = FineTuneModel(LeNet(), 2)
    trainer = Trainer(model, "finetune", TrainConfig(epochs=1, batch_size=16),
                      objective=SimCLR(500))
    with pytest.raises(TransferkitError, match="augment=False"):
        trainer.fit(X[:32], np.zeros(32, int))


# ---------------------------------------------------------------------- k-NN
def test_knn_accuracy_matches_scikit_learn_leave_one_out():
    from sklearn.model_selection import LeaveOneOut, cross_val_predict
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b"], 30)
    f = rng.normal(size=(60, 6)) + np.where(y == "a", 0.6, -0.6)[:, None]
    pred = cross_val_predict(KNeighborsClassifier(7, metric="cosine", algorithm="brute"),
                             f, y, cv=LeaveOneOut())
    assert knn_accuracy(f, y, k=7) == pytest.approx(np.mean(pred == y))
    f4, y4 = np.eye(3)[[0, 0, 1, 1]], [0, 0, 1, 1]
    assert knn_accuracy(f4, y4, k=1) == 1.0
    assert knn_accuracy(f4, y4) == knn_accuracy(f4, y4, k=3) == 0.0  # k = min(20, N - 1)


# ---------------------------------------------------------------------- the function
def test_train_self_supervised_lowers_the_loss_and_reports_knn(digits):
    X, y = digits
    backbone = LeNet()
    weights = {k: v.clone() for k, v in backbone.state_dict().items()}
    digest = backbone.weights_digest()
    result = train_self_supervised(
        backbone, X[:512], "simclr", TrainConfig(epochs=4, batch_size=64, lr=2e-3),
        monitor=(X[1500:1700], y[1500:1700]), temperature=0.5)
    losses = [h["train_loss"] for h in result.history]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert all(0 <= h["knn_accuracy"] <= 1 for h in result.history)
    assert result.best_epoch == 3  # nothing selects: the last epoch is kept
    assert any(not torch.equal(weights[k], v) for k, v in backbone.state_dict().items())
    assert backbone.weights_digest() != digest and not backbone.training


def test_vicreg_trains_in_place_too(digits):
    X, _ = digits
    result = train_self_supervised(LeNet(), X[:256], "vicreg",
                                   TrainConfig(epochs=3, batch_size=64, lr=2e-3))
    losses = [h["train_loss"] for h in result.history]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_the_last_partial_batch_is_dropped_never_a_batch_of_one(digits):
    X, _ = digits
    steps = []
    cfg = TrainConfig(epochs=1, batch_size=16)
    train_self_supervised(LeNet(), X[:33], "vicreg", cfg)  # 2 x 16, the 33rd dropped
    assert cfg.augment is None and cfg.max_steps_per_epoch is None  # the caller's untouched
    model = FineTuneModel(LeNet(), 2)
    trainer = Trainer(model, "finetune", TrainConfig(epochs=1, batch_size=16, augment=False),
                      objective=VICReg(500))
    with pytest.raises(TransferkitError, match="at least 2 items"):
        trainer.fit(X[:33], np.zeros(33, int), on_step=lambda e, s: steps.append(s))
    assert steps == [0, 1]


def test_tabular_backbones_get_scarf_views():
    import pandas as pd

    from transferkit.backbones.tabular import ColumnSchema, TabularMLP

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=96), "b": rng.normal(size=96),
                       "c": rng.choice(["x", "y", "z"], size=96)})
    schema = ColumnSchema.fit(df)
    backbone = TabularMLP(schema, hidden=(16,))
    result = train_self_supervised(backbone, schema.rows(df), "simclr",
                                   TrainConfig(epochs=3, batch_size=32, lr=3e-3),
                                   monitor=(schema.rows(df), df["c"].to_numpy()),
                                   corruption=0.4)
    assert [h["epoch"] for h in result.history] == [0, 1, 2]
    assert np.isfinite([h["train_loss"] for h in result.history]).all()
    assert "knn_accuracy" in result.history[-1]


class _TextBackbone(Backbone):
    name = "text_test"
    feature_dim = 4

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 4)
        self.preprocessing = Preprocessing(modality="text")

    def prepare(self, items: Sequence[Any]) -> dict[str, torch.Tensor]:
        return {"x": torch.zeros(len(items), 3)}

    def forward(self, x):
        return self.lin(x)

    def layer_groups(self):
        return [LayerGroup("all", [self.lin])]


def test_bad_inputs_are_refused_in_one_line(digits):
    X, y = digits
    cases = [
        (lambda: train_self_supervised(LeNet(), X[:8], "byol"), "unknown self-supervised "
         "method 'byol'.*simclr, vicreg"),
        (lambda: train_self_supervised(LeNet(), X[:1]), "at least 2 items"),
        (lambda: train_self_supervised(LeNet(), X[:8], config=TrainConfig(batch_size=1)),
         "batch_size >= 2"),
        (lambda: train_self_supervised(LeNet(), X[:8], config=TrainConfig(augment=True)),
         "own views"),
        (lambda: train_self_supervised(_TextBackbone(), ["a", "b"]), "image or tabular"),
        (lambda: train_self_supervised(LeNet(), X[:8], temperature=0), "temperature"),
        (lambda: train_self_supervised(LeNet(), X[:8], monitor=(X[:3], y[:2])),
         "k-NN monitor"),
        (lambda: SimCLR(500, crop_scale=(0.8, 0.2)).views_for(LeNet()), "crop_scale"),
        (lambda: VICReg(500, std_coeff=-1), "std_coeff"),
    ]
    for call, match in cases:
        with pytest.raises(TransferkitError, match=match) as info:
            call()
        assert "\n" not in str(info.value)


def test_the_registry_names_both_methods():
    assert SELF_SUPERVISED.get("simclr") is SimCLR and SELF_SUPERVISED.get("vicreg") is VICReg
    assert KNNMonitor.__doc__
