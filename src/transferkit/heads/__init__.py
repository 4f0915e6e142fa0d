"""Head registry: classifiers trained on (cached) features."""

from __future__ import annotations

from typing import Any

from ..registry import Registry
from .base import Head

HEADS: Registry[type[Head]] = Registry("head")
register_head = HEADS.register


def make_head(name: str | Head, **params: Any) -> Head:
    if isinstance(name, Head):
        return name
    return HEADS.get(name)(**params)


from . import logistic, mlp  # noqa: E402,F401  (register the built-in heads)

__all__ = ["HEADS", "Head", "make_head", "register_head"]
