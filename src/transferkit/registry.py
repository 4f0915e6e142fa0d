"""One registry type for every pluggable piece (heads, strategies, loaders, methods, ...).

>>> HEADS = Registry("head")
>>> @HEADS.register("logistic")
... class LogisticHead: ...
>>> HEADS.get("logistic").__name__
'LogisticHead'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .errors import TransferkitError

T = TypeVar("T")


class Registry(Generic[T]):
    """Names to objects; unknown names raise a one-line error listing the known ones."""

    def __init__(self, kind: str, hint: str = ""):
        self.kind = kind
        self.hint = hint
        self._items: dict[str, T] = {}

    def register(self, *names: str) -> Callable[[T], T]:
        """Decorator registering its target under ``names``; classes also get ``.name``."""

        def deco(obj: T) -> T:
            for name in names:
                self._items[name] = obj
            if isinstance(obj, type) and not getattr(obj, "name", ""):
                obj.name = names[0]
            return obj

        return deco

    def get(self, name: str) -> T:
        """The object registered under ``name``.

        Raises
        ------
        TransferkitError
            For an unknown name, listing the known ones.
        """
        if name not in self._items:
            known = ", ".join(sorted(self._items))
            raise TransferkitError(
                f"unknown {self.kind} '{name}'", f"use one of: {known}{self.hint}"
            )
        return self._items[name]

    __getitem__ = get

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, T]]:
        """``(name, object)`` pairs in registration order."""
        return list(self._items.items())
