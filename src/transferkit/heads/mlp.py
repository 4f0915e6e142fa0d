"""A small MLP head (PyTorch), early-stopped on validation loss."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from . import register_head
from .base import Head, single_thread

if TYPE_CHECKING:
    import optuna


class _MLP(nn.Module):
    def __init__(self, d_in: int, hidden: int, n_classes: int, dropout: float):
        super().__init__()
        self.register_buffer("mean", torch.zeros(d_in))
        self.register_buffer("scale", torch.ones(d_in))
        self.net = nn.Sequential(
            nn.Linear(d_in, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, D) -> (N, K) logits
        return self.net((x - self.mean) / self.scale)


@register_head("mlp")
class MLPHead(Head):
    """One hidden layer (GELU, dropout), AdamW; the epoch with the best validation loss is
    kept. Without validation data it trains a fixed number of epochs."""

    def __init__(
        self,
        hidden: int = 256,
        dropout: float = 0.2,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        epochs: int = 100,
        batch_size: int = 128,
        patience: int = 10,
    ):
        self.hidden, self.dropout, self.lr = hidden, dropout, lr
        self.weight_decay, self.epochs, self.batch_size = weight_decay, epochs, batch_size
        self.patience = patience

    def fit(self, X, y, n_classes, X_val=None, y_val=None, seed=0) -> MLPHead:
        with single_thread():
            return self._fit(X, y, n_classes, X_val, y_val, seed)

    def _fit(self, X, y, n_classes, X_val, y_val, seed) -> MLPHead:
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        Xt = _dense(X)
        self.model_ = _MLP(Xt.shape[1], self.hidden, n_classes, self.dropout)
        if not hasattr(X, "tocsr"):
            self.model_.mean.copy_(Xt.mean(0))
            self.model_.scale.copy_(Xt.std(0).clamp(min=1e-6))
        opt = torch.optim.AdamW(
            self.model_.parameters(), lr=self.lr, weight_decay=self.weight_decay
        )
        yt = torch.as_tensor(y, dtype=torch.long)
        has_val = X_val is not None and y_val is not None and len(y_val) > 0
        Xv, yv = (_dense(X_val), torch.as_tensor(y_val, dtype=torch.long)) if has_val else (None,
                                                                                         None)
        best_loss, best_state, best_epoch, bad = np.inf, None, self.epochs, 0
        for epoch in range(self.epochs):
            self.model_.train()
            for sel in np.array_split(rng.permutation(len(yt)), max(1, len(yt) // self.batch_size)):
                loss = nn.functional.cross_entropy(self.model_(Xt[sel]), yt[sel])
                opt.zero_grad()
                loss.backward()
                opt.step()
            if has_val:
                self.model_.eval()
                with torch.no_grad():
                    vloss = float(nn.functional.cross_entropy(self.model_(Xv), yv))
                if vloss < best_loss - 1e-4:
                    best_loss, bad, best_epoch = vloss, 0, epoch + 1
                    best_state = {k: v.clone() for k, v in self.model_.state_dict().items()}
                else:
                    bad += 1
                    if bad >= self.patience:
                        break
        if best_state is not None:
            self.model_.load_state_dict(best_state)
        self.best_epoch_ = best_epoch
        self.model_.eval()
        return self

    def predict_proba(self, X) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(self.model_(_dense(X)), dim=1).numpy().astype(np.float64)

    def chosen_params(self) -> dict[str, Any]:
        return {"epochs": max(1, int(self.best_epoch_))}

    @classmethod
    def search_space(cls, trial: optuna.Trial) -> dict[str, Any]:
        """Width, dropout, learning rate and weight decay of the MLP (the epoch is still
        chosen by early stopping on validation)."""
        return {"hidden": trial.suggest_categorical(f"{cls.name}.hidden", [64, 128, 256, 512]),
                "dropout": trial.suggest_float(f"{cls.name}.dropout", 0.0, 0.5),
                "lr": trial.suggest_float(f"{cls.name}.lr", 1e-4, 1e-2, log=True),
                "weight_decay": trial.suggest_float(f"{cls.name}.weight_decay", 1e-6, 1e-2,
                                                    log=True)}

    def state(self) -> dict[str, torch.Tensor]:
        return dict(self.model_.state_dict())

    def config(self) -> dict[str, Any]:
        keys = ("hidden", "dropout", "lr", "weight_decay", "epochs", "batch_size", "patience")
        return {**{k: getattr(self, k) for k in keys}, "best_epoch": self.best_epoch_}

    @classmethod
    def from_state(cls, config, state) -> MLPHead:
        head = cls(**{k: v for k, v in config.items() if k != "best_epoch"})
        d_in, n_classes = state["net.0.weight"].shape[1], state["net.3.weight"].shape[0]
        head.model_ = _MLP(d_in, head.hidden, n_classes, head.dropout)
        head.model_.load_state_dict(state)
        head.model_.eval()
        head.best_epoch_ = config.get("best_epoch")
        return head


def _dense(X) -> torch.Tensor:
    if hasattr(X, "toarray"):
        X = X.toarray()
    return torch.as_tensor(np.asarray(X), dtype=torch.float32)
