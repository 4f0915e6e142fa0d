"""The strategy contract: which parameters train, at which learning rate, plus an optional
loss term. Strategies know nothing about the training loop."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..._io import load_tensors, save_tensors
from ...backbones.checkpoint import BACKBONE_FILE, load_weights_into, save_backbone
from ...errors import TransferkitError
from ..model import FineTuneModel, unwrap

if TYPE_CHECKING:  # optuna is imported only by the tune command
    import optuna

HEAD_FILE = "head.safetensors"


class Strategy:
    """Base class. Subclasses set ``name`` (via ``register_strategy``) and override
    :meth:`apply` (freeze / wrap), optionally :meth:`param_groups`, :meth:`regularizer`,
    :meth:`on_epoch_start`.

    Options are keyword arguments, validated by the subclass ``__init__``.
    """

    name: str = ""
    #: default backbone learning rate when the user gives none
    default_lr: float = 5e-5
    #: whether the loop needs DDP to look for unused parameters (trainable set changes)
    dynamic: bool = False
    #: whether the strategy changes the backbone's output even when no backbone weight
    #: trains (LoRA's adapters): the fine-tuned backbone is then saved and hashed anew
    adapts_backbone: bool = False
    #: whether :meth:`resolve` probes class labels (so it needs a classification task)
    needs_class_labels: bool = False

    def __init__(self, **options: Any):
        if options:
            raise TransferkitError(
                f"strategy '{self.name}' takes no option(s) {sorted(options)}",
                "see docs/guide/finetune.md for each strategy's options",
            )

    def options(self) -> dict[str, Any]:
        """JSON-serialisable options (saved in the run dir)."""
        return {}

    @classmethod
    def search_space(cls, trial: optuna.Trial, **context: Any) -> dict[str, Any]:
        """The strategy's options to try in one ``transferkit tune`` trial.

        Parameters
        ----------
        trial : optuna.Trial
            The trial to suggest from; name each parameter ``"<strategy>.<option>"`` so
            that strategies never share one by accident.
        **context : Any
            What the tuner knows about the model, e.g. ``layer_groups`` (the backbone's
            number of layer groups); ignore what you do not need.

        Returns
        -------
        dict
            Keyword arguments of the strategy's constructor; ``{}`` (the default) when it
            has no option worth searching.
        """
        return {}

    def resolve(self, model: FineTuneModel, items: Any, codes: Any) -> Strategy:
        """Pick the concrete strategy (``auto`` looks at the data); others return ``self``."""
        return self

    def apply(self, model: FineTuneModel) -> nn.Module:
        """Set ``requires_grad`` (and wrap, e.g. LoRA). Returns the module to train."""
        raise NotImplementedError

    def param_groups(self, model: nn.Module, lr: float, head_lr: float) -> list[dict[str, Any]]:
        """Optimizer param groups. Default: trainable backbone params at ``lr``, head at
        ``head_lr``; biases and norm weights without weight decay."""
        inner = unwrap(model)
        head_ids = {id(p) for p in inner.head.parameters()}
        trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        return _split_decay([(n, p) for n, p in trainable if id(p) not in head_ids], lr) + (
            _split_decay([(n, p) for n, p in trainable if id(p) in head_ids], head_lr)
        )

    def on_epoch_start(self, model: nn.Module, epoch: int) -> None:
        """Called before each epoch (``gradual`` unfreezes here)."""

    def regularizer(self, model: nn.Module) -> torch.Tensor | None:
        """An extra loss term (``l2sp``), or None."""
        return None

    # ------------------------------------------------------------------ persistence
    def save(self, module: nn.Module, folder: Path, backbone_changed: bool) -> dict[str, Any]:
        """Write what training changed into the run folder ``folder``: the head, plus the
        backbone when ``backbone_changed``. Returns JSON state for :meth:`restore`."""
        inner = unwrap(module)
        save_tensors(folder / HEAD_FILE, inner.head.state_dict())
        if backbone_changed:
            save_backbone(inner.backbone, folder / BACKBONE_FILE)
        return {}

    def restore(self, model: FineTuneModel, folder: Path, state: dict[str, Any]) -> nn.Module:
        """The trained module of a run folder written by :meth:`save`, built on ``model``
        (the base backbone plus a fresh head). Inverse of :meth:`save`."""
        if not (folder / HEAD_FILE).is_file():
            raise TransferkitError(f"{folder} lacks {HEAD_FILE}", "re-run the fit that wrote it")
        model.head.load_state_dict(load_tensors(folder / HEAD_FILE))
        if (folder / BACKBONE_FILE).is_file():
            load_weights_into(model.backbone, folder / BACKBONE_FILE)
        return model

    def merge(self, module: nn.Module) -> FineTuneModel:
        """The trained model as a plain :class:`FineTuneModel` (wrappers folded into its
        layers), e.g. to reuse its backbone elsewhere."""
        return unwrap(module)

    def describe(self) -> str:
        """The strategy and its options in one line, e.g. ``"partial(freeze=2)"``."""
        opts = ", ".join(f"{k}={v}" for k, v in self.options().items())
        return f"{self.name}({opts})" if opts else self.name


def _split_decay(named: list[tuple[str, nn.Parameter]], lr: float) -> list[dict[str, Any]]:
    """Two groups at ``lr``: weights (decayed) and biases / 1-D norm params (not decayed)."""
    decay = [p for n, p in named if p.ndim > 1]
    no_decay = [p for n, p in named if p.ndim <= 1]
    groups = []
    if decay:
        groups.append({"params": decay, "lr": lr})
    if no_decay:
        groups.append({"params": no_decay, "lr": lr, "weight_decay": 0.0})
    return groups


def freeze(module: nn.Module, frozen: bool = True) -> None:
    for p in module.parameters():
        p.requires_grad_(not frozen)
