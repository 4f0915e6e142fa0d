"""``transferkit report``: a self-contained HTML page per run (or a comparison of runs).

Examples
--------
>>> from transferkit.report import build_report
>>> build_report(["runs/a"], "report.html")  # doctest: +SKIP
"""

from .page import MAX_EMBEDDED, ReportRun, Section, build_report, read_run, run_sections

__all__ = ["MAX_EMBEDDED", "ReportRun", "Section", "build_report", "read_run", "run_sections"]
