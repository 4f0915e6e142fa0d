"""Head registry: models trained on (cached) features, one task kind each
(:attr:`Head.task`)."""

from __future__ import annotations

import copy
from typing import Any

from ..errors import TransferkitError
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


#: head names that mean another head for a task: "logistic" on multi-label targets is one
#: logistic model per label
TASK_ALIASES = {"multilabel": {"logistic": "ovr-logistic"}}
#: the head a task's frozen path uses when none is named
DEFAULT_HEADS = {"classification": "logistic", "multilabel": "ovr-logistic",
                 "regression": "ridge"}


def head_for_task(name: str | Head | None, task: str) -> str | Head:
    """The head that fits ``task``'s targets: ``name`` (None: :data:`DEFAULT_HEADS`), an
    alias resolved (:data:`TASK_ALIASES`); one line when the head serves another task.

    Parameters
    ----------
    name : str, Head or None
        A registered head name or a head instance.
    task : str
        The task kind (``classification``, ``multilabel``, ``regression``).

    Returns
    -------
    str or Head
        What :func:`make_head` takes.
    """
    if name is None:
        name = DEFAULT_HEADS.get(task, "logistic")
    if isinstance(name, Head):
        kind, label = name.task, name.name or type(name).__name__
    else:
        name = TASK_ALIASES.get(task, {}).get(name, name)
        kind, label = HEADS.get(name).task, name
    if kind != task:
        fits = [n for n in HEADS if HEADS.get(n).task == task]
        raise TransferkitError(f"head '{label}' fits {kind} targets, not {task}",
                               f"use --head {' | '.join(fits) or 'none'} (or leave --head unset)")
    return name


from . import logistic, mlp, multilabel, ridge  # noqa: E402,F401  (register the built-ins)

__all__ = ["DEFAULT_HEADS", "HEADS", "Head", "head_for_task", "make_head", "register_head"]
