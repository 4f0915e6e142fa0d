"""Self-supervised pretraining of a backbone on unlabelled data, in the shared loop.

Two objectives (:class:`~transferkit.finetune.objectives.Objective`), registered in
:data:`SELF_SUPERVISED`:

* ``simclr`` -- :class:`SimCLR` (Chen et al. 2020): the NT-Xent loss between two augmented
  views of each item, through a projection head;
* ``vicreg`` -- :class:`VICReg` (Bardes et al. 2022): variance, invariance and covariance
  terms (weights 25 / 25 / 1), no negatives.

Each batch is turned into two views by the objective itself:

* image backbones: ``kornia`` augmentation of the prepared ``pixel_values`` chosen for small
  images (random resized crop of moderate scale, small rotation/translation, brightness and
  contrast jitter, gaussian noise; a horizontal flip only on request: digits are not
  flip-invariant) -- :func:`make_image_views`;
* tabular backbones (``TabularMLP``): SCARF-style corruption (Bahri et al. 2022): a fraction
  of the entries of ``numeric`` (standardised numbers, missing indicators, one-hot columns)
  and of ``categories`` (embedded codes) is replaced by the same column's value in another
  row of the batch -- :func:`scarf_corrupt`;
* text backbones are refused (one line).

The projection head is the objective's own module (:attr:`SimCLR.projector`): it trains with
the model at the head's learning rate and is not part of the backbone, so it is dropped when
the backbone is saved or transferred. The loop's own augmentation would add to the views:
run these objectives with ``TrainConfig(augment=False)`` (:func:`train_self_supervised` does;
the objective refuses a trainer that augments). The objectives run in one process, without
checkpoints/resume (``single_process``): the projection head is not wrapped by DDP and not
saved in the loop's checkpoints.

:class:`KNNMonitor` reports the k-NN accuracy of the backbone's features on a small labelled
set at each epoch end (never used to select an epoch).

>>> from transferkit.backbones.lenet import LeNet
>>> result = train_self_supervised(LeNet(), images, "simclr",
...                                monitor=(few_images, few_labels))  # doctest: +SKIP
>>> [h["knn_accuracy"] for h in result.history]                      # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..backbones import Backbone, Preprocessing
from ..errors import TransferkitError, check, check_int, is_finite_number
from ..registry import Registry
from ..tasks import Task
from .callbacks import Callback
from .loop import TrainConfig, Trainer, TrainResult, predict_outputs
from .model import FineTuneModel, unwrap
from .objectives import Objective

__all__ = ["SELF_SUPERVISED", "SELF_SUPERVISED_LR", "KNNMonitor", "ProjectionHead", "SimCLR",
           "TwoViewObjective", "VICReg", "check_views_modality", "knn_accuracy",
           "make_image_views", "nt_xent", "scarf_corrupt", "train_self_supervised",
           "vicreg_terms"]

#: self-supervised methods by name -> their :class:`Objective` class
SELF_SUPERVISED: Registry[type[Objective]] = Registry("self-supervised method")

#: the learning rate used when the config leaves ``lr=None`` (training from scratch: the
#: ``finetune`` strategy's default, 5e-5, is meant for pretrained weights)
SELF_SUPERVISED_LR = 1e-3


# ---------------------------------------------------------------------- losses
def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """The NT-Xent loss (normalised temperature-scaled cross-entropy, SimCLR) of two views.

    Parameters
    ----------
    z1, z2 : Tensor, shape (B, D)
        Projections of the two views; row ``i`` of each comes from the same item.
    temperature : float
        Divides the cosine similarities.

    Returns
    -------
    Tensor
        The mean over the ``2B`` anchors of ``-log(exp(s_ip / t) / sum_{k != i} exp(s_ik / t))``,
        ``p`` the anchor's other view, ``k`` every other row of both views.
    """
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(sim, positives)


def vicreg_terms(z1: torch.Tensor, z2: torch.Tensor, eps: float = 1e-4
                 ) -> dict[str, torch.Tensor]:
    """The three VICReg terms of two views ``(B, D)`` (unweighted, as in the authors' code).

    Returns
    -------
    dict
        ``invariance``: the mean squared difference of the views; ``variance``: the mean over
        dimensions of ``relu(1 - sqrt(var + eps))``, averaged over the two views;
        ``covariance``: the squared off-diagonal entries of each view's covariance matrix,
        summed and divided by ``D``, summed over the two views.
    """
    z1, z2 = z1.float(), z2.float()
    n, d = z1.shape
    invariance = F.mse_loss(z1, z2)
    variance = z1.new_zeros(())
    covariance = z1.new_zeros(())
    off = ~torch.eye(d, dtype=torch.bool, device=z1.device)
    for z in (z1, z2):
        z = z - z.mean(dim=0)
        std = torch.sqrt(z.var(dim=0) + eps)
        variance = variance + F.relu(1 - std).mean() / 2
        cov = (z.T @ z) / (n - 1)
        covariance = covariance + cov[off].pow(2).sum() / d
    return {"invariance": invariance, "variance": variance, "covariance": covariance}


# ---------------------------------------------------------------------- views
def make_image_views(preprocessing: Preprocessing, crop_scale: Sequence[float] = (0.6, 1.0),
                     rotation: float = 10.0, translate: float = 0.1, jitter: float = 0.4,
                     noise: float = 0.05, flip: bool = False
                     ) -> Callable[[torch.Tensor], torch.Tensor]:
    """A random view of normalised ``pixel_values`` ``(N, C, H, W)`` (C = 1 or 3), with
    ``kornia``: the backbone's normalisation is undone, then a random resized crop
    (``crop_scale`` of the area) back to ``H x W``, a random affine (``rotation`` degrees,
    ``translate`` of the size), brightness and contrast jitter of ``jitter`` (p = 0.8),
    gaussian noise of sd ``noise`` (p = 0.5), a horizontal flip when ``flip``; clipped to
    [0, 1] and normalised again. Each call draws new parameters per image; the function's
    ``pipeline`` attribute holds the kornia modules."""
    import kornia.augmentation as K

    ops: list[nn.Module] = []
    if crop_scale:
        lo, hi = (float(s) for s in crop_scale)
        check(0 < lo <= hi <= 1, f"crop_scale must be 0 < low <= high <= 1, got {crop_scale}",
              "use e.g. crop_scale=(0.6, 1.0)")
        ops.append(_SizedCrop(K, (lo, hi)))
    if rotation or translate:
        ops.append(K.RandomAffine(degrees=float(rotation),
                                  translate=(float(translate),) * 2 if translate else None))
    if flip:
        ops.append(K.RandomHorizontalFlip())
    if jitter:
        ops.append(K.ColorJiggle(brightness=float(jitter), contrast=float(jitter), p=0.8))
    if noise:
        ops.append(K.RandomGaussianNoise(mean=0.0, std=float(noise), p=0.5))
    pipeline = nn.Sequential(*ops)
    mean = torch.tensor(preprocessing.mean or (0.0, 0.0, 0.0), dtype=torch.float32)
    std = torch.tensor(preprocessing.std or (1.0, 1.0, 1.0), dtype=torch.float32)

    def view(x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        # one channel (e.g. LeNet's grey average): the channels' mean statistics
        m = (mean if c == len(mean) else mean.mean().repeat(c)).view(1, c, 1, 1).to(x)
        s = (std if c == len(std) else std.mean().repeat(c)).view(1, c, 1, 1).to(x)
        with torch.no_grad():
            img = (x.float() * s + m).clamp_(0.0, 1.0)
            return ((pipeline(img).clamp_(0.0, 1.0) - m) / s).to(x.dtype)

    view.pipeline = pipeline  # type: ignore[attr-defined]  (what it draws, to inspect)
    return view


class _SizedCrop(nn.Module):
    """A random resized crop back to the input's own height and width."""

    def __init__(self, K: Any, scale: tuple[float, float]):
        super().__init__()
        self.K, self.scale, self.crops = K, scale, nn.ModuleDict()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        key = f"{h}x{w}"
        if key not in self.crops:
            self.crops[key] = self.K.RandomResizedCrop((h, w), scale=self.scale)
        return self.crops[key](x)


def scarf_corrupt(x: torch.Tensor, rate: float) -> torch.Tensor:
    """SCARF corruption of a batch ``(N, d)``: each entry is, with probability ``rate``,
    replaced by the same column's entry in another row of the batch (drawn uniformly among
    the ``N - 1`` others). ``N < 2`` or an empty tensor is returned unchanged."""
    n = x.shape[0]
    if n < 2 or x.numel() == 0 or rate <= 0:
        return x
    donors = (torch.arange(n, device=x.device).view(n, 1)
              + torch.randint(1, n, x.shape, device=x.device)) % n
    mask = torch.rand(x.shape, device=x.device) < rate
    return torch.where(mask, x.gather(0, donors), x)


# ---------------------------------------------------------------------- the objectives
class ProjectionHead(nn.Sequential):
    """``layers`` linear layers ``in_dim -> hidden -> ... -> out_dim``, each but the last
    followed by BatchNorm and ReLU; seeded initialisation (independent of the global RNG)."""

    def __init__(self, in_dim: int, hidden: int = 512, out_dim: int = 128, layers: int = 2,
                 seed: int = 0):
        for name, value in (("in_dim", in_dim), ("hidden", hidden), ("out_dim", out_dim)):
            check_int(name, value, 1, 128)
        check_int("layers", layers, 2, 2)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            mods: list[nn.Module] = []
            width = in_dim
            for _ in range(layers - 1):
                mods += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU()]
                width = hidden
            mods.append(nn.Linear(width, out_dim))
            super().__init__(*mods)


class TwoViewObjective(Objective):
    """Base class of the two-view objectives: draws two views of each batch (images:
    :func:`make_image_views`; tables: :func:`scarf_corrupt` at ``corruption``), passes both
    through the model in one batch (BatchNorm sees both), projects the backbone features
    with :attr:`projector` and minimises :meth:`criterion` of the two projections.

    Parameters
    ----------
    feature_dim : int
        The backbone's ``feature_dim`` (the projector's input; it exists before ``setup``,
        since the loop builds its optimizer first).
    hidden, out_dim, layers : int
        The projector's width, output width and number of linear layers.
    crop_scale, rotation, translate, jitter, noise, flip
        The image views (see :func:`make_image_views`).
    corruption : float
        The fraction of table entries corrupted per view (SCARF's default 0.6).
    seed : int
        Seed of the projector's initialisation.
    """

    single_process = True  # the projector is neither wrapped by DDP nor checkpointed
    default_hidden, default_out, default_layers = 512, 128, 2

    def __init__(self, feature_dim: int, hidden: int | None = None,
                 out_dim: int | None = None, layers: int | None = None,
                 crop_scale: Sequence[float] = (0.6, 1.0), rotation: float = 10.0,
                 translate: float = 0.1, jitter: float = 0.4, noise: float = 0.05,
                 flip: bool = False, corruption: float = 0.6, seed: int = 0,
                 task: Task | None = None):
        super().__init__(task)
        check(is_finite_number(corruption) and 0 <= corruption <= 1,
              f"corruption must be in [0, 1], got {corruption!r}", "use e.g. corruption=0.6")
        for name, value in (("rotation", rotation), ("translate", translate),
                            ("jitter", jitter), ("noise", noise)):
            check(is_finite_number(value) and value >= 0,
                  f"{name} must be a number >= 0, got {value!r}", f"use e.g. {name}=0.1")
        self.projector = ProjectionHead(
            feature_dim, hidden or self.default_hidden, out_dim or self.default_out,
            layers or self.default_layers, seed)
        self.view_options = {"crop_scale": crop_scale, "rotation": rotation,
                             "translate": translate, "jitter": jitter, "noise": noise,
                             "flip": bool(flip)}
        self.corruption = float(corruption)
        self._view: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None

    def setup(self, trainer):
        backbone = unwrap(trainer.module).backbone
        self._view = self.views_for(backbone)
        if trainer.augment is not None:
            raise TransferkitError(
                f"{type(self).__name__} draws its own views: the loop's augmentation would "
                "add to them", "train with TrainConfig(augment=False)")
        self.projector.to(trainer.accelerator.device)  # it lives with the model

    def views_for(self, backbone: Backbone
                  ) -> Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
        """The function drawing one random view of a prepared batch of ``backbone``'s inputs
        (refuses text backbones)."""
        check_views_modality(backbone)
        if backbone.modality == "image":
            image_view = make_image_views(backbone.preprocessing, **self.view_options)

            def view(inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
                if "pixel_values" not in inputs:
                    raise TransferkitError(
                        f"backbone '{backbone.name}' prepares no pixel_values to augment",
                        "use a backbone whose prepare returns {'pixel_values': ...}")
                return {**inputs, "pixel_values": image_view(inputs["pixel_values"])}
            return view

        def corrupt(inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return {k: scarf_corrupt(v, self.corruption) if v.ndim == 2 else v
                    for k, v in inputs.items()}
        return corrupt

    def parameters(self):
        return list(self.projector.parameters()) + self.task.parameters()

    def train(self):
        self.projector.train()

    def criterion(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        """The loss of the projections ``(B, out_dim)`` of the two views."""
        raise NotImplementedError

    def loss(self, trainer, inputs, targets):
        if self._view is None:
            raise TransferkitError(f"{type(self).__name__} was used before setup",
                                   "train it through Trainer.fit")
        n = next(iter(inputs.values())).shape[0]
        if n < 2:
            raise TransferkitError(
                "a self-supervised batch needs at least 2 items, got 1 (the last batch of "
                "an epoch?)", "use train_self_supervised, which drops the epoch's last "
                "partial batch, or a batch size that leaves no single item")
        v1, v2 = self._view(inputs), self._view(inputs)
        joint = {k: torch.cat([v1[k], v2[k]]) for k in inputs}
        features, _ = trainer.prepared(return_features=True, **joint)
        z = self.projector(features)
        loss = self.criterion(z[:n], z[n:])
        return loss, loss


def check_views_modality(backbone: Backbone) -> None:
    """Refuse, in one line, a backbone whose inputs have no views here (text)."""
    if backbone.modality not in ("image", "tabular"):
        raise TransferkitError(
            f"self-supervised pretraining takes image or tabular backbones, not "
            f"'{backbone.name}' ({backbone.modality})", "use an image or tabular backbone")


@SELF_SUPERVISED.register("simclr")
class SimCLR(TwoViewObjective):
    """SimCLR (Chen et al. 2020): :func:`nt_xent` between the projections of two views.

    ``temperature`` defaults to 0.2: on USPS (LeNet, batch 256, 10 epochs, a linear probe on
    10 labels per class, ``benchmarks/selfsup_usps.py``) 0.2 gave 89.3 % against 86.1 % at
    0.5, the paper's choice for CIFAR-10 at small batches. The projector is
    ``feature_dim -> 512 -> BN -> ReLU -> 128``. Other parameters: see
    :class:`TwoViewObjective`.
    """

    def __init__(self, feature_dim: int, temperature: float = 0.2, **kwargs: Any):
        super().__init__(feature_dim, **kwargs)
        check(is_finite_number(temperature) and temperature > 0,
              f"temperature must be a number > 0, got {temperature!r}",
              "use e.g. temperature=0.2")
        self.temperature = float(temperature)

    def criterion(self, z1, z2):
        return nt_xent(z1, z2, self.temperature)


@SELF_SUPERVISED.register("vicreg")
class VICReg(TwoViewObjective):
    """VICReg (Bardes et al. 2022), the non-contrastive method chosen here (not SimSiam):
    ``sim_coeff * invariance + std_coeff * variance + cov_coeff * covariance`` of the two
    views' projections (:func:`vicreg_terms`), weights 25 / 25 / 1 as in the paper.

    The expander is ``feature_dim -> 512 -> BN -> ReLU -> 512 -> BN -> ReLU -> 512`` (the
    paper's three layers, narrower than its 8192). Other parameters: see
    :class:`TwoViewObjective`.
    """

    default_hidden, default_out, default_layers = 512, 512, 3

    def __init__(self, feature_dim: int, sim_coeff: float = 25.0, std_coeff: float = 25.0,
                 cov_coeff: float = 1.0, **kwargs: Any):
        super().__init__(feature_dim, **kwargs)
        for name, value in (("sim_coeff", sim_coeff), ("std_coeff", std_coeff),
                            ("cov_coeff", cov_coeff)):
            check(is_finite_number(value) and value >= 0,
                  f"{name} must be a number >= 0, got {value!r}", f"use e.g. {name}=25")
        self.coeffs = (float(sim_coeff), float(std_coeff), float(cov_coeff))

    def criterion(self, z1, z2):
        t = vicreg_terms(z1, z2)
        a, b, c = self.coeffs
        return a * t["invariance"] + b * t["variance"] + c * t["covariance"]


# ---------------------------------------------------------------------- monitoring
def knn_accuracy(features: np.ndarray, labels: Any, k: int = 20) -> float:
    """Leave-one-out k-NN accuracy of ``features`` ``(N, D)``: each item is classified by
    the majority label of its ``min(k, N - 1)`` most cosine-similar other items (ties go to
    the label with the larger summed similarity). Deterministic (no split, no seed)."""
    labels = np.asarray(labels)
    n = len(labels)
    check(n >= 2 and len(features) == n,
          f"k-NN needs at least 2 labelled items with one feature row each, got {n} labels "
          f"and {len(features)} rows", "give a labelled set of >= 2 items")
    check_int("k", k, 1, 20)
    classes, codes = np.unique(labels, return_inverse=True)
    f = torch.as_tensor(np.asarray(features, dtype=np.float32))
    f = F.normalize(f, dim=1)
    k = min(k, n - 1)
    codes_t = torch.as_tensor(codes)
    correct = 0
    for start in range(0, n, 1024):
        sim = f[start:start + 1024] @ f.T
        rows = torch.arange(sim.shape[0])
        sim[rows, rows + start] = float("-inf")  # leave the item itself out
        top, idx = sim.topk(k, dim=1)
        votes = torch.zeros(sim.shape[0], len(classes), dtype=torch.float64)
        votes.scatter_add_(1, codes_t[idx], torch.ones_like(top, dtype=torch.float64))
        # ties between counts: the summed similarity (< 1 vote in all, since |sim| <= 1)
        votes.scatter_add_(1, codes_t[idx], top.double() / (2 * k + 1))
        correct += int((votes.argmax(dim=1) == codes_t[start:start + len(rows)]).sum())
    return correct / n


class KNNMonitor(Callback):
    """At each epoch end, the leave-one-out k-NN accuracy (:func:`knn_accuracy`, cosine,
    ``k = min(20, N - 1)``) of the backbone's features of a small labelled set, computed in
    eval mode, written as ``record["knn_accuracy"]``. It only reports, never selects."""

    def __init__(self, items: Sequence[Any], labels: Any, k: int = 20):
        labels = np.asarray(labels)
        check(len(items) == len(labels) and len(items) >= 2,
              f"the k-NN monitor needs >= 2 items with one label each, got {len(items)} "
              f"items and {len(labels)} labels", "pass monitor=(items, labels)")
        check_int("k", k, 1, 20)
        self.items, self.labels, self.k = items, labels, k

    def on_epoch_end(self, trainer, state, epoch, record):
        features = predict_outputs(trainer.module, self.items, trainer.config.eval_batch_size,
                                   trainer.config.precision)[0]
        record["knn_accuracy"] = knn_accuracy(features, self.labels, self.k)


# ---------------------------------------------------------------------- the function
def train_self_supervised(backbone: Backbone, items: Sequence[Any], method: str = "simclr",
                          config: TrainConfig | None = None,
                          monitor: tuple[Sequence[Any], Any] | None = None,
                          **method_params: Any) -> TrainResult:
    """Pretrain ``backbone`` in place on unlabelled ``items`` with a self-supervised method.

    Parameters
    ----------
    backbone : Backbone
        An image or tabular backbone; every weight trains (the ``finetune`` strategy).
        Its weights digest is reset afterwards (it no longer holds the loaded file's weights).
    items : sequence
        Unlabelled items, as ``backbone.prepare`` takes them (at least 2).
    method : str
        A name in :data:`SELF_SUPERVISED` (``simclr``, ``vicreg``).
    config : TrainConfig, optional
        Loop settings (default: 10 epochs, batch 256, lr 1e-3). ``lr=None`` means
        :data:`SELF_SUPERVISED_LR` here. ``augment`` must be None or False (the method draws
        its own views). The last partial batch of each epoch is dropped (when there are
        more items than the batch size), as SimCLR does.
    monitor : (items, labels), optional
        A small labelled set: ``knn_accuracy`` is added to each epoch's record
        (:class:`KNNMonitor`).
    **method_params
        Passed to the method's class (e.g. ``temperature=0.2``, ``flip=True``).

    Returns
    -------
    TrainResult
        The loop's result; ``history`` holds ``train_loss`` (and ``knn_accuracy``) per epoch.

    Raises
    ------
    TransferkitError
        For an unknown method, fewer than 2 items, a batch size < 2, the loop's augmentation
        switched on, or a text backbone.
    """
    cls = SELF_SUPERVISED.get(method)
    check_views_modality(backbone)
    n = len(items)
    check(n >= 2, f"self-supervised pretraining needs at least 2 items, got {n}",
          "give more unlabelled items")
    config = (dataclasses.replace(config) if config is not None
              else TrainConfig(epochs=10, batch_size=256, lr=SELF_SUPERVISED_LR,
                               head_lr=SELF_SUPERVISED_LR))
    check(config.batch_size >= 2, f"self-supervised pretraining needs batch_size >= 2, got "
          f"{config.batch_size}", "use e.g. batch_size=256")
    if config.augment:
        raise TransferkitError(f"{method} draws its own views: the loop's augmentation "
                               f"(augment={config.augment!r}) would add to them",
                               "leave augment unset (or False); set the views through the "
                               "method's parameters")
    config.augment = False
    if config.lr is None:
        config.lr = SELF_SUPERVISED_LR
    full = max(1, n // config.batch_size)  # drop the last partial batch (never a batch of 1)
    config.max_steps_per_epoch = min(full, config.max_steps_per_epoch or full)
    objective = cls(backbone.feature_dim, **method_params)
    callbacks = [KNNMonitor(*monitor)] if monitor is not None else []
    model = FineTuneModel(backbone, 2, seed=config.seed)
    trainer = Trainer(model, "finetune", config, objective=objective, callbacks=callbacks)
    result = trainer.fit(items, np.zeros(n, dtype=np.int64))
    backbone._digest = ""  # its weights changed: the fingerprint must hash them
    backbone.eval()
    return result
