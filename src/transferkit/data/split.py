"""Stratified, seeded splits and per-class subsampling. Test labels never feed a choice."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from ..errors import TransferkitError


@dataclass
class Split:
    """Index arrays into one dataset."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    protocol: str


def stratified_split(
    y: np.ndarray,
    test_size: float = 0.2,
    val_size: float = 0.2,
    seed: int = 0,
    given: np.ndarray | None = None,
) -> Split:
    """Split indices into train/val/test. ``val_size`` is a fraction of what is not test.

    With ``given`` (per-sample "train"/"val"/"test"), those splits are used; a missing
    validation split is carved out of train, a missing test split out of train too.
    """
    idx = np.arange(len(y))
    if given is not None:
        g = np.asarray(given).astype(str)
        test = idx[g == "test"]
        val = idx[g == "val"]
        train = idx[g == "train"]
        protocol = "user-given splits"
        if len(test) == 0:
            train, test = _strat(train, y, test_size, seed)
            protocol += f"; test = stratified {test_size:.0%} of train"
        if len(val) == 0 and val_size > 0:
            train, val = _strat(train, y, val_size, seed)
            protocol += f"; validation = stratified {val_size:.0%} of train"
        return Split(train, val, test, protocol)
    rest, test = _strat(idx, y, test_size, seed) if test_size > 0 else (idx, idx[:0])
    train, val = _strat(rest, y, val_size, seed) if val_size > 0 else (rest, idx[:0])
    protocol = (
        f"stratified split (seeded): test {test_size:.0%}, validation {val_size:.0%} of the "
        f"rest"
    )
    return Split(train, val, test, protocol)


def _strat(idx: np.ndarray, y: np.ndarray, size: float, seed: int) -> tuple[np.ndarray, ...]:
    labels = y[idx]
    _, counts = np.unique(labels, return_counts=True)
    n_hold = int(np.ceil(size * len(idx)))
    stratify = labels if counts.min() >= 2 and n_hold >= len(counts) else None
    if len(idx) < 2:
        raise TransferkitError(
            f"only {len(idx)} samples to split", "add data or pass your own splits"
        )
    a, b = train_test_split(idx, test_size=size, random_state=seed, stratify=stratify)
    return np.sort(a), np.sort(b)


def per_class_subsample(idx: np.ndarray, y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """At most ``n`` samples of each class from ``idx`` (seeded)."""
    rng = np.random.default_rng(seed)
    out = []
    for c in np.unique(y[idx]):
        members = idx[y[idx] == c]
        out.append(rng.choice(members, size=min(n, len(members)), replace=False))
    return np.sort(np.concatenate(out))
