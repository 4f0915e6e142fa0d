"""Rank candidate models for a target before training any (``transferkit rank``).

Each candidate backbone reads the target's labelled **training split** once (cached
features); every transferability score of :mod:`transferkit.ranking.scores` is computed
on those features (LogME, H-score, shrinkage H-score) and, for a candidate that carries a
source classifier (:meth:`transferkit.backbones.Backbone.source_head`), on its source-task
probabilities (NCE, LEEP). Nothing is chosen on the test split: it is held out for
:func:`fit_top`, which fine-tunes the best candidates with one fixed budget to check the
predicted order against the actual one.

>>> ranking = rank_candidates(target, ["efficientnet_lite0", "file:runs/src"])  # doctest: +SKIP
>>> print(ranking.table())                                                     # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..backbones import Backbone, load_backbone
from ..data.dataset import Dataset, take
from ..data.split import per_class_subsample, stratified_split
from ..errors import TransferkitError
from ..features import extract_features
from ..metrics import text_table
from .scores import SCORES, score_candidate

#: the score that orders candidates unless another is named
PRIMARY = "logme"


@dataclass
class CandidateScores:
    """One candidate's scores.

    Attributes
    ----------
    name : str
        As given (``efficientnet_lite0``, ``file:runs/src``, ...).
    scores : dict of str to float or None
        Score name -> value (None: not applicable, see ``reasons``).
    reasons : dict of str to str
        Score name -> why it is "n/a".
    seconds : dict of str to float
        Score name -> time to compute it; ``"features"``: the extraction (cache hits are
        fast).
    """

    name: str
    scores: dict[str, float | None]
    reasons: dict[str, str]
    seconds: dict[str, float]


@dataclass
class Ranking:
    """Candidates scored on one target split.

    Attributes
    ----------
    candidates : list of CandidateScores
        In the order given.
    protocol : str
        What was scored on which split.
    train, test : numpy.ndarray
        Indices of the target's training split (scored) and test split (held out).
    actual : dict of str to dict
        Filled by :func:`fit_top`: candidate -> ``{"accuracy": mean, "sd": ..., "seconds":
        ...}``.
    """

    candidates: list[CandidateScores]
    protocol: str
    train: np.ndarray
    test: np.ndarray
    actual: dict[str, dict[str, float]] = field(default_factory=dict)

    def order(self, score: str = PRIMARY) -> list[str]:
        """Candidate names, best first by ``score`` (n/a ones last, in the given order).

        Parameters
        ----------
        score : str
            A score name of :data:`~transferkit.ranking.scores.SCORES`.

        Returns
        -------
        list of str
        """
        SCORES.get(score)
        known = [c for c in self.candidates if c.scores.get(score) is not None]
        rest = [c for c in self.candidates if c.scores.get(score) is None]
        known.sort(key=lambda c: -float(c.scores[score]))
        return [c.name for c in known + rest]

    def table(self, score: str = PRIMARY) -> str:
        """The ranked table: each score, n/a with its reason, and the time of each.

        Returns
        -------
        str
        """
        names = [name for name, _ in SCORES.items()]
        by_name = {c.name: c for c in self.candidates}
        header = ["rank", "candidate", *names, "features s", "scores s"]
        if self.actual:
            header.append("actual accuracy")
        lines = []
        notes: list[str] = []
        for i, name in enumerate(self.order(score), 1):
            c = by_name[name]
            cells = [str(i), name]
            for s in names:
                value = c.scores.get(s)
                if value is None:
                    cells.append("n/a")
                    if c.reasons.get(s) and c.reasons[s] not in notes:
                        notes.append(c.reasons[s])
                else:
                    cells.append(f"{value:.4g}")
            cells.append(f"{c.seconds.get('features', 0.0):.2f}")
            cells.append(f"{sum(v for k, v in c.seconds.items() if k != 'features'):.3f}")
            if self.actual:
                got = self.actual.get(name)
                cells.append(f"{100 * got['accuracy']:.2f} ± {100 * got['sd']:.2f}" if got
                             else "not fitted")
            lines.append(cells)
        return "\n".join([text_table(header, lines), *(f"n/a: {note}" for note in notes)])

    def to_json(self) -> dict[str, Any]:
        """The ranking as JSON: protocol, per-candidate scores, reasons and times, the
        order by each score and the fine-tuned accuracies (when measured)."""
        return {
            "protocol": self.protocol,
            "candidates": [{"name": c.name, "scores": c.scores, "reasons": c.reasons,
                            "seconds": c.seconds} for c in self.candidates],
            "order": {name: self.order(name) for name, _ in SCORES.items()},
            "actual": self.actual,
            "n_train": int(len(self.train)), "n_test": int(len(self.test)),
        }


def load_candidate(name: str | Backbone, modality: str) -> Backbone:
    """The candidate backbone ``name``, checked against the target's modality.

    Parameters
    ----------
    name : str or Backbone
        A backbone name or scheme (``file:RUN``, ``hf:...``).
    modality : str
        The target's (``image``, ``text``, ``tabular``).

    Returns
    -------
    Backbone
    """
    backbone = load_backbone(name)
    if backbone.modality != modality:
        raise TransferkitError(
            f"candidate '{name}' reads {backbone.modality} inputs; the target holds "
            f"{modality} data", "drop it from --candidates, or rank it on a target of its kind")
    return backbone


def source_probabilities(backbone: Backbone, features: np.ndarray) -> np.ndarray | None:
    """The source classifier's probabilities on ``features``, when the backbone has one.

    Parameters
    ----------
    backbone : Backbone
    features : numpy.ndarray, shape (N, feature_dim)

    Returns
    -------
    numpy.ndarray, shape (N, C_source), or None
    """
    head = backbone.source_head()
    if head is None:
        return None
    with torch.inference_mode():
        logits = head(torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)))
        return torch.softmax(logits.double(), dim=1).numpy()


def target_split(data: Dataset, test_size: float, seed: int,
                 labels_per_class: int | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """The target's labelled training split (scored) and held-out test split.

    Parameters
    ----------
    data : Dataset
        Labelled target data.
    test_size : float
        Share held out (stratified; 0: nothing held out, :func:`fit_top` cannot run).
    seed : int
    labels_per_class : int or None
        Score on at most this many labels per class of the training split.

    Returns
    -------
    tuple
        ``(train indices, test indices, protocol)``.
    """
    y = np.asarray(data.y)
    split = stratified_split(y, test_size, 0.0, seed, given=data.split)
    train = split.train
    protocol = split.protocol
    if labels_per_class:
        train = per_class_subsample(train, y, labels_per_class, seed)
        protocol += f"; {labels_per_class} labels per class drawn (seeded) from the train split"
    return train, split.test, protocol


def rank_candidates(data: Dataset, candidates: Sequence[str], test_size: float = 0.2,
                    seed: int = 0, labels_per_class: int | None = None,
                    regression: bool = False, engine: str = "auto", cache: bool = True,
                    progress: bool | None = None) -> Ranking:
    """Score every candidate on the target's labelled training split.

    Parameters
    ----------
    data : Dataset
        Labelled target data.
    candidates : sequence of str
        Backbone names (at least one; each loaded, checked and scored in turn).
    test_size, seed, labels_per_class
        The split (:func:`target_split`).
    regression : bool
        Numeric targets: only the scores that take them (LogME).
    engine, cache, progress
        Feature extraction options (:func:`transferkit.features.extract_features`).

    Returns
    -------
    Ranking
    """
    if not candidates:
        raise TransferkitError("no candidate to rank", "name them: --candidates a,b,c")
    if len(set(candidates)) != len(candidates):
        raise TransferkitError("a candidate is named twice in --candidates",
                               "name each once")
    train, test, protocol = target_split(data, test_size, seed, labels_per_class)
    items = take(data.X, train)
    labels = np.asarray(data.y)[train]
    rows = []
    backbones = [load_candidate(name, data.modality) for name in candidates]  # all, first
    for name, backbone in zip(candidates, backbones, strict=True):
        t0 = time.perf_counter()
        features = extract_features(backbone, items, engine=engine, cache=cache,
                                    progress=progress)
        extract_s = time.perf_counter() - t0
        probs = source_probabilities(backbone, features)
        result = score_candidate(features, labels, source_probabilities=probs,
                                 regression=regression)
        rows.append(CandidateScores(
            name=name, scores={k: v[0] for k, v in result.items()},
            reasons={k: v[1] for k, v in result.items() if v[1]},
            seconds={"features": extract_s, **{k: v[2] for k, v in result.items()}}))
    protocol = (f"{protocol}; every score on the {len(train)} labelled training samples "
                f"only (the test split is never scored)")
    return Ranking(rows, protocol, train, test)


def fit_top(ranking: Ranking, data: Dataset, n: int, score: str = PRIMARY,
            seeds: Sequence[int] = (0,), epochs: int = 3, lr: float | None = None,
            strategy: str = "finetune", batch_size: int = 16,
            verbose: bool = False) -> dict[str, dict[str, float]]:
    """Fine-tune the ``n`` best candidates with one fixed budget; test-split accuracy.

    Parameters
    ----------
    ranking : Ranking
        From :func:`rank_candidates` on ``data``.
    data : Dataset
    n : int
        How many of the best candidates (by ``score``) to fine-tune.
    score : str
        The score that orders them.
    seeds : sequence of int
        Each seed fine-tunes once (the split stays the ranking's).
    epochs, lr, strategy, batch_size
        The fixed budget, the same for every candidate (``lr=None``: the strategy's).
    verbose : bool

    Returns
    -------
    dict of str to dict
        Candidate -> ``{"accuracy", "sd", "seconds"}``; also stored in ``ranking.actual``.
    """
    from ..finetune.estimator import FineTuneClassifier

    check_fit_top(n, len(ranking.candidates))
    if not len(ranking.test):
        raise TransferkitError("--fit-top scores on a held-out test split, and there is none",
                               "give --test-size > 0")
    X_tr, y_tr = take(data.X, ranking.train), np.asarray(data.y)[ranking.train]
    X_te, y_te = take(data.X, ranking.test), np.asarray(data.y)[ranking.test]
    for name in ranking.order(score)[:n]:
        t0, accs = time.perf_counter(), []
        for seed in seeds:
            clf = FineTuneClassifier(backbone=name, strategy=strategy, epochs=epochs, lr=lr,
                                     batch_size=batch_size, random_state=seed,
                                     verbose=verbose)
            accs.append(float((clf.fit(X_tr, y_tr).predict(X_te) == y_te).mean()))
        ranking.actual[name] = {"accuracy": float(np.mean(accs)),
                                "sd": float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0,
                                "seconds": time.perf_counter() - t0}
    return ranking.actual


def check_fit_top(n: int, n_candidates: int) -> None:
    """Refuse ``--fit-top n`` outside 1..``n_candidates`` in one line."""
    if not 1 <= n <= n_candidates:
        raise TransferkitError(f"--fit-top {n} asks for more candidates than the "
                               f"{n_candidates} given" if n > n_candidates else
                               f"--fit-top must be >= 1, got {n}",
                               f"use --fit-top 1..{n_candidates}")
