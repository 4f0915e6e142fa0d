"""Readers for public benchmark files in the formats of ``../shared/data`` (SMS spam TSV,
MR polarity, USPS HDF5, MNIST CSV). Paths are the user's; nothing is downloaded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import TransferkitError
from .dataset import Dataset
from .images import to_uint8


def _need(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise TransferkitError(f"data not found: {path}", "check the path")
    return path


def load_sms_spam(path: str | os.PathLike) -> Dataset:
    """SMS Spam Collection: ``label<TAB>text`` lines (a ``Label\\tSMS`` header is skipped)."""
    texts, labels = [], []
    for i, line in enumerate(_need(path).read_text(encoding="utf-8").splitlines()):
        label, _, text = line.partition("\t")
        if i == 0 and label.lower() == "label":
            continue
        if text:
            labels.append(label)
            texts.append(text)
    return Dataset(texts, np.asarray(labels), "text", name="sms_spam")


def load_mr_polarity(folder: str | os.PathLike) -> Dataset:
    """Pang & Lee sentence polarity: ``rt-polarity.pos`` / ``.neg``, one sentence a line."""
    folder = _need(folder)
    texts, labels = [], []
    for label in ("neg", "pos"):
        raw = (folder / f"rt-polarity.{label}").read_bytes().decode("utf-8", errors="replace")
        lines = [s.strip() for s in raw.splitlines() if s.strip()]
        texts += lines
        labels += [label] * len(lines)
    return Dataset(texts, np.asarray(labels), "text", name="mr_polarity")


def load_usps_h5(path: str | os.PathLike) -> tuple[Dataset, Dataset]:
    """USPS 16x16 digits (floats in [0, 1]) as uint8 images: (train, test)."""
    import h5py

    with h5py.File(_need(path), "r") as fh:
        parts = []
        for split in ("train", "test"):
            X = to_uint8(fh[split]["data"][:].reshape(-1, 16, 16), max_value=1.0)
            parts.append(Dataset(X, fh[split]["target"][:], "image", name=f"usps_{split}"))
    return parts[0], parts[1]


def load_mnist_csv(path: str | os.PathLike) -> Dataset:
    """MNIST rows of 784 pixels (0..255) then the label, optionally gzipped."""
    raw = np.loadtxt(_need(path), delimiter=",", dtype=np.uint8)
    return Dataset(raw[:, :-1].reshape(-1, 28, 28), raw[:, -1], "image", name="mnist")
