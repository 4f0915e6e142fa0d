"""Image augmentation on normalised batches with ``kornia`` (runs in the training process).

Random resized crop, horizontal flip and colour jitter, applied to ``pixel_values``
``(N, 3, S, S)`` after undoing the backbone's mean/std normalisation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..backbones import Preprocessing

DEFAULTS: dict[str, Any] = {"crop_scale": (0.6, 1.0), "flip": True, "jitter": 0.2}


def make_augment(
    spec: bool | dict[str, Any] | None, preprocessing: Preprocessing
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """``spec``: True / a dict overriding :data:`DEFAULTS` (``crop_scale``, ``flip``,
    ``jitter``) / False or None. Returns a function ``(N,3,S,S) -> (N,3,S,S)`` or None."""
    if not spec or preprocessing.modality != "image":
        return None
    import kornia.augmentation as K

    opts = {**DEFAULTS, **(spec if isinstance(spec, dict) else {})}
    size = int(preprocessing.image_size or 224)
    ops: list[torch.nn.Module] = []
    if opts["crop_scale"]:
        ops.append(K.RandomResizedCrop((size, size), scale=tuple(opts["crop_scale"])))
    if opts["flip"]:
        ops.append(K.RandomHorizontalFlip())
    if opts["jitter"]:
        j = float(opts["jitter"])
        ops.append(K.ColorJitter(j, j, j, 0.0, p=0.8))
    pipeline = torch.nn.Sequential(*ops)
    mean = torch.tensor(preprocessing.mean or (0.0, 0.0, 0.0)).view(1, 3, 1, 1)
    std = torch.tensor(preprocessing.std or (1.0, 1.0, 1.0)).view(1, 3, 1, 1)

    def augment(x: torch.Tensor) -> torch.Tensor:
        m, s = mean.to(x), std.to(x)
        with torch.no_grad():
            img = (x * s + m).clamp_(0.0, 1.0)
            return (pipeline(img) - m) / s

    return augment
