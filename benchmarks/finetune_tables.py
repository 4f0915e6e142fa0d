"""Real-data tables: fine-tuning strategies vs. the cached linear probe (not a test).

    python benchmarks/finetune_tables.py mr   [--train 2000] [--epochs 2]
    python benchmarks/finetune_tables.py usps [--per-class 100] [--epochs 2] [--test 500]

* ``mr``: MiniLM on MR polarity (../shared/data/text_mr_rt_polarity): fixed stratified split
  (seed 0): 20 % test, 500 validation, ``--train`` training sentences (all ~8k with 0);
  linear probe (cached features + logistic head) vs. ``finetune`` and ``lora``.
* ``usps``: EfficientNet-Lite0 on USPS (../shared/data/usps_full_kaggle_h5), ``--per-class``
  labels per class (20 % of them for validation), scored on ``--test`` test images; linear
  probe vs. ``partial`` (freeze the first 5 of 9 groups), ``finetune``, ``bitfit``, ``l2sp``,
  ``gradual`` and the same architecture trained from random initialisation.

Columns: test accuracy, trainable parameters, peak RSS above the start (MiB), wall time.
Model selection uses the validation split only.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFERKIT_NO_PROGRESS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from results import write_results  # noqa: E402  (benchmarks/results.py)

from transferkit import TransferClassifier  # noqa: E402
from transferkit.data.dataset import take  # noqa: E402
from transferkit.data.public import load_mr_polarity, load_usps_h5  # noqa: E402
from transferkit.data.split import per_class_subsample, stratified_split  # noqa: E402
from transferkit.finetune import FineTuneClassifier  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


class PeakRSS:
    """Peak resident memory above the value at ``__enter__`` (sampled every 5 ms)."""

    def __enter__(self) -> PeakRSS:
        import psutil

        self.proc = psutil.Process()
        self.base = self.peak = self.proc.memory_info().rss
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.t0 = time.perf_counter()
        return self

    def _run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.stop.set()
        self.thread.join()

    @property
    def mib(self) -> float:
        return (self.peak - self.base) / 2**20


def run(name: str, make, X_tr, y_tr, X_va, y_va, X_te, y_te) -> dict:
    with PeakRSS() as mem:
        clf = make().fit(X_tr, y_tr, X_va, y_va)
        acc = float((clf.predict(X_te) == np.asarray(y_te)).mean())
    trainable = getattr(getattr(clf, "result_", None), "trainable_params", None)
    if trainable is None:  # the cached linear probe: the logistic head's weights
        trainable = sum(int(np.prod(t.shape)) for t in clf.head_.state().values())
    row = {"model": name, "accuracy": acc, "trainable": int(trainable), "peak_mib": mem.mib,
           "wall_s": mem.wall}
    print(f"  {name:<34}{acc * 100:7.1f} %{trainable:>12,}{mem.mib:>9.0f}{mem.wall:>9.0f}",
          flush=True)
    TABLE["rows"].append([name, f"{acc * 100:.1f} %", f"{trainable:,}", round(mem.mib),
                          round(mem.wall)])
    return row


#: the table being measured, written to benchmarks/results/finetune_<table>.json at the end
TABLE: dict = {"title": "", "columns": ["model", "test acc", "trainable params", "peak MiB",
                                        "wall s"], "rows": []}


def header(title: str) -> None:
    TABLE["title"] = title
    print(f"\n{title}\n  {'model':<34}{'test acc':>9}{'trainable':>12}{'peak MiB':>9}"
          f"{'wall s':>9}", flush=True)


def mr(args) -> None:
    data = load_mr_polarity(DATA / "text_mr_rt_polarity")
    y = np.asarray(data.y)
    split = stratified_split(y, 0.2, 0.0, 0)
    rng = np.random.default_rng(0)
    pool = rng.permutation(split.train)
    va, tr = pool[:500], pool[500:]
    if args.train:
        tr = tr[: args.train]
    X = data.X
    parts = (take(X, tr), y[tr], take(X, va), y[va], take(X, split.test), y[split.test])
    header(f"MR polarity, MiniLM: {len(tr)} train / {len(va)} validation / "
           f"{len(split.test)} test (seed 0), {args.epochs} epochs")
    run("linear probe (cached, logistic)", lambda: TransferClassifier(backbone="minilm"),
        *parts)
    common = {"backbone": "minilm", "epochs": args.epochs, "batch_size": 32,
              "verbose": True}
    run("finetune (lr 5e-5)", lambda: FineTuneClassifier(strategy="finetune", lr=5e-5,
                                                         **common), *parts)
    run("lora r=8 (lr 1e-3)", lambda: FineTuneClassifier(strategy="lora", lr=1e-3, **common),
        *parts)


def usps(args) -> None:
    train, test = load_usps_h5(DATA / "usps_full_kaggle_h5" / "usps.h5")
    y = np.asarray(train.y)
    pool = per_class_subsample(np.arange(len(y)), y, args.per_class, 0)
    rng = np.random.default_rng(0)
    pool = rng.permutation(pool)
    n_va = len(pool) // 5
    va, tr = pool[:n_va], pool[n_va:]
    te = rng.permutation(len(test.y))[: args.test]
    parts = (take(train.X, tr), y[tr], take(train.X, va), y[va], take(test.X, te),
             np.asarray(test.y)[te])
    header(f"USPS, EfficientNet-Lite0: {args.per_class} labels/class ({len(tr)} train, "
           f"{len(va)} validation), {len(te)} test images, {args.epochs} epochs")
    run("linear probe (cached, logistic)",
        lambda: TransferClassifier(backbone="efficientnet_lite0"), *parts)
    aug = {"flip": False, "crop_scale": (0.8, 1.0), "jitter": 0.2}  # digits: no flips
    common = {"backbone": "efficientnet_lite0", "epochs": args.epochs, "batch_size": 32,
              "augment": aug, "verbose": True}
    rows = [
        ("partial freeze=5 (lr 1e-3)", "partial", {"freeze": 5}, 1e-3),
        ("finetune (lr 5e-4)", "finetune", None, 5e-4),
        ("bitfit (lr 1e-3)", "bitfit", None, 1e-3),
        ("l2sp (lr 5e-4)", "l2sp", None, 5e-4),
        ("gradual (lr 1e-3)", "gradual", None, 1e-3),
    ]
    for name, strategy, params, lr in rows:
        if args.only and strategy not in args.only:
            continue
        run(name, lambda s=strategy, p=params, r=lr: FineTuneClassifier(
            strategy=s, strategy_params=p, lr=r, **common), *parts)
    print("  lora: n/a (EfficientNet-Lite0 has no Linear/attention layers; the CLI refuses it)")
    if not args.only or "scratch" in args.only:
        run("from scratch (random init, lr 1e-3)", lambda: FineTuneClassifier(
            strategy="finetune", init="random", lr=1e-3, **common), *parts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("table", choices=["mr", "usps"])
    ap.add_argument("--train", type=int, default=2000, help="mr: training sentences (0 = all)")
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--test", type=int, default=500, help="usps: test images scored")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--only", nargs="*", help="usps: only these strategies (and 'scratch')")
    args = ap.parse_args()
    {"mr": mr, "usps": usps}[args.table](args)
    write_results(f"finetune_{args.table}", [TABLE],
                  notes=["Peak MiB: the process RSS above its start (sampled); wall time "
                         f"on {os.cpu_count()} CPU cores."],
                  title=f"Fine-tuning strategies: {args.table}")


if __name__ == "__main__":
    main()
