"""``transferkit tune`` on MR polarity with MiniLM: does a validation-selected configuration
of at most 12 trials reach the default fine-tuning's test accuracy (83.0 %)?

    python benchmarks/tune.py [--trials 12] [--finetune-trials 0 --finetune-train 1000]

The split is the one of ``benchmarks/finetune_tables.py mr --train 0`` (seed 0): 8029 train
/ 500 validation / 2133 test sentences, the same in every trial. Every trial is scored on
the validation split only; the best trial's configuration is refit and scored on the test
split once, beside the default configuration.

One full MiniLM fine-tuning of 3 epochs took ~2200 s here (finetune_mr), so 12 fine-tuning
trials at full size do not fit in a run. What is measured instead: two searches over the
frozen MiniLM features (the linear-probe strategy with the logistic head's C, and with the
MLP head's width, dropout, learning rate and weight decay), 12 trials each, the features
extracted once and cached; and, only with ``--finetune-trials N``, a fine-tuning search
(``partial`` / ``finetune``, lr, weight decay, freeze depth) on a ``--finetune-train``
subsample of the training split, 1 epoch per trial, scored on the same validation and test
sentences.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from transferkit.base import shared_backbone
from transferkit.data.dataset import take
from transferkit.data.public import load_mr_polarity
from transferkit.data.split import stratified_split
from transferkit.features import extract_features
from transferkit.tune import FixedSplit, TuneSpace, run_study

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import write_results  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
#: measured by benchmarks/finetune_tables.py mr --train 0 --epochs 3 (finetune_mr.json)
README_FINETUNE, README_PROBE = 83.0, 74.9


def mr_split() -> FixedSplit:
    """MR polarity split as ``finetune_tables.py mr --train 0`` splits it."""
    data = load_mr_polarity(DATA / "text_mr_rt_polarity")
    y = np.asarray(data.y)
    split = stratified_split(y, 0.2, 0.0, 0)
    pool = np.random.default_rng(0).permutation(split.train)
    va, tr = pool[:500], pool[500:]
    X = data.X
    return FixedSplit(take(X, tr), y[tr], take(X, va), y[va], take(X, split.test),
                      y[split.test], f"{len(tr)} train / {len(va)} validation / "
                      f"{len(split.test)} test (seed 0)")


def pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def study(name: str, space: TuneSpace, split: FixedSplit, trials: int, folder: Path,
          timeout: float | None = None, default: bool = True) -> tuple[object, float]:
    """One study in a fresh SQLite file; returns the result and its wall seconds."""
    t0 = time.perf_counter()
    result = run_study(space, split, f"sqlite:///{folder / name}.db", name, trials,
                       timeout=timeout, seed=0, default=default)
    return result, time.perf_counter() - t0


def trials_table(title: str, study) -> dict:
    """One row per trial: number, state, its parameters, validation accuracy, seconds."""
    return {"title": title, "columns": ["trial", "state", "parameters", "val acc", "seconds"],
            "rows": [[t.number, t.state.name.lower(),
                      ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                for k, v in t.params.items()),
                      pct(t.value) if t.value is not None else "-",
                      f"{t.duration.total_seconds():.1f}" if t.duration else "-"]
                     for t in study.trials]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--finetune-trials", type=int, default=0,
                   help="also run a fine-tuning search of N trials (subsampled; slow)")
    p.add_argument("--finetune-train", type=int, default=0,
                   help="training sentences of the fine-tuning search (0: all)")
    p.add_argument("--finetune-timeout", type=float, default=None)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()

    split = mr_split()
    t0 = time.perf_counter()
    backbone = shared_backbone("minilm")
    for part in (split.X_train, split.X_val, split.X_test):  # cached after the first run
        extract_features(backbone, part)
    extract_s = time.perf_counter() - t0
    print(f"MR polarity, MiniLM: {split.protocol}; features in {extract_s:.0f} s", flush=True)

    rows, trial_tables, notes = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results = {}
        for head in ("logistic", "mlp"):
            space = TuneSpace(strategies=("linear-probe",), backbone="minilm", head=head)
            results[head] = study(f"probe-{head}", space, split, args.trials, folder)
        logistic = results["logistic"][0]
        rows.append(["default: frozen MiniLM + logistic head (C from its grid on validation, "
                     "no refit)", pct(logistic.default_val), pct(logistic.default_test
                                                                 ["accuracy"]), "-", "-"])
        for head, (result, seconds) in results.items():
            rows.append([f"tuned: frozen MiniLM + {head} head, best of {args.trials} trials "
                         f"({result.space.describe(result.best_config)})",
                         pct(result.best_val), pct(result.best_test["accuracy"]),
                         args.trials, f"{seconds:.0f}"])
            trial_tables.append(trials_table(
                f"Trials: frozen MiniLM + {head} head (validation accuracy)", result.study))
        tuned = [r[0].best_test["accuracy"] for r in results.values()]
        if args.finetune_trials:
            n_train = args.finetune_train or len(split.y_train)
            sub = FixedSplit(take(split.X_train, np.arange(n_train)), split.y_train[:n_train],
                             split.X_val, split.y_val, split.X_test, split.y_test, "")
            layers = len(backbone.layer_groups())
            space = TuneSpace(strategies=("partial", "finetune"), backbone="minilm",
                              epochs=1, batch_size=32, context={"layer_groups": layers})
            result, seconds = study("finetune", space, sub, args.finetune_trials, folder,
                                    args.finetune_timeout, default=False)
            n = len(result.study.trials)
            tuned.append(result.best_test["accuracy"])
            rows.append([f"tuned fine-tuning on {n_train} training sentences, 1 epoch per "
                         f"trial, best of {n} trials "
                         f"({result.space.describe(result.best_config)})",
                         pct(result.best_val), pct(result.best_test["accuracy"]), n,
                         f"{seconds:.0f}"])
            trial_tables.append(trials_table(
                "Trials: fine-tuning MiniLM, partial | finetune (validation accuracy)",
                result.study))
            notes.append(
                f"The fine-tuning search was NOT run at the issue's size (12 trials of 3 "
                f"epochs on the full training split: one such trial is ~2200 s on this "
                f"2-core CPU, ~7 h for 12). It ran {n} trial(s) of 1 epoch each on "
                f"{n_train} training sentences"
                + (f", stopped by --timeout {args.finetune_timeout:g} s"
                   if args.finetune_timeout else "")
                + ": a random-start TPE search of that few trials is a spot check, not a "
                "tuned fine-tuning.")
        else:
            notes.append("The fine-tuning search was not run at the issue's size (12 "
                         "fine-tuning trials of MiniLM on the full training split): one such "
                         "trial is ~2200 s on this 2-core CPU (finetune_mr), so 12 would take "
                         "~7 hours. `benchmarks/tune.py --finetune-trials N` runs a "
                         "smaller one.")
    rows.append(["README: frozen MiniLM + logistic head, refit on train + validation "
                 "(finetune_mr)", "-", f"{README_PROBE:.1f} %", "-", "-"])
    rows.append(["README: default finetune, lr 5e-5, 3 epochs (finetune_mr, not re-run)", "-",
                 f"{README_FINETUNE:.1f} %", "-", "~2200"])
    best_probe = max(r[0].best_test["accuracy"] for r in results.values())
    met = 100 * max(tuned) >= README_FINETUNE
    notes[:0] = [
        f"Selection used the validation split only (500 sentences); the test split "
        f"(2133) was scored once per reported configuration. Features: {extract_s:.0f} s "
        "(cache hits when already extracted).",
        f"The tuned frozen probes reach {pct(best_probe)} test accuracy, "
        + ("at or above" if 100 * best_probe >= README_FINETUNE else "below")
        + f" the {README_FINETUNE:.1f} % of default fine-tuning (the default probe of the "
        "same protocol is in the first row): the frozen MiniLM features cap what a head on "
        "them reaches. The issue's criterion (a tuned, validation-selected configuration "
        f">= {README_FINETUNE:.1f} % test accuracy) is " + ("met" if met else "NOT met")
        + " in this run.",
    ]
    tables = [{"title": f"MR polarity, MiniLM: {split.protocol}",
               "columns": ["configuration", "val acc", "test acc", "trials", "wall s"],
               "rows": rows}, *trial_tables]
    for table in tables:
        print(table["title"])
        for row in table["rows"]:
            print("  ", " | ".join(map(str, row)))
    for note in notes:
        print(note)
    if not args.no_write:
        write_results("tune", tables, notes=notes,
                      title="Hyperparameter search on MR polarity (MiniLM)",
                      protocol=[
                          "`transferkit tune`'s engine (transferkit.tune.run_study): Optuna "
                          "TPE (seed 0), median pruning, each study in its own SQLite file. "
                          f"The split of finetune_mr: {split.protocol}, the same in every "
                          "trial; objective = validation accuracy; the best trial's model "
                          "(the one its validation score came from) and, for the frozen "
                          "studies, the default configuration are scored once on test."])


if __name__ == "__main__":
    main()
