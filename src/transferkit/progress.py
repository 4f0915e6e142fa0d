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
    return tqdm(iterable, desc=desc, total=total, unit=unit, leave=False, delay=DELAY,
                disable=hidden())
