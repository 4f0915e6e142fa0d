"""Progress bars for long work: on a terminal by default, never in logs or under ``--quiet``.

Whether a bar shows: an explicit ``progress=`` argument, else the innermost
:func:`progress_bars` block (the CLI's ``--quiet`` sets one), else hidden when the environment
has ``TRANSFERKIT_NO_PROGRESS=1``, else only when the output is a terminal.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from tqdm.auto import tqdm

_SHOW: ContextVar[bool | None] = ContextVar("transferkit_progress_bars", default=None)
DELAY = 1.0  # seconds a loop of :func:`steps` runs before its bar appears


def hidden(progress: bool | None = None) -> bool | None:
    """tqdm's ``disable`` for a bar: True hides it, None shows it on a terminal only."""
    if progress is None:
        progress = _SHOW.get()
    if progress is None:
        return True if os.environ.get("TRANSFERKIT_NO_PROGRESS") else None
    return not progress


@contextmanager
def progress_bars(show: bool | None) -> Iterator[None]:
    """Show (True) or hide (False) every bar opened inside the block; None: the default."""
    token = _SHOW.set(show)
    try:
        yield
    finally:
        _SHOW.reset(token)


def steps(iterable: Iterable[Any], desc: str, *, total: int | None = None,
          unit: str = "it") -> Iterable[Any]:
    """``iterable`` behind a transient bar that appears only once the loop has run for
    :data:`DELAY` seconds, so quick fits print nothing."""
    return _transient_bar(iterable, desc=desc, total=total, unit=unit)


def _transient_bar(iterable: Iterable[Any] | None = None, **options: Any) -> tqdm:
    """A bar that shows after :data:`DELAY` seconds, where :func:`hidden` allows, and
    disappears when done."""
    return tqdm(iterable, leave=False, delay=DELAY, disable=hidden(), **options)


class Stages:
    """Named stages of unequal length behind one transient bar that, like :func:`steps`,
    appears only after :data:`DELAY` seconds. Use as a context; ``start(name)`` ends the
    stage before it (the count moves on) and shows ``name`` as the one now running."""

    def __init__(self, desc: str, total: int) -> None:
        self._bar = _transient_bar(total=total, desc=desc, unit="stage")
        self._running = False

    def start(self, name: str) -> None:
        """End the running stage (if any) and show ``name`` as the one now running."""
        self._bar.set_postfix_str(name, refresh=False)
        if self._running:
            self._bar.update()
        self._running = True

    def __enter__(self) -> Stages:
        return self

    def __exit__(self, exc_type: type | None, *exc: object) -> None:
        if self._running and exc_type is None:  # the last stage is done too
            self._bar.update()
        self._bar.close()
