"""The domain-adaptation examples in the README (shallow and deep) run and print what the
README says."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize("section", ["## Domain adaptation (shallow)",
                                     "## Deep domain adaptation"])
def test_readme_example_output_is_current(section):
    if not DOC.exists():
        pytest.skip(f"{DOC} not found")
    text = DOC.read_text()
    text = text[text.index(section):]
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    expected = re.search(r"Output \(checked\):\n\n```\n(.*?)```", text, re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), {"__name__": "docs_example"})
    assert out.getvalue() == expected
