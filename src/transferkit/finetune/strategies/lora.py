"""``lora``: low-rank adapters (Hu et al., 2021) via the ``peft`` library.

Target modules are found automatically: the attention projections (query/key/value/...)
when the backbone has any, else every ``nn.Linear`` of the backbone. The head is trained in
full and saved with the adapter (peft ``modules_to_save``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from ..._io import load_tensors, save_tensors
from ...errors import TransferkitError
from ..model import FineTuneModel
from . import register_strategy
from .base import Strategy

if TYPE_CHECKING:
    import optuna

ADAPTER_FILE = "adapter.safetensors"  # peft adapter weights *and* the head (modules_to_save)
BUFFERS_FILE = "buffers.safetensors"  # BatchNorm statistics re-estimated in training

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
    """Low-rank adapters of rank ``r`` (scale ``alpha / r``) on ``target_modules`` (found
    automatically when None); the backbone's own weights stay frozen."""

    default_lr = 1e-3
    adapts_backbone = True

    def __init__(self, r: int = 8, alpha: int = 16, dropout: float = 0.0,
                 target_modules: list[str] | None = None):
        if r < 1:
            raise TransferkitError(f"lora rank r={r} must be >= 1", "e.g. r=8")
        self.r, self.alpha, self.dropout = int(r), int(alpha), float(dropout)
        self.target_modules = list(target_modules) if target_modules else None
        self.config_: Any = None

    def options(self) -> dict[str, Any]:
        return {"r": self.r, "alpha": self.alpha, "dropout": self.dropout,
                "target_modules": self.target_modules}

    @classmethod
    def search_space(cls, trial: optuna.Trial, **context: Any) -> dict[str, Any]:
        """Rank ``r`` of 4, 8 or 16 (``alpha = 2 r``) and the adapters' dropout."""
        r = trial.suggest_categorical(f"{cls.name}.r", [4, 8, 16])
        return {"r": r, "alpha": 2 * r,
                "dropout": trial.suggest_float(f"{cls.name}.dropout", 0.0, 0.2)}

    def lora_config(self, model: FineTuneModel, targets: list[str] | None = None) -> Any:
        from peft import LoraConfig

        targets = targets or self.target_modules or find_lora_targets(model)
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

    def save(self, module: nn.Module, folder: Path, backbone_changed: bool) -> dict[str, Any]:
        """The adapter (with the head) and, when BatchNorm statistics changed, the buffers;
        the state names the layers adapted, so :meth:`restore` rebuilds the same wrapper."""
        from peft import get_peft_model_state_dict

        save_tensors(folder / ADAPTER_FILE, get_peft_model_state_dict(module))
        names = {n for n, _ in module.named_buffers()}
        buffers = {k: v for k, v in module.state_dict().items() if k in names}
        if buffers and backbone_changed:  # e.g. bn="train": not in the adapter
            save_tensors(folder / BUFFERS_FILE, buffers)
        return {"target_modules": sorted(self.config_.target_modules)}

    def restore(self, model: FineTuneModel, folder: Path, state: dict[str, Any]) -> nn.Module:
        from peft import get_peft_model, set_peft_model_state_dict

        module = get_peft_model(model, self.lora_config(model, state.get("target_modules")))
        self.config_ = module.peft_config["default"]
        result = set_peft_model_state_dict(module, load_tensors(folder / ADAPTER_FILE))
        if getattr(result, "unexpected_keys", None):
            raise TransferkitError(
                f"{folder / ADAPTER_FILE} does not fit backbone '{model.backbone.name}'",
                "load it with the backbone it was trained on")
        if (folder / BUFFERS_FILE).is_file():
            module.load_state_dict(load_tensors(folder / BUFFERS_FILE), strict=False)
        return module

    def merge(self, module: nn.Module) -> FineTuneModel:
        """The adapters folded into the backbone's layers (``merge_and_unload``)."""
        merged = module.merge_and_unload()
        merged.backbone._digest = ""  # not the base file's weights: hash the merged tensors
        return merged
