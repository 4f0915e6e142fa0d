"""transferkit: practical, honest transfer learning.

>>> from transferkit import TransferClassifier
>>> clf = TransferClassifier(backbone="minilm").fit(texts, y)   # doctest: +SKIP
"""

__version__ = "0.1.0"

from .errors import TransferkitError  # noqa: E402
from .estimator import FromScratchClassifier, TransferClassifier  # noqa: E402

__all__ = ["FromScratchClassifier", "TransferClassifier", "TransferkitError", "__version__"]
