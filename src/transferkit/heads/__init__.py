"""Head registry: classifiers trained on (cached) features."""

from __future__ import annotations

import copy
from typing import Any

from ..registry import Registry
from .base import Head

HEADS: Registry[type[Head]] = Registry("head")
register_head = HEADS.register


def make_head(name: str | Head, **params: Any) -> Head:
    """A new head: the registered ``name`` built with ``params``, or a copy of a given
    instance with ``params`` set on it (the caller's instance is never fitted)."""
    if isinstance(name, Head):
        head = copy.deepcopy(name)
        for key, value in params.items():
            setattr(head, key, value)
        return head
    return HEADS.get(name)(**params)


from . import logistic, mlp  # noqa: E402,F401  (register the built-in heads)

__all__ = ["HEADS", "Head", "make_head", "register_head"]
