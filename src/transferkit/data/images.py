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
        return _to_rgb(item)
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
                return _to_rgb(img)
        except FileNotFoundError as exc:
            raise TransferkitError(f"image file not found: {item}", "check the path") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
                Image.DecompressionBombError) as exc:
            raise TransferkitError(
                f"cannot decode image {item} (corrupt or not an image)",
                "remove or replace that file",
            ) from exc
    raise TransferkitError(
        f"cannot read an image from a {type(item).__name__}",
        "pass file paths, PIL images or uint8 arrays",
    )


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB, with 16/32-bit integer images (``I;16``, ``I``) scaled to 8 bits first (PIL's
    own conversion clips them to white)."""
    if img.mode.startswith("I;16") or img.mode == "I":
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") else max(float(arr.max()), 1.0)
        img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8))
    return img.convert("RGB")


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


def normalise_digit_geometry(images: np.ndarray, box: int = 20, size: int = 28,
                             threshold: float = 0.1) -> np.ndarray:
    """MNIST's size normalisation applied to any grey digit images: crop each image to its
    ink (pixels above ``threshold`` x its maximum), scale the longer side to ``box`` pixels
    keeping the aspect ratio (antialiased), and centre the ink's centre of mass in a
    ``size`` x ``size`` canvas. ``images``: (N, H, W) light-on-dark, any H, W -> uint8
    (N, size, size). Label-free and per image, so it is applied alike to every domain (e.g.
    USPS, whose 16x16 digits fill the frame, then share MNIST's framing)."""
    from scipy import ndimage

    arr = to_uint8(images)
    if arr.ndim != 3:
        raise TransferkitError(f"expected grey images (N, H, W), got shape {arr.shape}",
                               "pass single-channel digit images")
    if not 0 < box <= size:
        raise TransferkitError(f"box {box} must lie in 1..size ({size})", "pick box <= size")
    out = np.zeros((len(arr), size, size), np.uint8)
    centre = (size - 1) / 2
    for i, img in enumerate(arr):
        rows, cols = np.nonzero(img > threshold * max(int(img.max()), 1))
        if not rows.size:
            continue  # a blank image stays blank
        ink = img[rows.min():rows.max() + 1, cols.min():cols.max() + 1].astype(np.float32)
        scale = box / max(ink.shape)
        h, w = (max(1, round(n * scale)) for n in ink.shape)
        canvas = np.zeros((size, size), np.float32)
        top, left = (size - h) // 2, (size - w) // 2
        canvas[top:top + h, left:left + w] = np.asarray(
            Image.fromarray(ink).resize((w, h), Image.Resampling.LANCZOS)).clip(0, 255)
        cy, cx = ndimage.center_of_mass(canvas)
        canvas = ndimage.shift(canvas, (centre - cy, centre - cx), order=1)
        out[i] = canvas.clip(0, 255)  # truncated to uint8
    return out
