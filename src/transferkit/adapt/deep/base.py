"""The contract of a deep domain-adaptation method: a loss module added to the task loss.

``loss(features_s (B, D), features_t (B', D), logits_s (B, C), logits_t (B', C)) -> scalar``.
The training loop adds ``trade_off * loss`` to the source cross-entropy and trains the
module's own parameters (discriminators, critics) with the model, at the head's learning
rate. Before each step the loop sets :attr:`DomainLoss.progress` (0 -> 1 over training),
which adversarial methods use for their gradient-reversal warm-up.
"""

from __future__ import annotations

import inspect
import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ...errors import TransferkitError, is_finite_number
from ...registry import Registry

if TYPE_CHECKING:  # optuna is imported only by the tune command
    import optuna


class DomainLoss(nn.Module):
    """Base class of a deep domain-adaptation term; subclasses are registered with
    :func:`register_domain_loss`.

    The loop minimises ``CE(source) + trade_off * D(...)``, ``D`` being this module's
    :meth:`forward`. Its parameters (discriminators, critics) train with the model.

    Parameters
    ----------
    feature_dim : int
        Width ``D`` of the backbone features.
    n_classes : int
        Number of classes ``C`` (the width of the logits).
    **options : Any
        Method options (subclass keyword arguments), as given by ``method_params``.

    Attributes
    ----------
    progress : float
        Fraction of training done, in [0, 1], set by the loop before each step (for
        schedules such as DANN's reversal coefficient).
    """

    name: str = ""

    def __init__(self, feature_dim: int, n_classes: int):
        super().__init__()
        self.feature_dim, self.n_classes = feature_dim, n_classes
        self.progress = 0.0  # fraction of training done, set by the loop

    def forward(self, features_s: torch.Tensor, features_t: torch.Tensor,
                logits_s: torch.Tensor, logits_t: torch.Tensor) -> torch.Tensor:
        """The domain term of one step.

        Parameters
        ----------
        features_s, features_t : Tensor, shape (Ns, D) and (Nt, D)
            Backbone features of the source and the target batch.
        logits_s, logits_t : Tensor, shape (Ns, C) and (Nt, C)
            Head outputs of the same batches.

        Returns
        -------
        Tensor, shape ()
            A scalar loss, added to the source loss times ``trade_off``.
        """
        raise NotImplementedError

    def options(self) -> dict[str, Any]:
        """The method's options as keyword arguments that rebuild it (saved with a run).

        Returns
        -------
        dict
            ``{option: value}``, JSON-serialisable; ``{}`` when the method has none.
        """
        return {}

    @classmethod
    def search_space(cls, trial: optuna.Trial) -> dict[str, Any]:
        """The method's options to try in one ``transferkit tune --target`` trial.

        Parameters
        ----------
        trial : optuna.Trial
            The trial to suggest from; name each parameter ``"<method>.<option>"``.

        Returns
        -------
        dict
            Keyword arguments of the method (``method_params``); ``{}`` (the default) when
            none is worth searching (the ``trade_off`` weight is searched by the
            estimator, :meth:`DeepDomainAdaptation.search_space
            <transferkit.adapt.deep.estimator.DeepDomainAdaptation.search_space>`).
        """
        return {}


DOMAIN_LOSSES: Registry[type[DomainLoss]] = Registry("deep domain-adaptation method")


def register_domain_loss(name: str):
    """Class decorator: register a :class:`DomainLoss` under ``name``."""

    def deco(cls: type[DomainLoss]) -> type[DomainLoss]:
        cls.name = name
        return DOMAIN_LOSSES.register(name)(cls)

    return deco


def make_domain_loss(name: str, feature_dim: int, n_classes: int, **options: Any) -> DomainLoss:
    """Build the registered method ``name`` (unknown name or option -> TransferkitError)."""
    cls = DOMAIN_LOSSES.get(name)
    try:
        return cls(feature_dim, n_classes, **options)
    except TypeError as exc:
        known = [p for p in inspect.signature(cls).parameters
                 if p not in ("feature_dim", "n_classes")]
        raise TransferkitError(f"bad options for method '{name}': {exc}",
                               f"its options are: {', '.join(known) or 'none'}") from exc


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, coeff: float) -> torch.Tensor:
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.coeff * grad, None


def reverse_gradient(x: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
    """Identity forward; multiplies the gradient by ``-coeff`` backward (Ganin & Lempitsky)."""
    return _ReverseGradient.apply(x, coeff)


def grl_coefficient(progress: float, high: float = 1.0, gamma: float = 10.0) -> float:
    """DANN's warm-start schedule: ``high * (2 / (1 + exp(-gamma * p)) - 1)``, 0 -> high."""
    return high * (2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0)


def mlp_discriminator(in_dim: int, hidden: int, out_dim: int = 1,
                      batch_norm: bool = True) -> nn.Sequential:
    """Two hidden layers (Linear[-BN]-ReLU) then a linear output ``(N, out_dim)``."""
    layers: list[nn.Module] = []
    for d_in in (in_dim, hidden):
        layers.append(nn.Linear(d_in, hidden))
        if batch_norm:
            layers.append(nn.BatchNorm1d(hidden))
        layers.append(nn.ReLU())
    layers.append(nn.Linear(hidden, out_dim))
    return nn.Sequential(*layers)


def entropy(proba: torch.Tensor) -> torch.Tensor:
    """Per-row entropy of ``proba (N, C)`` -> ``(N,)``."""
    return -(proba * torch.log(proba.clamp_min(1e-12))).sum(dim=1)


def check_positive(name: str, **values: float) -> None:
    for key, value in values.items():
        if not (is_finite_number(value) and value > 0):
            raise TransferkitError(f"method '{name}': {key}={value!r} must be a number > 0",
                                   f"pass a positive {key}")
