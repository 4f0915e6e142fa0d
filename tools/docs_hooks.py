"""MkDocs hooks for transferkit's docs (``hooks:`` in mkdocs.yml).

``mkdocs build --strict`` fails on any warning, including griffe's docstring-parsing
warnings. While the docstrings of the modules listed in ``PENDING`` are being rewritten on
other branches, their parsing warnings are shown as INFO instead. The lead removes each entry
once its module's docstrings are in numpy style (the list must end empty).
"""

from __future__ import annotations

import logging

#: source files whose griffe warnings are not (yet) errors -- TODO(lead): empty after merge
PENDING: tuple[str, ...] = ()


class _Pending(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and any(p in record.getMessage() for p in PENDING):
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def on_startup(command: str, dirty: bool) -> None:
    for name in ("mkdocs.plugins.griffe", "griffe", "mkdocs.plugins.mkdocstrings"):
        logging.getLogger(name).addFilter(_Pending())
