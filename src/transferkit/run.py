"""Run dirs and the transfer-vs-baseline experiment, under one public name.

``load_run`` reads any saved run (format: :mod:`transferkit.runformat`); ``compare`` is the
experiment behind ``transferkit fit`` (:mod:`transferkit.experiment`).
"""

from .experiment import SCRATCH_LR, Comparison, compare
from .runformat import CONFIG, FORMAT_VERSION, load_run

__all__ = ["CONFIG", "FORMAT_VERSION", "SCRATCH_LR", "Comparison", "compare", "load_run"]
