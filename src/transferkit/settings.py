"""Estimator parameters declared once: an estimator lists its parameters (name -> default)
and gets a scikit-learn style ``__init__`` that stores each one under its own name, with a
real signature (``get_params``, ``set_params`` and ``clone`` read it).

The fine-tuning estimators take every loop setting of
:class:`~transferkit.finetune.loop.TrainConfig` this way (:func:`settings_of`), so a new
loop setting reaches each of them without being copied into their constructors.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class Setting:
    """A parameter's default and its type annotation (as text)."""

    default: Any
    annotation: Any = inspect.Parameter.empty


def settings_of(config_type: type, exclude: tuple[str, ...] = (), **defaults: Any
                ) -> dict[str, Setting]:
    """The fields of the dataclass ``config_type`` (less ``exclude``) as estimator
    parameters, with ``defaults`` replacing the dataclass's own defaults.

    Returns
    -------
    dict
        name -> :class:`Setting` (default and annotation), in the dataclass's order.
    """
    unknown = set(defaults) - {f.name for f in dataclasses.fields(config_type)}
    if unknown:
        raise TypeError(f"{config_type.__name__} has no settings {sorted(unknown)}")
    out = {}
    for f in dataclasses.fields(config_type):
        if f.name not in exclude:
            out[f.name] = Setting(defaults.get(f.name, f.default), f.type)
    return out


def estimator_init(parameters: Mapping[str, Any]) -> Callable[..., None]:
    """An ``__init__(self, **parameters)`` storing each parameter as an attribute.

    Parameters
    ----------
    parameters
        name -> default, in signature order; a :class:`Setting` value (from
        :func:`settings_of`) gives its default and its type annotation.
    """
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    defaults: dict[str, Any] = {}
    for name, value in parameters.items():
        annotation = inspect.Parameter.empty
        if isinstance(value, Setting):
            annotation, value = value.annotation, value.default
        defaults[name] = value
        params.append(inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                        default=value, annotation=annotation))
    signature = inspect.Signature(params)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)  # unknown names -> TypeError
        for name, default in defaults.items():
            setattr(self, name, bound.arguments.get(name, default))

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    return __init__
