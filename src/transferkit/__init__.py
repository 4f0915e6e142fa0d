"""transferkit: practical, honest transfer learning.

>>> from transferkit import TransferClassifier
>>> clf = TransferClassifier(backbone="minilm").fit(texts, y)   # doctest: +SKIP
"""

from .version import __version__  # noqa: I001  (first: every module may read it)
from .errors import TransferkitError
from . import runformat  # noqa: F401  (registers the file: backbone scheme)
from .estimator import (FromScratchClassifier, FromScratchRegressor, TransferClassifier,
                        TransferRegressor)
from . import pretrain  # noqa: F401,E402  (registers the self-supervised run kind)

__all__ = ["FromScratchClassifier", "FromScratchRegressor", "TransferClassifier",
           "TransferRegressor", "TransferkitError", "__version__"]
