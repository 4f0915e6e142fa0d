"""Image decoding and resizing (Pillow), one batch at a time."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import TransferkitError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")


def load_rgb(item: Any) -> Image.Image:
    """One image as an RGB PIL image. ``item``: a path, a PIL image, or a uint8 array
    (H, W) / (H, W, 3) / (H, W, 4)."""
    if isinstance(item, Image.Image):
        return item.convert("RGB")
    if isinstance(item, np.ndarray):
        if item.dtype != np.uint8:
            raise TransferkitError(
                f"image array has dtype {item.dtype}, expected uint8",
                "scale pixels to 0..255 uint8 (transferkit.data.to_uint8 does this)",
            )
        return Image.fromarray(item).convert("RGB")
    if isinstance(item, str | os.PathLike):
        try:
            with Image.open(item) as img:
                img.load()
                return img.convert("RGB")
        except FileNotFoundError as exc:
            raise TransferkitError(f"image file not found: {item}", "check the path") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise TransferkitError(
                f"cannot decode image {item} (corrupt or not an image)",
                "remove or replace that file",
            ) from exc
    raise TransferkitError(
        f"cannot read an image from a {type(item).__name__}",
        "pass file paths, PIL images or uint8 arrays",
    )


def prepare_images(
    items: Sequence[Any], size: int, mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor:
    """Decode, resize to ``size``x``size`` and normalise. Returns float32 (N, 3, size, size)."""
    batch = np.empty((len(items), size, size, 3), dtype=np.uint8)
    for i, item in enumerate(items):
        img = load_rgb(item)
        if img.size != (size, size):
            img = img.resize((size, size), Image.Resampling.BILINEAR)
        batch[i] = np.asarray(img)
    x = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return x.sub_(m).div_(s).contiguous()


def to_uint8(images: np.ndarray, max_value: float | None = None) -> np.ndarray:
    """Scale an array of images (N, H, W[, C]) to uint8 0..255.

    ``max_value`` is the value that maps to 255; by default 255 for integer arrays whose
    max exceeds 1, 1.0 for floats in [0, 1], else the array's maximum (e.g. 16 for
    scikit-learn's digits)."""
    arr = np.asarray(images)
    if arr.dtype == np.uint8:
        return arr
    if not np.isfinite(arr).all():
        raise TransferkitError("image array contains NaN or inf", "clean or drop those images")
    if max_value is None:
        top = float(arr.max()) if arr.size else 1.0
        max_value = 1.0 if top <= 1.0 else (255.0 if top > 16 else top)
    return np.clip(np.rint(arr.astype(np.float64) * (255.0 / max_value)), 0, 255).astype(np.uint8)
