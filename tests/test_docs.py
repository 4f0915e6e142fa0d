"""The documentation holds: every Python block of the README and of ``docs/**/*.md`` runs as
written (in a scratch folder) and prints what its ``Output (checked):`` block says; the site
builds with ``mkdocs build --strict``; the benchmark pages are the ones their JSON gives; no
public name lacks a docstring; the README stays under 10 KB with its two set-up commands."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOC_FILES = [README, ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md",
             *sorted((ROOT / "docs").rglob("*.md"))]
# a ```python block, then optionally "Output (checked):" and a plain ``` block: its stdout
BLOCK = re.compile(r"```python\n(.*?)```(?:\s*\n\s*Output \(checked\):\s*\n\s*```\n(.*?)```)?",
                   re.S)
SETUP_COMMANDS = ('pip install -c constraints.txt -e ".[dev]" && transferkit demo',
                  "python -m pytest -q")


def _blocks() -> list:
    out = []
    for path in DOC_FILES:
        if not path.is_file():
            continue
        for i, m in enumerate(BLOCK.finditer(path.read_text(encoding="utf-8"))):
            rel = path.relative_to(ROOT).as_posix()
            out.append(pytest.param(path, m.group(1), m.group(2), id=f"{rel}#{i}"))
    return out


@pytest.fixture
def registries_restored():
    """Examples that register a component (a how-to's backbone, strategy, adapter) leave the
    registries as they found them, so no other example or test sees their names."""
    import transferkit  # noqa: F401  (every registry is filled on import)
    from transferkit.registry import Registry

    saved = []
    for name, module in list(sys.modules.items()):
        if not name.startswith("transferkit"):
            continue
        for attr, value in list(vars(module).items()):
            if isinstance(value, Registry) or (name == "transferkit.backbones"
                                               and attr in ("_NAMED", "_SCHEMES")):
                store = value._items if isinstance(value, Registry) else value
                saved.append((store, dict(store)))
    yield
    for store, copy in saved:
        store.clear()
        store.update(copy)


@pytest.mark.parametrize(("path", "code", "expected"), _blocks())
def test_docs_python_block_runs(path, code, expected, tmp_path, monkeypatch,
                                registries_restored):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(path), "exec"), {"__name__": "docs_example"})
    if expected is not None:
        assert out.getvalue() == expected


def test_every_checked_output_follows_a_python_block():
    for path in DOC_FILES:
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert len(re.findall(r"^Output \(checked\):$", text, re.M)) == sum(
                1 for m in BLOCK.finditer(text) if m.group(2) is not None), path


def test_readme_is_short_and_keeps_its_setup_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.encode("utf-8")) <= 10 * 1024
    for command in SETUP_COMMANDS:
        assert f"\n{command}\n" in text
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.rstrip().splitlines()[-1] == SETUP_COMMANDS[1]


def _make_pages():
    spec = importlib.util.spec_from_file_location("make_pages",
                                                  ROOT / "benchmarks" / "make_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_pages_are_generated_from_their_json():
    make_pages = _make_pages()
    assert sorted(make_pages.RESULTS.glob("*.json")), "no benchmark results"
    assert make_pages.stale() == [], "run: python benchmarks/make_pages.py"


def test_benchmark_page_shows_command_commit_date_machine_and_tables():
    make_pages = _make_pages()
    for path in sorted(make_pages.RESULTS.glob("*.json")):
        doc = make_pages.load(path)
        page = make_pages.render_page(doc)
        for key in ("command", "commit", "date", "machine"):
            assert f"| {key} |" in page and str(doc[key]) in page
        for table in doc["tables"]:
            assert f"## {table['title']}" in page
            assert page.count("\n| ") >= len(table["rows"])


def test_make_pages_renders_any_new_results_file(tmp_path, monkeypatch):
    """A JSON file that benchmarks/results.py writes becomes a page and a nav entry, with no
    code change."""
    make_pages = _make_pages()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        results = importlib.import_module("results")
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    monkeypatch.setattr(results, "RESULTS", tmp_path / "results")
    results.write_results("new_thing", [{"title": "Rows/s", "columns": ["what", "a|b"],
                                         "rows": [["x", 1.5], ["y", None]]}],
                          notes=["a note"], command="python benchmarks/new_thing.py --n 3",
                          threads=2)
    docs = tmp_path / "docs"
    (docs / "benchmarks").mkdir(parents=True)
    mkdocs = tmp_path / "mkdocs.yml"
    mkdocs.write_text("nav:\n  - Home: index.md\n" + make_pages.NAV_BEGIN + make_pages.NAV_END)
    monkeypatch.setattr(make_pages, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(make_pages, "PAGES", docs / "benchmarks")
    monkeypatch.setattr(make_pages, "MKDOCS", mkdocs)
    monkeypatch.setattr(make_pages, "ROOT", tmp_path)
    monkeypatch.setattr(sys, "argv", ["make_pages.py"])
    assert make_pages.main() == 0
    page = (docs / "benchmarks" / "new_thing.md").read_text()
    assert "`python benchmarks/new_thing.py --n 3`" in page
    assert "| what | a\\|b |" in page and "| x | 1.5 |" in page and "| y | – |" in page
    assert "| threads | 2 |" in page and "a note" in page
    assert "benchmarks/new_thing.md" in mkdocs.read_text()
    assert "(new_thing.md)" in (docs / "benchmarks" / "index.md").read_text()
    assert make_pages.stale() == []


def test_mkdocs_build_strict(tmp_path):
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install -e '.[docs]')")
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                           "-d", str(site)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # opens offline from file://: the search index is inlined as a script, no web fonts
    assert (site / "search" / "search_index.js").is_file()
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "fonts.googleapis.com" not in index
    assert "transferkit.finetune.FineTuneClassifier" in (
        site / "reference" / "finetune.html").read_text(encoding="utf-8")


# ---------------------------------------------------------------- docstrings of the public API

#: the modules whose public names form the API (each has an API reference page);
#: ``transferkit.cli`` is the command line, documented in the guide, not a Python API
PUBLIC_MODULES = [
    "transferkit", "transferkit.estimator", "transferkit.experiment", "transferkit.run",
    "transferkit.tasks", "transferkit.metrics",
    "transferkit.backbones", "transferkit.backbones.base", "transferkit.backbones.checkpoint",
    "transferkit.backbones.tabular",
    "transferkit.data", "transferkit.data.public", "transferkit.data.compose",
    "transferkit.features", "transferkit.heads", "transferkit.heads.base", "transferkit.baselines",
    "transferkit.finetune", "transferkit.finetune.objectives", "transferkit.finetune.callbacks",
    "transferkit.finetune.lr_find", "transferkit.finetune.selfsup", "transferkit.tune",
    "transferkit.backbones.small_resnet", "transferkit.pretrain",
    "transferkit.ranking", "transferkit.ranking.scores", "transferkit.ranking.candidates",
    "transferkit.adapt", "transferkit.adapt.kernels", "transferkit.adapt.protocols",
    "transferkit.adapt.deep",
    "transferkit.ranking", "transferkit.ranking.sources",
    "transferkit.runformat", "transferkit.results", "transferkit.audit",
    "transferkit.report", "transferkit.report.page", "transferkit.evaluation",
    "transferkit.errors", "transferkit.registry", "transferkit.progress", "transferkit.settings",
    "transferkit.demo",
]

#: public names still without a docstring (must stay empty)
PENDING_DOCSTRINGS: set[str] = set()


def public_objects(module_name: str) -> list[str]:
    """Qualified names of a module's public classes and functions: its ``__all__``, or when
    it has none, the classes and functions it defines whose names do not start with ``_``."""
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, obj in vars(module).items() if not n.startswith("_")
                 and (inspect.isclass(obj) or inspect.isfunction(obj))
                 and obj.__module__ == module_name]
    return [n for n in names
            if inspect.isclass(getattr(module, n)) or inspect.isfunction(getattr(module, n))]


def undocumented() -> set[str]:
    """Public classes, functions, methods and properties without a docstring, by the name of
    the module that defines them. A method is public when its class is and its name does not
    start with ``_``; one overriding a documented base method inherits that docstring (as
    ``inspect.getdoc`` does)."""
    missing = set()
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in public_objects(module_name):
            obj = getattr(module, name)
            where = f"{obj.__module__}.{obj.__qualname__}"
            if not (obj.__doc__ and obj.__doc__.strip()):
                missing.add(where)
            if not inspect.isclass(obj):
                continue
            for attr, value in vars(obj).items():
                if attr.startswith("_"):
                    continue
                func = value.fget if isinstance(value, property) else getattr(
                    value, "__func__", value)
                if inspect.isfunction(func) and not inspect.getdoc(getattr(obj, attr, func)) \
                        and not (isinstance(value, property) and value.__doc__):
                    missing.add(f"{where}.{attr}")
    return missing


def test_every_public_name_has_a_docstring():
    assert sorted(undocumented() - PENDING_DOCSTRINGS) == []


def test_pending_docstring_list_holds_only_missing_ones():
    assert sorted(PENDING_DOCSTRINGS - undocumented()) == [], "remove them from the list"
