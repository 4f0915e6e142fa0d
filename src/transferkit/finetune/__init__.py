"""Fine-tuning engine: strategies (what trains) + one Accelerate training loop.

>>> from transferkit.finetune import FineTuneClassifier
>>> clf = FineTuneClassifier(backbone="minilm", strategy="lora", epochs=2)  # doctest: +SKIP
"""

from .estimator import FineTuneClassifier, FineTuneRegressor
from .loop import TrainConfig, Trainer, TrainResult, predict_proba
from .model import FineTuneModel
from .strategies import STRATEGIES, Strategy, make_strategy, register_strategy

__all__ = [
    "STRATEGIES",
    "FineTuneClassifier",
    "FineTuneRegressor",
    "FineTuneModel",
    "Strategy",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "make_strategy",
    "predict_proba",
    "register_strategy",
]
