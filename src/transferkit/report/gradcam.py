"""Grad-CAM (Selvaraju et al., ICCV 2017) heat maps of a saved image model.

The class score is differentiated with respect to the last convolution's feature maps;
their spatially averaged gradients weight the maps, and the positive part of the sum is the
heat map. A fine-tuned model is differentiated end to end. A frozen backbone with a
scikit-learn-style head has no autograd graph through the head: its log-probability is
linearised at the sample's features (one batched ``predict_proba`` of ``D + 1`` rows,
finite differences), which is exact for the linear heads and first-order for the MLP one.

Written here rather than taken from a library: the maintained Grad-CAM packages
(``pytorch-grad-cam``) need torchvision, which this project cannot install.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..finetune.model import unwrap

#: the finite-difference step of a frozen head's linearisation (features are O(1))
STEP = 1e-3


def last_conv(module: nn.Module) -> nn.Conv2d | None:
    """The last ``Conv2d`` of ``module`` in registration order, or None (no conv layer)."""
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1] if convs else None


def _head_gradient(head: Any, features: np.ndarray, target: int) -> np.ndarray:
    """d log p_target / d features (D,) of a fitted head at ``features`` (D,)."""
    d = features.shape[0]
    rows = np.repeat(features[None, :].astype(np.float64), d + 1, axis=0)
    rows[1:] += STEP * np.eye(d)
    logp = np.log(np.clip(head.predict_proba(rows.astype(np.float32))[:, target], 1e-12, 1))
    return ((logp[1:] - logp[0]) / STEP).astype(np.float32)


def class_scorer(model: Any) -> tuple[nn.Module, Any]:
    """``(backbone, score)`` of a loaded run: ``score(inputs, target)`` is a differentiable
    scalar of the prepared ``inputs`` (one image) for class code ``target``.

    Raises
    ------
    ValueError
        When the model has neither a fine-tuned module nor a head on backbone features.
    """
    if hasattr(model, "model_"):  # fine-tuned: end to end
        network = unwrap(model.model_).eval()

        def tuned(inputs: dict[str, torch.Tensor], target: int) -> torch.Tensor:
            return torch.log_softmax(network(**inputs), dim=1)[0, target]

        return network.backbone, tuned
    if hasattr(model, "head_") and hasattr(model, "transfer_backbone"):
        backbone = model.transfer_backbone().eval()

        def frozen(inputs: dict[str, torch.Tensor], target: int) -> torch.Tensor:
            features = backbone(**inputs)[0]
            gradient = _head_gradient(model.head_, features.detach().numpy(), target)
            return features @ torch.from_numpy(gradient)

        return backbone, frozen
    raise ValueError(f"{type(model).__name__} has no backbone and head to explain")


def grad_cam(model: Any, image: np.ndarray, target: int) -> np.ndarray:
    """The Grad-CAM map of class code ``target`` for one image.

    Parameters
    ----------
    model
        A loaded image run (:func:`transferkit.runformat.load_run`).
    image : ndarray, shape (H, W) or (H, W, 3), uint8
    target
        The class code to explain (e.g. the predicted one).

    Returns
    -------
    ndarray, shape (H, W), float in [0, 1]
        The heat map resized to the image (all zeros when no pixel raises the score).

    Raises
    ------
    ValueError
        When the model has no convolution layer to take maps from.
    """
    backbone, score = class_scorer(model)
    layer = last_conv(backbone)
    if layer is None:
        raise ValueError(f"the backbone {getattr(backbone, 'name', '')} has no convolution "
                         "layer")
    kept: dict[str, torch.Tensor] = {}

    def keep(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        output.retain_grad()
        kept["maps"] = output

    handle = layer.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            inputs = {k: v.requires_grad_(True) if v.is_floating_point() else v
                      for k, v in backbone.prepare([image]).items()}
            value = score(inputs, target)
            value.backward()
    finally:
        handle.remove()
    maps, grads = kept["maps"][0].detach(), kept["maps"].grad[0]
    cam = torch.relu((grads.mean(dim=(1, 2))[:, None, None] * maps).sum(0))
    cam = torch.nn.functional.interpolate(cam[None, None], size=image.shape[:2],
                                          mode="bilinear", align_corners=False)[0, 0]
    top = float(cam.max())
    return (cam / top).numpy() if top > 0 else np.zeros(image.shape[:2], np.float32)
