"""Deep domain adaptation: methods as loss modules in the one fine-tuning loop.

Each method is a :class:`DomainLoss` in its own module, registered by name in
``DOMAIN_LOSSES``: ``dan`` (multi-kernel MMD), ``deep-coral``, ``dann`` (gradient reversal
with warm-up), ``cdan`` (+entropy conditioning), ``mcc`` (minimum class confusion), ``wdgrl``
(Wasserstein critic). :class:`DeepDomainAdaptation` is the estimator; epochs are selected
without target labels (:mod:`.select`).
"""

from .base import (
    DOMAIN_LOSSES,
    DomainLoss,
    grl_coefficient,
    make_domain_loss,
    register_domain_loss,
    reverse_gradient,
)
from .cdan import ConditionalDomainAdversarialLoss
from .coral import DeepCORALLoss, coral_distance
from .dan import MultipleKernelMMD, multi_kernel_mmd
from .dann import DomainAdversarialLoss
from .estimator import SOURCE_ONLY, DeepDomainAdaptation
from .mcc import MinimumClassConfusionLoss, class_confusion
from .select import DEEP_SELECTORS, epoch_selector, oracle_monitor
from .wdgrl import WassersteinCriticLoss

__all__ = [
    "DEEP_SELECTORS",
    "DOMAIN_LOSSES",
    "SOURCE_ONLY",
    "ConditionalDomainAdversarialLoss",
    "DeepCORALLoss",
    "DeepDomainAdaptation",
    "DomainAdversarialLoss",
    "DomainLoss",
    "MinimumClassConfusionLoss",
    "MultipleKernelMMD",
    "WassersteinCriticLoss",
    "class_confusion",
    "coral_distance",
    "epoch_selector",
    "grl_coefficient",
    "make_domain_loss",
    "multi_kernel_mmd",
    "oracle_monitor",
    "register_domain_loss",
    "reverse_gradient",
]
