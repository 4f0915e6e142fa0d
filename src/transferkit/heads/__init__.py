"""Head registry: classifiers trained on (cached) features."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import TransferkitError
from .base import Head

HEADS: dict[str, type[Head]] = {}


def register_head(name: str) -> Callable[[type[Head]], type[Head]]:
    def deco(cls: type[Head]) -> type[Head]:
        cls.name = name
        HEADS[name] = cls
        return cls

    return deco


def make_head(name: str | Head, **params: Any) -> Head:
    if isinstance(name, Head):
        return name
    if name not in HEADS:
        raise TransferkitError(
            f"unknown head '{name}'", f"use one of: {', '.join(sorted(HEADS))}"
        )
    return HEADS[name](**params)


from . import logistic, mlp  # noqa: E402,F401  (register the built-in heads)

__all__ = ["HEADS", "Head", "make_head", "register_head"]
