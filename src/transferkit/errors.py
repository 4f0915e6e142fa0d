"""User-facing errors.

Every problem the user can fix (bad input, unknown name, wrong shapes) raises
:class:`TransferkitError` with one line that names the problem and the fix. The CLI
prints that line and exits non-zero; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import math
import numbers

from sklearn.exceptions import NotFittedError


class TransferkitError(ValueError):
    """A problem with the user's input, stated as ``problem -- fix``."""

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} -- {fix}" if fix else problem)


class NotFitted(TransferkitError, NotFittedError):
    """An estimator used before ``fit``: one line for the CLI (a :class:`TransferkitError`)
    and scikit-learn's :class:`~sklearn.exceptions.NotFittedError` for its callers."""


def check(condition: bool, problem: str, fix: str | None = None) -> None:
    """Raise :class:`TransferkitError` unless ``condition`` holds."""
    if not condition:
        raise TransferkitError(problem, fix)


def check_int(name: str, value: object, minimum: int, example: int) -> None:
    """One line unless ``value`` is an integer (not a bool) >= ``minimum``."""
    check(isinstance(value, numbers.Integral) and not isinstance(value, bool)
          and value >= minimum, f"{name} must be "
          + ("a positive integer" if minimum == 1 else f"an integer >= {minimum}")
          + f", got {value!r}", f"use e.g. {name}={example}")


def is_finite_number(value: object) -> bool:
    """Whether ``value`` is a finite real number (Python or numpy), not a bool."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))
