"""``auto``: pick a strategy from the data size and how far the data is from the
pretraining domain. The rule (the transfer-learning "quadrants", Yosinski et al. 2014):

* ``d`` (domain-distance proxy) = 1 - normalised leave-one-out 1-NN accuracy of the
  *frozen* features on up to 200 training samples: 0 = the pretrained features already
  separate the classes, 1 = no better than chance.
* ``n`` = number of training samples.

* n < 1000, d < 0.3: ``linear-probe``; n < 1000, d >= 0.3: ``partial`` (freeze the
  first half of the layer groups);
* n >= 1000, d < 0.3: ``lora`` (``bitfit`` without Linear layers); n >= 1000, d >= 0.3:
  ``finetune``.

It prints what it chose and why.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..model import FineTuneModel
from . import make_strategy, register_strategy
from .base import Strategy
from .lora import find_lora_targets

SMALL = 1000
NEAR = 0.3
PROBE = 200


def domain_distance(model: FineTuneModel, items: Any, codes: np.ndarray, seed: int = 0) -> float:
    """1 - (LOO 1-NN accuracy - chance) / (1 - chance) on frozen features of <= 200 samples."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(codes))[:PROBE]
    backbone = model.backbone
    was_training = backbone.training
    backbone.eval()
    feats = []
    with torch.no_grad():
        for start in range(0, len(idx), 32):
            batch = [items[i] for i in idx[start:start + 32]]
            feats.append(backbone(**backbone.prepare(batch)).float())
    backbone.train(was_training)
    f = torch.nn.functional.normalize(torch.cat(feats), dim=1)
    sim = f @ f.T
    sim.fill_diagonal_(-np.inf)
    y = torch.as_tensor(codes[idx])
    acc = float((y[sim.argmax(1)] == y).float().mean())
    chance = float(np.max(np.bincount(codes[idx])) / len(idx))
    return float(np.clip(1 - (acc - chance) / max(1 - chance, 1e-9), 0.0, 1.0))


@register_strategy("auto")
class Auto(Strategy):
    needs_class_labels = True  # its probe is a classifier on the data's classes

    def resolve(self, model: FineTuneModel, items: Any, codes: Any) -> Strategy:
        codes = np.asarray(codes)
        n = len(codes)
        d = domain_distance(model, items, codes)
        n_groups = len(model.layer_groups())
        if n < SMALL and d < NEAR:
            chosen, why = make_strategy("linear-probe"), "few samples, near domain"
        elif n < SMALL:
            chosen = make_strategy("partial", freeze=n_groups // 2)
            why = "few samples, far domain: adapt the upper half only"
        elif d < NEAR:
            chosen = make_strategy("lora" if find_lora_targets(model) else "bitfit")
            why = "many samples, near domain: a few parameters suffice"
        else:
            chosen, why = make_strategy("finetune"), "many samples, far domain"
        print(f"strategy auto -> {chosen.describe()}: n={n} training samples "
              f"({'<' if n < SMALL else '>='} {SMALL}), domain distance d={d:.2f} "
              f"({'<' if d < NEAR else '>='} {NEAR}; 1 - normalised 1-NN accuracy of frozen "
              f"features); {why}")
        chosen.auto_reason = {"n": n, "domain_distance": d, "why": why}  # type: ignore[attr-defined]
        return chosen

    def apply(self, model: FineTuneModel) -> nn.Module:  # pragma: no cover - resolved first
        raise RuntimeError("strategy 'auto' must be resolved before it is applied")
