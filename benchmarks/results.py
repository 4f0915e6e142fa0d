"""One JSON format for every benchmark's measured tables, from which the docs' benchmark
pages are generated (never typed by hand).

    from results import write_results      # inside benchmarks/*.py
    write_results("credit_default", [{"title": "...", "columns": [...], "rows": [[...]]}],
                  notes=["..."])

writes ``benchmarks/results/<name>.json``::

    {"schema": "transferkit.benchmark", "version": 1, "name": ..., "command": ...,
     "commit": ..., "date": ..., "machine": ..., "tables": [...], "notes": [...]}

``tables``: each ``{"title": str, "columns": [str], "rows": [[cell, ...]]}`` -- cells are
numbers or strings as they should be shown. The command is the one that ran (``sys.argv``),
the commit that of the checkout (``+dirty`` when it had uncommitted changes), the machine
the CPU model, core count and load average at the end of the run.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
SCHEMA, VERSION = "transferkit.benchmark", 1


def _commit() -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, check=True,
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("+dirty" if dirty.strip() else "")


def machine() -> str:
    """CPU model, logical cores and the 1-minute load average, in one line."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{model}, {os.cpu_count()} logical cores, load {load:.1f}"


def write_results(name: str, tables: list[dict[str, Any]], notes: list[str] | None = None,
                  command: str | None = None, **extra: Any) -> Path:
    """Write ``benchmarks/results/<name>.json`` atomically; returns its path."""
    for table in tables:
        missing = {"title", "columns", "rows"} - set(table)
        if missing:
            raise ValueError(f"table {table.get('title')!r} lacks {sorted(missing)}")
    doc = {"schema": SCHEMA, "version": VERSION, "name": name,
           "command": command or " ".join(["python", f"benchmarks/{Path(sys.argv[0]).name}",
                                           *sys.argv[1:]]),
           "commit": _commit(), "date": _dt.date.today().isoformat(), "machine": machine(),
           "tables": tables, "notes": list(notes or []), **extra}
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(f".json.tmp{os.getpid()}")
    tmp.write_text(json.dumps(doc, indent=1, default=float) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def report(name: str, tables: list[dict[str, Any]], notes: list[str] | None = None,
           write: bool = True) -> None:
    """Print ``tables`` (title, then one `` | ``-joined line per row) and ``notes``, then
    :func:`write_results` them unless ``write`` is False (a script's ``--no-write``)."""
    for table in tables:
        print(table["title"])
        for row in table["rows"]:
            print("  ", " | ".join(map(str, row)))
    for note in notes or []:
        print(note)
    if write:
        write_results(name, tables, notes=notes)
