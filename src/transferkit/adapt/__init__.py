"""Shallow domain adaptation on feature arrays (scikit-learn style).

Every adapter is fitted as ``fit(Xs, ys, Xt)`` on labelled source and unlabelled target
features, then used like a classifier (``predict``, ``predict_proba``, ``score``) on target
samples. Feature-based adapters also ``transform``; instance-based ones expose ``weights_``;
parameter-based ones (and TrAdaBoost) also take a few labelled target samples, ``yt=``.
``ADAPTERS`` maps a lower-case name to each class, e.g. ``ADAPTERS["coral"]``.
"""

from transferkit.adapt.base import (
    ADAPTERS,
    AdaptWarning,
    BaseAdapter,
    FeatureAdapter,
    InstanceAdapter,
    get_adapter,
    register,
)
from transferkit.adapt.feature import (
    CORAL,
    GFK,
    JDA,
    MEDA,
    SA,
    TCA,
    EasyTL,
    IntraDomainProgramming,
)
from transferkit.adapt.instance import (
    KLIEP,
    KMM,
    DiscriminativeWeighting,
    InstanceSelection,
    TrAdaBoost,
)
from transferkit.adapt.parameter import MultiTask, RegularTransfer
from transferkit.adapt.validation import (
    DEFAULT_SELECTOR,
    SELECTORS,
    LabelFreeSearch,
)

__all__ = [
    "ADAPTERS",
    "AdaptWarning",
    "BaseAdapter",
    "CORAL",
    "DEFAULT_SELECTOR",
    "DiscriminativeWeighting",
    "EasyTL",
    "FeatureAdapter",
    "GFK",
    "InstanceAdapter",
    "InstanceSelection",
    "IntraDomainProgramming",
    "JDA",
    "KLIEP",
    "KMM",
    "LabelFreeSearch",
    "MEDA",
    "MultiTask",
    "RegularTransfer",
    "SA",
    "SELECTORS",
    "TCA",
    "TrAdaBoost",
    "get_adapter",
    "register",
]
