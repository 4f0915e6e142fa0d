"""Strategy registry: ``@register_strategy(name)`` classes, built with :func:`make_strategy`.

>>> make_strategy("partial", freeze=2).describe()
'partial(freeze=2)'
"""

from __future__ import annotations

from typing import Any

from ...errors import TransferkitError
from ...registry import Registry
from .base import Strategy

STRATEGIES: Registry[type[Strategy]] = Registry("strategy")
register_strategy = STRATEGIES.register


def make_strategy(name: str | Strategy, **options: Any) -> Strategy:
    """Instantiate a registered strategy with its options (unknown name -> TransferkitError)."""
    if isinstance(name, Strategy):
        return name
    cls = STRATEGIES.get(name)
    try:
        return cls(**options)
    except TypeError as exc:
        raise TransferkitError(f"bad options for strategy '{name}': {exc}",
                               "see docs/guide/finetune.md for the options") from exc


from . import (  # noqa: E402,F401  (register the built-in strategies)
    auto,
    bitfit,
    full,
    gradual,
    l2sp,
    linear_probe,
    lora,
    partial,
)

__all__ = ["STRATEGIES", "Strategy", "make_strategy", "register_strategy"]
