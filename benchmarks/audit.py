"""Label audit on real data: does ``transferkit audit`` find flipped labels, and does
retraining without the flagged examples win back what the noise cost?

    python benchmarks/audit.py [--seeds 0,1,2] [--no-write]

Data (``../shared/data``): USPS (``usps_full_kaggle_h5``: its 7,291 training and 2,007 test
digits) and SMS spam (``text_sms_spam_uci``: 5,574 messages, split stratified 80/20 with
seed 0). 10 % of the *training* labels are flipped by a seeded rule: positions drawn
without replacement by ``numpy.random.default_rng(0)``, each label moved uniformly to one
of the other classes. Test labels are never flipped.

Measured:

1. The flagged set against the flipped set (precision, recall) for
   :func:`transferkit.audit.flag_label_issues` on the frozen backbone's cached features
   (``efficientnet_lite0`` for USPS, ``minilm`` for SMS) -- what ``transferkit audit``
   runs -- and, as the reference, cleanlab's defaults (``CleanLearning()``: scikit-learn's
   default ``LogisticRegression``, 5 folds, ``find_label_issues`` defaults) on raw pixels /
   TF-IDF (``TfidfVectorizer()``), and on the backbone's features.
2. The frozen transfer fit (:func:`transferkit.experiment.compare`, logistic head with C
   chosen on a validation split, scored on the test split; what ``transferkit fit --test``
   runs) on clean labels, on noisy labels, and on noisy labels without the flagged
   examples (``compare(exclude=...)``, what ``fit --drop-flagged`` runs), over seeds (the
   validation split); the share of the lost accuracy won back, beside an oracle that
   drops exactly the flipped examples.
3. Seconds of :func:`flag_label_issues` on ~10k cached samples (features already
   extracted).
4. Where the flagged set falls by given class (flips missed, clean examples flagged), and
   how it moves with the audit head's C (the module's default was chosen after seeing
   this table: it is not a held-out estimate).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TRANSFERKIT_NO_PROGRESS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import report  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SHARE = 0.10  # of the training labels flipped
C_GRID = (0.003, 0.01, 0.03, 0.1, 1.0)


def flip(y: np.ndarray, share: float = SHARE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``y`` (class codes 0..K-1) with ``share`` of its labels moved uniformly to another
    class (seeded); returns the noisy labels and the flipped positions."""
    k = int(y.max()) + 1
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(y), int(round(share * len(y))), replace=False))
    noisy = y.copy()
    noisy[idx] = (y[idx] + rng.integers(1, k, len(idx))) % k
    return noisy, idx


def precision_recall(found: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    hit = len(np.intersect1d(found, truth))
    return hit / max(len(found), 1), hit / len(truth)


def mark(value: float, target: float) -> str:
    return f"{value:.3f} {'✓' if value >= target else '✗'}"


def load(name: str):
    """(train Dataset with class codes, test Dataset, backbone, raw training matrix,
    raw description)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from transferkit.data.dataset import Dataset
    from transferkit.data.public import load_sms_spam, load_usps_h5
    from transferkit.data.split import stratified_split

    if name == "USPS":
        train, test = load_usps_h5(DATA / "usps_full_kaggle_h5" / "usps.h5")
        raw = train.X.reshape(len(train), -1).astype(np.float64) / 255.0
        return train, test, "efficientnet_lite0", raw, "raw pixels (256, in [0, 1])"
    sms = load_sms_spam(DATA / "text_sms_spam_uci" / "SMSSpamCollection")
    codes = np.searchsorted(np.unique(sms.y), sms.y)
    split = stratified_split(codes, 0.2, 0.0, 0)
    texts = list(sms.X)
    train = Dataset([texts[i] for i in split.train], codes[split.train], "text", name="sms")
    test = Dataset([texts[i] for i in split.test], codes[split.test], "text", name="sms_test")
    raw = TfidfVectorizer().fit_transform(train.X)  # fit on the training texts only
    return train, test, "minilm", raw, "TF-IDF (TfidfVectorizer())"


def cleanlab_defaults(X, labels: np.ndarray) -> tuple[np.ndarray, float]:
    """cleanlab's ``CleanLearning()`` defaults: the flagged positions and the seconds."""
    from cleanlab.classification import CleanLearning
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    with threadpool_limits(limits=1):  # as the audit runs: one thread on a shared machine
        issues = CleanLearning(seed=0).find_label_issues(X, labels)
    return np.flatnonzero(issues["is_label_issue"].to_numpy()), time.perf_counter() - t0


def accuracy(train, test, backbone: str, seeds: tuple[int, ...],
             exclude: np.ndarray | None = None) -> float:
    """Mean test accuracy of the frozen transfer fit over ``seeds``."""
    from transferkit.experiment import compare

    result = compare(train, backbone=backbone, seeds=seeds, baseline=False, test_data=test,
                     exclude=exclude)
    return float(np.mean([m["accuracy"] for m in result.per_seed["transfer"]]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    import dataclasses

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from transferkit import audit
    from transferkit.base import shared_backbone
    from transferkit.data.public import load_mr_polarity, load_usps_h5
    from transferkit.features import extract_features

    seeds = tuple(int(s) for s in args.seeds.split(","))
    flag_rows, retrain_rows, c_rows, class_rows, notes = [], [], [], [], []
    for name in ("USPS", "SMS spam"):
        train, test, backbone, raw, raw_what = load(name)
        clean = np.asarray(train.y)
        noisy, flipped = flip(clean)
        noisy_train = dataclasses.replace(train, y=noisy)
        t0 = time.perf_counter()
        feats = extract_features(shared_backbone(backbone), train.X)
        extraction = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = audit.flag_label_issues(feats, noisy, folds=5, seed=0)
        seconds = time.perf_counter() - t0
        precision, recall = precision_recall(result.indices, flipped)
        what = f"{name} train ({len(clean)}, {len(flipped)} flipped)"
        flag_rows.append([what, f"{backbone} features (cached; {extraction:.1f} s to read)",
                          f"transferkit audit: logistic head C {audit.LOGISTIC_C:g}, 5 folds, "
                          f"cleanlab {audit.FILTER_BY}", result.n_flagged,
                          mark(precision, 0.7), mark(recall, 0.7), f"{seconds:.1f}"])
        names = ["ham", "spam"] if name == "SMS spam" else [str(k) for k in range(10)]
        fp = np.setdiff1d(result.indices, flipped)
        for k, label in enumerate(names):
            into = flipped[noisy[flipped] == k]
            class_rows.append([name, label, int((noisy == k).sum()), len(into),
                               len(np.intersect1d(into, result.indices)),
                               int((noisy[fp] == k).sum())])
        if precision < 0.7 or recall < 0.7:
            notes.append(f"{name}: the audit misses the 0.7 target (precision "
                         f"{precision:.3f}, recall {recall:.3f})")
        for features, how in ((raw, raw_what), (feats, f"{backbone} features")):
            found, secs = cleanlab_defaults(features, noisy)
            p_, r_ = precision_recall(found, flipped)
            flag_rows.append([what, how, "cleanlab defaults: CleanLearning() (LogisticRegression"
                              "(), 5 folds, find_label_issues defaults)", len(found),
                              f"{p_:.3f}", f"{r_:.3f}", f"{secs:.1f}"])
        a_clean = accuracy(train, test, backbone, seeds)
        a_noisy = accuracy(noisy_train, test, backbone, seeds)
        for C in C_GRID:
            head = make_pipeline(StandardScaler(), LogisticRegression(
                C=C, max_iter=audit.MAX_ITER, tol=audit.TOL))
            found = audit.flag_label_issues(feats, noisy, folds=5, seed=0, model=head).indices
            p_, r_ = precision_recall(found, flipped)
            a_c = accuracy(noisy_train, test, backbone, seeds, exclude=found)
            won = (a_c - a_noisy) / (a_clean - a_noisy) if a_clean > a_noisy else float("nan")
            c_rows.append([name, f"{C:g}" + (" (default)" if C == audit.LOGISTIC_C else ""),
                           len(found), f"{p_:.3f}", f"{r_:.3f}", f"{won:.2f}"])
        a_drop = accuracy(noisy_train, test, backbone, seeds, exclude=result.indices)
        a_oracle = accuracy(noisy_train, test, backbone, seeds, exclude=flipped)
        lost = a_clean - a_noisy
        share = (a_drop - a_noisy) / lost if lost > 0 else float("nan")
        oracle = (a_oracle - a_noisy) / lost if lost > 0 else float("nan")
        retrain_rows.append([name, f"{backbone} + logistic head", f"{100 * a_clean:.2f}",
                             f"{100 * a_noisy:.2f}", f"{100 * a_drop:.2f}",
                             f"{100 * lost:.2f}",
                             mark(share, 0.5) if lost > 0 else "n/a (nothing lost)",
                             f"{100 * a_oracle:.2f} ({oracle:.2f})"])
        if not lost > 0 or share < 0.5:
            notes.append(f"{name}: retraining without the flagged examples wins back "
                         + (f"{share:.2f} of the lost accuracy, short of the 0.5 target"
                            if lost > 0 else "nothing: the noise cost no accuracy")
                         + f" (clean {100 * a_clean:.2f} %, noisy {100 * a_noisy:.2f} %, "
                         f"without the flagged {100 * a_drop:.2f} %)")
    timing_rows = []
    train, test = load_usps_h5(DATA / "usps_full_kaggle_h5" / "usps.h5")
    usps = np.concatenate([extract_features(shared_backbone("efficientnet_lite0"), d.X)
                           for d in (train, test)])
    usps_y = np.concatenate([train.y, test.y])
    mr = load_mr_polarity(DATA / "text_mr_rt_polarity")
    keep = np.random.default_rng(0).choice(len(mr), 10_000, replace=False)
    mr_feats = extract_features(shared_backbone("minilm"), mr.X)[keep]
    for what, X, y in (("USPS train + test, efficientnet_lite0", usps, usps_y),
                       ("MR polarity (10,000 of 10,662, seeded), minilm", mr_feats,
                        np.asarray(mr.y)[keep])):
        best = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            audit.flag_label_issues(X, y, folds=5, seed=0)
            best = min(best, time.perf_counter() - t0)
        timing_rows.append([what, f"{X.shape[0]:,} x {X.shape[1]:,}", len(np.unique(y)),
                            f"{best:.2f} {'✓' if best < 10 else '✗'}"])
        if best >= 10:
            notes.append(f"timing: {what} took {best:.1f} s, over the 10 s target")
    tables = [
        {"title": f"Flagged set against the {SHARE:.0%} flipped training labels "
                  "(targets: precision and recall >= 0.7 for transferkit audit)",
         "columns": ["data", "features", "method", "flagged", "precision", "recall",
                     "seconds"], "rows": flag_rows},
        {"title": "Test accuracy (%) of the frozen transfer fit: clean labels, noisy labels, "
                  f"noisy labels without the flagged examples (mean over seeds {list(seeds)})"
                  " (target: >= 0.5 of the lost accuracy won back)",
         "columns": ["data", "model", "clean", "noisy", "noisy without the flagged",
                     "points lost to noise", "share of the loss won back",
                     "oracle: without the flipped (share won back)"],
         "rows": retrain_rows},
        {"title": "Seconds of flag_label_issues on cached features (5 folds, best of 2; "
                  "target < 10 s)",
         "columns": ["features", "samples x dims", "classes", "seconds"],
         "rows": timing_rows},
        {"title": "Where the audit's flagged set falls, by given (noisy) class",
         "columns": ["data", "given class", "examples", "flipped into it", "of those flagged",
                     "flagged but not flipped"], "rows": class_rows},
        {"title": "The audit head's C and the flagged set (5 folds, seed 0)",
         "columns": ["data", "C", "flagged", "precision", "recall",
                     "share of the lost accuracy won back"], "rows": c_rows},
    ]
    notes += [
        "The share won back is a difference of small differences: SMS spam's test split has "
        "1,115 messages, so its noise costs about 15 of them and each message is 0.07 of the "
        "share. It moves a lot with the audit head's C (last table), more than precision and "
        "recall do; the default C is kept as it is, not chosen on this test accuracy.",
        "Flipping: 10 % of the training positions drawn without replacement "
        "(numpy default_rng(0)), each label moved uniformly to another class; the test "
        "labels are untouched. SMS: a stratified 80/20 split with seed 0; its TF-IDF "
        "vocabulary is fit on the training texts.",
        "transferkit audit: out-of-fold probabilities of a logistic head (standardised "
        f"features, L2, C {audit.LOGISTIC_C:g}, tol {audit.TOL:g}) by scikit-learn's "
        "cross_val_predict over 5 stratified seeded folds, then "
        f"cleanlab.filter.find_label_issues(filter_by='{audit.FILTER_BY}'). Its C was "
        "chosen after looking at the last table (C 0.003 is a little better on both data "
        "sets, C >= 0.1 clearly worse): the precision and recall above are not a held-out "
        "estimate of the default's.",
        "The retraining rows run transferkit's own frozen fit (experiment.compare with the "
        "given test set, what `transferkit fit --test` runs): its logistic head's C is "
        "chosen on a stratified 20 % validation split of the (noisy) training labels, then "
        "refit on train + validation; 'without the flagged' leaves the flagged examples out "
        "of training and validation (compare(exclude=...), what `fit --drop-flagged` runs). "
        "The seeds change the validation split only. The oracle column drops exactly the "
        "flipped examples (known only because the noise was made here): what dropping, "
        "rather than relabelling, can win back at best.",
        "cleanlab's defaults use scikit-learn's LogisticRegression() as it comes (C 1, "
        "lbfgs, 100 iterations, unscaled inputs): on USPS (raw pixels and the backbone's "
        "features) every fold stops at that limit (scikit-learn's ConvergenceWarning, "
        "printed by the run; on SMS it converges); its probabilities are used as they "
        "are, since that is the default being compared with.",
        "Timing: the features are read from the cache before the clock starts; the audit's "
        "solves run on one thread (threadpoolctl), so the time does not depend on the "
        "machine's other load as much as two spinning threads did.",
    ]
    report("audit", tables, notes, write=not args.no_write)


if __name__ == "__main__":
    main()
