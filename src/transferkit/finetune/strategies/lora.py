"""``lora``: low-rank adapters (Hu et al., 2021) via the ``peft`` library.

Target modules are found automatically: the attention projections (query/key/value/...)
when the backbone has any, else every ``nn.Linear`` of the backbone. The head is trained in
full and saved with the adapter (peft ``modules_to_save``).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ...errors import TransferkitError
from ..model import FineTuneModel
from . import register_strategy
from .base import Strategy

#: last name components that mark attention projections
ATTENTION_NAMES = {"query", "key", "value", "q_proj", "k_proj", "v_proj", "o_proj", "qkv",
                   "q", "k", "v", "out_proj", "c_attn", "Wqkv", "q_lin", "k_lin", "v_lin"}


def find_lora_targets(model: FineTuneModel) -> list[str]:
    """Full names (under the model) of the Linear layers LoRA should adapt; [] if none."""
    linears = [f"backbone.{n}" for n, m in model.backbone.named_modules()
               if isinstance(m, nn.Linear)]
    attention = [n for n in linears if n.split(".")[-1] in ATTENTION_NAMES]
    return attention or linears


@register_strategy("lora")
class LoRA(Strategy):
    default_lr = 1e-3

    def __init__(self, r: int = 8, alpha: int = 16, dropout: float = 0.0,
                 target_modules: list[str] | None = None):
        if r < 1:
            raise TransferkitError(f"lora rank r={r} must be >= 1", "e.g. r=8")
        self.r, self.alpha, self.dropout = int(r), int(alpha), float(dropout)
        self.target_modules = list(target_modules) if target_modules else None

    def options(self) -> dict[str, Any]:
        return {"r": self.r, "alpha": self.alpha, "dropout": self.dropout,
                "target_modules": self.target_modules}

    def lora_config(self, model: FineTuneModel) -> Any:
        from peft import LoraConfig

        targets = self.target_modules or find_lora_targets(model)
        if not targets:
            raise TransferkitError(
                f"LoRA found no Linear or attention layers in backbone '{model.backbone.name}'",
                "use strategy 'partial', 'bitfit' or 'finetune' for this backbone",
            )
        return LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout,
                          target_modules=targets, modules_to_save=["head"], bias="none")

    def apply(self, model: FineTuneModel) -> nn.Module:
        from peft import get_peft_model

        config = self.lora_config(model)
        self.config_ = config
        try:
            return get_peft_model(model, config)
        except ValueError as exc:  # peft: "Target modules ... not found"
            raise TransferkitError(f"LoRA target modules not found ({exc})",
                                   "check target_modules against the backbone's module "
                                   "names") from exc
