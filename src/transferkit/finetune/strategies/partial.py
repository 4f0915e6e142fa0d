"""``partial``: the first ``freeze`` layer groups (input side) are frozen, the rest trains."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import nn

from ...errors import TransferkitError
from ..model import FineTuneModel
from . import register_strategy
from .base import Strategy, freeze

if TYPE_CHECKING:
    import optuna


@register_strategy("partial")
class Partial(Strategy):
    default_lr = 1e-4

    def __init__(self, freeze: int = 1):
        if not isinstance(freeze, int) or isinstance(freeze, bool) or freeze < 0:
            raise TransferkitError(f"freeze={freeze!r} is not a count of layer groups",
                                   "pass a whole number >= 0, e.g. freeze=2")
        self.freeze = freeze

    def options(self) -> dict[str, Any]:
        return {"freeze": self.freeze}

    @classmethod
    def search_space(cls, trial: optuna.Trial, **context: Any) -> dict[str, Any]:
        """``freeze``: 1 .. ``layer_groups - 1`` (0 is ``finetune``, all is a probe)."""
        groups = int(context.get("layer_groups") or 2)
        return {"freeze": trial.suggest_int(f"{cls.name}.freeze", 1, max(1, groups - 1))}

    def apply(self, model: FineTuneModel) -> nn.Module:
        groups = model.layer_groups()
        if self.freeze > len(groups):
            raise TransferkitError(
                f"freeze={self.freeze} but backbone '{model.backbone.name}' has only "
                f"{len(groups)} layer groups ({', '.join(g.name for g in groups)})",
                f"pass freeze <= {len(groups)}",
            )
        freeze(model, False)
        for group in groups[: self.freeze]:
            for module in group.modules:
                freeze(module)
        return model
