"""Self-supervised pretraining on real digits: SimCLR and VICReg on unlabelled USPS, then a
linear probe with 10 labels per class, against the same LeNet at random initialisation.

    python benchmarks/selfsup_usps.py [--epochs 10] [--methods simclr,vicreg]
                                      [--temperature 0.2] [--labels 10] [--seeds 0,1,2,3,4]

Data: ``../shared/data/usps_full_kaggle_h5`` (7,291 train / 2,007 test 16x16 digits, resized
to 28x28 by LeNet's ``prepare``).

1. Pretraining: ``train_self_supervised(LeNet(seed=0), <all USPS train images, no labels>,
   method)``, batch 256, AdamW lr 1e-3 (warm-up then cosine), ``--epochs`` epochs, the
   methods' default views (random resized crop 0.6-1, affine +-10 degrees / 10 %,
   brightness/contrast 0.4, gaussian noise 0.05, no flip). The k-NN accuracy of 500 labelled
   train images is reported per epoch (it selects nothing).
2. Linear probe on the frozen features (eval mode): per seed, ``--labels`` labelled images per
   class drawn from USPS train (the seed varies this subset only; the encoders are trained
   once), a standardised multinomial logistic regression (scikit-learn) whose C is chosen by
   stratified 5-fold cross-validation on those labelled images, refitted on all of them,
   tested on the whole USPS test split. Mean ± sd over the seeds.

Target (the issue's): SimCLR beats random initialisation by >= 10 points.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from transferkit.backbones.lenet import LeNet
from transferkit.data.public import load_usps_h5
from transferkit.finetune import TrainConfig
from transferkit.finetune.selfsup import train_self_supervised

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import write_results  # noqa: E402

DATA = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "usps_full_kaggle_h5"
        / "usps.h5")
C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)
NAMES = {"random": "none (random init)", "simclr": "SimCLR", "vicreg": "VICReg"}


def features(backbone: LeNet, images: np.ndarray, batch: int = 512) -> np.ndarray:
    """The backbone's features ``(N, 500)`` in eval mode."""
    backbone.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            out.append(backbone(**backbone.prepare(images[i:i + batch])).float().numpy())
    return np.concatenate(out)


def probe(f_train: np.ndarray, y_train: np.ndarray, f_test: np.ndarray, y_test: np.ndarray,
          labels: int, seed: int) -> tuple[float, float]:
    """Test accuracy of a logistic regression on ``labels`` per class drawn with ``seed``
    (C by 5-fold CV on them), and the C chosen."""
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(np.flatnonzero(y_train == c), labels, replace=False)
                          for c in np.unique(y_train)])
    search = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)),
                          {"logisticregression__C": C_GRID},
                          cv=StratifiedKFold(5, shuffle=True, random_state=seed))
    search.fit(f_train[idx], y_train[idx])
    return float(search.score(f_test, y_test)), float(
        search.best_params_["logisticregression__C"])


def pretrain(method: str, images: np.ndarray, monitor: tuple[np.ndarray, np.ndarray],
             args: argparse.Namespace) -> tuple[LeNet, list[dict], float]:
    """A LeNet (seed 0) pretrained with ``method`` (or left at random init): the backbone,
    its history, the wall time."""
    backbone = LeNet(seed=0)
    if method == "random":
        return backbone, [], 0.0
    params = {"temperature": args.temperature} if method == "simclr" else {}
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch, lr=args.lr,
                      head_lr=args.lr, seed=0)
    t0 = time.perf_counter()
    result = train_self_supervised(backbone, images, method, cfg, monitor=monitor, **params)
    wall = time.perf_counter() - t0
    for h in result.history:
        print(f"  {method} epoch {h['epoch'] + 1}: loss {h['train_loss']:.4f}  "
              f"kNN {h['knn_accuracy']:.3f}", flush=True)
    return backbone, result.history, wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--methods", default="simclr,vicreg")
    p.add_argument("--temperature", type=float, default=0.2)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--labels", type=int, default=10, help="labelled images per class")
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    train, test = load_usps_h5(DATA)
    mon = np.random.default_rng(0).choice(len(train.X), 500, replace=False)
    monitor = (train.X[mon], train.y[mon])
    runs = {}
    for method in ["random", *args.methods.split(",")]:
        backbone, history, wall = pretrain(method, train.X, monitor, args)
        f_train, f_test = features(backbone, train.X), features(backbone, test.X)
        res = [probe(f_train, train.y, f_test, test.y, args.labels, s) for s in seeds]
        accs = [100 * a for a, _ in res]
        runs[method] = {"accs": accs, "Cs": [c for _, c in res], "history": history,
                        "wall": wall}
        print(f"{method}: linear probe {np.mean(accs):.2f} ± {np.std(accs, ddof=1):.2f} "
              f"(per seed {', '.join(f'{a:.2f}' for a in accs)}; pretraining {wall:.0f} s)",
              flush=True)

    base = np.mean(runs["random"]["accs"])
    rows = []
    for method, run in runs.items():
        accs = run["accs"]
        rows.append([NAMES.get(method, method), "LeNet",
                     args.epochs if method != "random" else 0,
                     f"{run['wall']:.0f} s" if method != "random" else "–",
                     run["history"][-1]["knn_accuracy"] * 100 if run["history"] else "–",
                     f"{np.mean(accs):.2f} ± {np.std(accs, ddof=1):.2f}",
                     f"{np.mean(accs) - base:+.2f}" if method != "random" else "–"])
    main_table = {
        "title": f"Linear probe on USPS test, {args.labels} labels per class (mean ± sd over "
                 f"{len(seeds)} seeds of the labelled subset)",
        "columns": ["pretraining (unlabelled USPS train)", "encoder", "epochs",
                    "pretraining time", "k-NN accuracy (500 train images, %)",
                    "linear probe test accuracy (%)", "vs random init (points)"],
        "rows": rows}
    seed_table = {
        "title": "Per seed: linear probe test accuracy (%) and the C chosen by 5-fold CV",
        "columns": ["seed", *[f"{NAMES.get(m, m)}" for m in runs],
                    *[f"C {NAMES.get(m, m)}" for m in runs]],
        "rows": [[s, *[round(runs[m]["accs"][i], 2) for m in runs],
                  *[runs[m]["Cs"][i] for m in runs]] for i, s in enumerate(seeds)]}
    trained = [m for m in runs if runs[m]["history"]]
    history_table = {
        "title": "Pretraining, per epoch: training loss and k-NN accuracy (500 labelled train "
                 "images, leave-one-out, cosine, k = 20; reported, never used to select)",
        "columns": ["epoch", *[f"{NAMES[m]} {what}" for m in trained
                               for what in ("loss", "k-NN %")]],
        "rows": [[e + 1, *[v for m in trained for v in (
            round(runs[m]["history"][e]["train_loss"], 4),
            round(runs[m]["history"][e]["knn_accuracy"] * 100, 1))]]
            for e in range(args.epochs)]}
    gain = np.mean(runs["simclr"]["accs"]) - base if "simclr" in runs else float("nan")
    notes = [f"Target: SimCLR beats random initialisation by >= 10 points: "
             f"{'met' if gain >= 10 else 'missed'} ({gain:+.2f} points).",
             "The seeds vary only the labelled subset (and the CV folds); each encoder is "
             "trained once (seed 0), so the sd does not include pretraining variance.",
             f"SimCLR temperature {args.temperature}; with 0.5 (the same 10 epochs) the probe "
             "reached 86.1 % in a trial run, with 0.5 and lr 3e-3 86.3 %.",
             "The LeNet keeps its dropout (0.5) during pretraining; its features are the "
             "500-d output of its fc block (after ReLU)."]
    if not args.no_write:
        print(write_results("selfsup_usps", [main_table, seed_table, history_table],
                            notes=notes, title="Self-supervised pretraining on USPS"))


if __name__ == "__main__":
    main()
