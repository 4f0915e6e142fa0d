"""Shallow domain adaptation (transferkit.adapt) against published tables (not a test).

    python benchmarks/da_tables.py                  # every table below (~15-30 min on 2 cores)
    python benchmarks/da_tables.py surf digits      # some of them
    python benchmarks/da_tables.py --scale          # 100k x 256 samples through TCA and KMM

Tables (data in ../shared/data, preprocessing as in its README; accuracy in %, "diff" is
ours minus published, same protocol as the published figure unless the row says otherwise):

* ``surf``: Office-Caltech10 SURF, 12 tasks, all source samples ("full protocol").
  1-NN / TCA / JDA / GFK against the JDA paper (ICCV 2013), linear SVM / CORAL against the
  CORAL paper's full-protocol table (AAAI 2016), EasyTL against its Python port, MEDA against
  the transferlearning benchmark table, plus label-free-selected variants.
* ``digits``: MNIST <-> USPS (JDA release) against the JDA paper.
* ``amazon``: Amazon reviews 400-d, 12 tasks, against the CORAL paper's 4-task table and the
  EasyTL Python port (12 tasks).
* ``shift``: covariate shift built from real data (biased subsamples); KMM, KLIEP,
  discriminative weights and instance selection against the unweighted classifier.
* ``tradaboost``: TrAdaBoost with 5 labelled target samples per class on the digits.
* ``parameter``: RegularTransfer and MultiTask with a few labelled target samples (digits, SURF)
  beside source-only, target-only and pooled logistic regression.

Hyperparameters are fixed in advance (the papers' settings, or library defaults); the only
tuning is source-only cross-validation of an SVM's C (the CORAL protocol) or the label-free
DEV selector. No target label is used for any choice (the few-labelled-target tables train,
and RegularTransfer picks its alpha, on their labelled target samples, never on the scored ones).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from results import write_results  # benchmarks/results.py
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import LinearSVC

from transferkit.adapt import (
    CORAL,
    GFK,
    JDA,
    KLIEP,
    KMM,
    MEDA,
    SA,
    TCA,
    DiscriminativeWeighting,
    EasyTL,
    InstanceSelection,
    LabelFreeSearch,
    MultiTask,
    RegularTransfer,
    TrAdaBoost,
)
from transferkit.adapt import datasets as ds
from transferkit.adapt.protocols import coral_paper_protocol, linear_svm_source_cv

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
Task = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
Method = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]  # Xs, ys, Xt -> preds


def adapter(make: Callable[[], object]) -> Method:
    """A method that fits ``make()`` on (Xs, ys, Xt) and predicts the target."""
    return lambda Xs, ys, Xt: make().fit(Xs, ys, Xt).predict(Xt)


def plain(estimator: object) -> Method:
    """No adaptation: the estimator trained on the source only."""
    return lambda Xs, ys, Xt: clone(estimator).fit(Xs, ys).predict(Xt)


def run_tasks(tasks: dict[str, Task], methods: dict[str, Method]) -> dict[str, dict[str, float]]:
    """Accuracy (%) of every method on every task: ``{method: {task: acc}}``."""
    out: dict[str, dict[str, float]] = {m: {} for m in methods}
    for task, (Xs, ys, Xt, yt) in tasks.items():
        for name, method in methods.items():
            t0 = time.perf_counter()
            out[name][task] = 100.0 * float(np.mean(method(Xs, ys, Xt) == yt))
            print(f"  {task:>12} {name:<34} {out[name][task]:6.2f}  "
                  f"({time.perf_counter() - t0:5.1f} s)", file=sys.stderr, flush=True)
    return out


#: the tables printed by the current table function, written to benchmarks/results/da_<name>.json
MEASURED: list[dict[str, Any]] = []


def print_table(title: str, results: dict[str, dict[str, float]],
                published: dict[str, tuple[str, dict[str, float]] | None]) -> None:
    """Per-task accuracies and means, each method beside its published figure."""
    tasks = list(next(iter(results.values())))
    rows: list[list[str]] = []
    MEASURED.append({"title": title, "rows": rows, "columns": [
        "method", *tasks, "mean", "published mean", "diff", "reference"]})
    print(f"\n### {title}\n")
    print("| method | " + " | ".join(tasks) + " | mean | published mean | diff | reference |")
    print("|---" * (len(tasks) + 5) + "|")
    for name, accs in results.items():
        mean = float(np.mean([accs[t] for t in tasks]))
        ref = published.get(name)
        if ref is None:
            pub_txt, diff_txt, src = "-", "-", "-"
        else:
            src, pub = ref
            common = [t for t in tasks if t in pub]
            ours = float(np.mean([accs[t] for t in common]))
            pub_mean = float(np.mean([pub[t] for t in common]))
            pub_txt = f"{pub_mean:.2f}" + ("" if len(common) == len(tasks) else
                                           f" ({len(common)} tasks)")
            diff_txt = f"{ours - pub_mean:+.2f}"
        cells = " | ".join(f"{accs[t]:.2f}" for t in tasks)
        print(f"| {name} | {cells} | {mean:.2f} | {pub_txt} | {diff_txt} | {src} |")
        rows.append([name, *(f"{accs[t]:.2f}" for t in tasks), f"{mean:.2f}", pub_txt,
                     diff_txt, src])
    shown = set()
    for ref in published.values():
        if ref is not None and ref[0] not in shown:
            src, pub = ref
            shown.add(src)
            cells = " | ".join(f"{pub[t]:.2f}" if t in pub else "-" for t in tasks)
            mean = float(np.mean([pub[t] for t in tasks if t in pub]))
            print(f"| *published: {src}* | {cells} | {mean:.2f} | | | |")
            rows.append([f"*published: {src}*", *cells.split(" | "), f"{mean:.2f}", "", "", ""])


def column(table: dict[str, dict[str, float]], key: str) -> dict[str, float]:
    return {task: row[key] for task, row in table.items() if key in row}


# --------------------------------------------------------------------------- tables


JDA_GRID = {"n_components": [20, 50, 100], "reg": [0.1, 1.0]}  # fixed on SURF, reused as is


def surf_table(root: Path) -> None:
    tasks = {t: (*ds.load_surf(root, t[0]), *ds.load_surf(root, t[1])) for t in ds.SURF_TASKS}
    svm = linear_svm_source_cv()
    meda_grid = {"n_components": [10, 20, 30], "mmd_weight": [1.0, 10.0]}  # d and lambda
    methods: dict[str, Method] = {
        "1-NN (no adaptation)": plain(KNeighborsClassifier(1)),
        "TCA + 1-NN": adapter(TCA),
        "JDA + 1-NN (dual linear kernel)": adapter(lambda: JDA(approx="exact")),
        "JDA + 1-NN (primal, the library default)": adapter(JDA),
        "SA + 1-NN": adapter(SA),
        "linear SVM (no adaptation)": plain(svm),
        "CORAL + linear SVM": adapter(lambda: CORAL(svm)),
        "CORAL (paper's SVM protocol)": coral_paper_protocol,
        "JDA + linear SVM": adapter(lambda: JDA(LinearSVC(C=1.0))),
        "JDA + linear SVM, DEV-selected": adapter(
            lambda: LabelFreeSearch(JDA(LinearSVC(C=1.0)), JDA_GRID, selector="dev")),
        "GFK + 1-NN (d=20)": adapter(lambda: GFK(n_components=20)),
        "EasyTL": adapter(EasyTL),
        "MEDA (paper defaults)": adapter(MEDA),
        "MEDA, DEV-selected": adapter(lambda: LabelFreeSearch(MEDA(), meda_grid, selector="dev")),
    }
    jda = ds.published_jda(root)
    coral = ds.published_coral(root)["T3"]
    easy = ds.published_easytl(root)["surf"]
    bench = ds.published_benchmark(root)
    published = {
        "1-NN (no adaptation)": ("JDA paper NN", column(jda, "NN")),
        "TCA + 1-NN": ("JDA paper TCA", column(jda, "TCA")),
        "JDA + 1-NN (dual linear kernel)": ("JDA paper JDA", column(jda, "JDA")),
        "JDA + 1-NN (primal, the library default)": ("JDA paper JDA", column(jda, "JDA")),
        "SA + 1-NN": None,
        "linear SVM (no adaptation)": ("CORAL paper T3 NA", column(coral, "NA")),
        "CORAL + linear SVM": ("CORAL paper T3 CORAL", column(coral, "CORAL")),
        "CORAL (paper's SVM protocol)": ("CORAL paper T3 CORAL", column(coral, "CORAL")),
        "JDA + linear SVM": None,
        "JDA + linear SVM, DEV-selected": None,
        "GFK + 1-NN (d=20)": ("JDA paper GFK (d per task)", column(jda, "GFK")),
        "EasyTL": ("EasyTL Python port", column(easy, "EasyTL")),
        "MEDA (paper defaults)": ("transferlearning benchmark MEDA", bench["MEDA"]),
        "MEDA, DEV-selected": ("transferlearning benchmark MEDA", bench["MEDA"]),
    }
    results = run_tasks(tasks, methods)
    print_table("Office-Caltech10 SURF (full protocol, 12 tasks)", results, published)
    print_best(results, "MEDA in the transferlearning benchmark: 52.7")


def print_best(results: dict[str, dict[str, float]], goal: str) -> None:
    """The built-in method with the highest mean, beside the goal it is compared with."""
    means = {name: float(np.mean(list(accs.values()))) for name, accs in results.items()}
    best = max(means, key=means.__getitem__)
    print(f"\nbest built-in mean: {means[best]:.2f} ({best}; {goal})")


def digits_table(root: Path) -> None:
    tasks = {"MNIST->USPS": ds.load_mnist_usps(root, "MNIST"),
             "USPS->MNIST": ds.load_mnist_usps(root, "USPS")}
    methods: dict[str, Method] = {
        "1-NN (no adaptation)": plain(KNeighborsClassifier(1)),
        "TCA + 1-NN (reg=0.1)": adapter(lambda: TCA(reg=0.1)),
        "JDA + 1-NN (reg=0.1)": adapter(lambda: JDA(reg=0.1)),
    }
    jda = ds.published_jda(root)
    published = {
        "1-NN (no adaptation)": ("JDA paper NN", column(jda, "NN")),
        "TCA + 1-NN (reg=0.1)": ("JDA paper TCA", column(jda, "TCA")),
        "JDA + 1-NN (reg=0.1)": ("JDA paper JDA", column(jda, "JDA")),
    }
    print_table("MNIST <-> USPS (JDA release)", run_tasks(tasks, methods), published)


def amazon_table(root: Path) -> None:
    tasks = {t: (*ds.load_amazon(root, t[0]), *ds.load_amazon(root, t[1]))
             for t in ds.AMAZON_TASKS}
    svm = linear_svm_source_cv()
    methods: dict[str, Method] = {
        "linear SVM (no adaptation)": plain(svm),
        "CORAL + linear SVM": adapter(lambda: CORAL(svm)),
        "CORAL (paper's SVM protocol)": coral_paper_protocol,
        "SA + linear SVM": adapter(lambda: SA(LinearSVC(C=0.01))),
        "JDA + linear SVM": adapter(lambda: JDA(LinearSVC(C=1.0))),
        "JDA + linear SVM, DEV-selected (SURF's grid)": adapter(
            lambda: LabelFreeSearch(JDA(LinearSVC(C=1.0)), JDA_GRID, selector="dev")),
        "EasyTL": adapter(EasyTL),
        "MEDA (paper defaults)": adapter(MEDA),
        "KMM + logistic regression": adapter(lambda: KMM(LogisticRegression(C=0.01))),
        "discriminative weights + logistic regression":
            adapter(lambda: DiscriminativeWeighting(LogisticRegression(C=0.01))),
        "logistic regression (no adaptation)": plain(LogisticRegression(C=0.01)),
    }
    coral = ds.published_coral(root)["T5"]
    easy = ds.published_easytl(root)["amazon"]
    published = {
        "linear SVM (no adaptation)": ("CORAL paper T5 NA", column(coral, "NA")),
        "CORAL + linear SVM": ("CORAL paper T5 CORAL", column(coral, "CORAL")),
        "CORAL (paper's SVM protocol)": ("CORAL paper T5 CORAL", column(coral, "CORAL")),
        "SA + linear SVM": ("CORAL paper T5 SA", column(coral, "SA")),
        "EasyTL": ("EasyTL Python port", column(easy, "EasyTL")),
        "KMM + logistic regression": ("CORAL paper T5 KMM", column(coral, "KMM")),
    }
    results = run_tasks(tasks, methods)
    print_table("Amazon reviews 400-d (all source samples, 12 tasks)", results, published)
    print_best(results, "EasyTL in its Python port: 79.5")


def biased_split(X: np.ndarray, y: np.ndarray, seed: int, n_dims: int = 10,
                 slope: float = 2.0) -> Task:
    """Covariate shift from one real domain: PCA to ``n_dims``, a sample joins the source with
    probability ``sigmoid(slope * z)`` (``z``: standardised first PC); the rest is the target."""
    Z = PCA(n_dims, random_state=0).fit_transform(X)
    z = (Z[:, 0] - Z[:, 0].mean()) / Z[:, 0].std()
    chosen = np.random.default_rng(seed).random(len(z)) < 1.0 / (1.0 + np.exp(-slope * z))
    return Z[chosen], y[chosen], Z[~chosen], y[~chosen]


def shift_table(root: Path) -> None:
    lr = LogisticRegression(max_iter=3000)
    methods: dict[str, Method] = {
        "logistic regression (unweighted)": plain(lr),
        "KMM": adapter(lambda: KMM(lr)),
        "KLIEP": adapter(lambda: KLIEP(lr)),
        "discriminative weights": adapter(lambda: DiscriminativeWeighting(lr)),
        "instance selection (keep 50%)": adapter(lambda: InstanceSelection(lr)),
    }
    sources = {"MNIST (JDA release)": ds.load_mnist_usps(root, "MNIST")[:2],
               "SURF Caltech10": ds.load_surf(root, "C"),
               "Amazon kitchen": ds.load_amazon(root, "K")}
    for label, (X, y) in sources.items():
        tasks = {f"seed {s}": biased_split(X, y, s) for s in range(5)}
        print_table(f"Covariate shift: biased subsample of {label} (PCA-10, 5 seeds)",
                    run_tasks(tasks, methods), {})


def few_labels(y: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        mask[rng.choice(np.nonzero(y == c)[0], per_class, replace=False)] = True
    return mask


#: fits a model on labelled source ``Xs, ys`` and a few labelled target samples ``Xl, yl``
FewLabelFit = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], Any]


def few_label_baselines(clf: Any) -> dict[str, FewLabelFit]:
    """The three ways to use the data without transfer: the source alone, the source pooled
    with the labelled target samples, the labelled target samples alone."""
    return {"source only": lambda Xs, ys, Xl, yl: clone(clf).fit(Xs, ys),
            "source + labelled target pooled": lambda Xs, ys, Xl, yl: clone(clf).fit(
                np.vstack([Xs, Xl]), np.r_[ys, yl]),
            "labelled target only": lambda Xs, ys, Xl, yl: clone(clf).fit(Xl, yl)}


def few_label_table(title: str, groups: dict[str, tuple[dict[str, Task], int]],
                    fits: dict[str, FewLabelFit]) -> None:
    """Print the mean target accuracy (%) of each fit per group of tasks; each task is run on
    3 seeded draws of ``per_class`` labelled target samples, scored on the other ones."""
    print(f"\n### {title}\n")
    print("| task | labelled / class | " + " | ".join(fits) + " |")
    print("|---|---|" + "---|" * len(fits))
    rows: list[list[Any]] = []
    MEASURED.append({"title": title, "columns": ["task", "labelled / class", *fits],
                     "rows": rows})
    for label, (tasks, per_class) in groups.items():
        scores = []
        for Xs, ys, Xt, yt in tasks.values():
            for seed in range(3):
                m = few_labels(yt, per_class, seed)
                scores.append([fit(Xs, ys, Xt[m], yt[m]).score(Xt[~m], yt[~m])
                               for fit in fits.values()])
        mean = 100 * np.mean(scores, axis=0)
        print(f"| {label} | {per_class} | " + " | ".join(f"{v:.2f}" for v in mean) + " |",
              flush=True)
        rows.append([label, per_class, *(f"{v:.2f}" for v in mean)])


def digit_groups(root: Path) -> dict[str, tuple[dict[str, Task], int]]:
    """MNIST <-> USPS (JDA release), 5 labelled target samples per class."""
    return {f"{a}->{b}": ({f"{a}->{b}": ds.load_mnist_usps(root, a)}, 5)
            for a, b in (("MNIST", "USPS"), ("USPS", "MNIST"))}


def tradaboost_table(root: Path) -> None:
    svm = LinearSVC(C=0.1)
    few_label_table("TrAdaBoost, a few labelled target samples (LinearSVC C=0.1, 3 draws)",
                    digit_groups(root),
                    {**few_label_baselines(svm), "TrAdaBoost (20 rounds)": lambda Xs, ys, Xl, yl:
                     TrAdaBoost(svm, n_estimators=20).fit(Xs, ys, Xl, yt=yl)})


def parameter_table(root: Path) -> None:
    """Parameter-based transfer with a few labelled target samples (logistic regression
    everywhere, library defaults): MNIST <-> USPS with 5 per class, the 12 SURF tasks with 3
    per class (the semi-supervised Office protocol's count)."""
    surf = {t: (*ds.load_surf(root, t[0]), *ds.load_surf(root, t[1])) for t in ds.SURF_TASKS}
    few_label_table(
        "Parameter-based, a few labelled target samples (logistic regression, 3 draws)",
        {**digit_groups(root), "SURF, 12-task mean": (surf, 3)},
        {**few_label_baselines(LogisticRegression(max_iter=1000)),
         "RegularTransfer (alpha auto)": lambda Xs, ys, Xl, yl: RegularTransfer().fit(
             Xs, ys, Xl, yt=yl),
         "MultiTask (shared 1)": lambda Xs, ys, Xl, yl: MultiTask().fit(Xs, ys, Xl, yt=yl)})


# --------------------------------------------------------------------------- scale


def scale_data(n_total: int, n_features: int, seed: int = 0) -> Task:
    """Two gaussian classes; the target is shifted in 20 of the features."""
    rng = np.random.default_rng(seed)
    n = n_total // 2
    ys, yt = rng.integers(0, 2, n), rng.integers(0, 2, n)
    Xs = rng.normal(size=(n, n_features))
    Xs[:, 0] += 2.0 * ys
    Xt = rng.normal(size=(n, n_features))
    Xt[:, 0] += 2.0 * yt
    Xt[:, 1:21] += 0.5
    return Xs, ys, Xt, yt


def scale_one(method: str, n_total: int, n_features: int) -> dict[str, float | str]:
    """Fit + predict one method on synthetic data; time and memory (run in a fresh process)."""
    Xs, ys, Xt, yt = scale_data(n_total, n_features)
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    models = {
        "tca-rbf": lambda: TCA(RidgeClassifier(), kernel="rbf", n_components=50),
        "tca-linear": lambda: TCA(RidgeClassifier(), n_components=50),
        "kmm": lambda: KMM(LogisticRegression(max_iter=300)),
        "meda": lambda: MEDA(),
    }
    tracemalloc.start()
    t0 = time.perf_counter()
    model = models[method]().fit(Xs, ys, Xt)
    fit_s = time.perf_counter() - t0
    acc = model.score(Xt, yt)
    total_s = time.perf_counter() - t0
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    mode = getattr(model, "kernel_mode_", None) or model.feature_map_.mode_
    return {"method": method, "mode": mode, "fit_s": fit_s, "fit_predict_s": total_s,
            "target_acc": 100 * acc, "peak_rss_mib": resource.getrusage(
                resource.RUSAGE_SELF).ru_maxrss / 1024, "rss_after_data_mib": rss_data,
            "tracemalloc_peak_mib": traced_peak / 2**20}


def scale_table(n_total: int, n_features: int) -> None:
    print(f"\n### Scale: {n_total} samples x {n_features} features (source + target), "
          f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}\n")
    print("| method | kernel representation | fit (s) | fit + predict (s) | peak RSS (MiB) | "
          "RSS with data only (MiB) | numpy peak, tracemalloc (MiB) | target acc |")
    print("|---|---|---|---|---|---|---|---|")
    rows: list[list[Any]] = []
    MEASURED.append({"title": f"{n_total} x {n_features} (source + target), "
                              f"{os.cpu_count()} CPU cores",
                     "columns": ["method", "kernel representation", "fit (s)",
                                 "fit + predict (s)", "peak RSS (MiB)",
                                 "RSS with data only (MiB)", "numpy peak, tracemalloc (MiB)",
                                 "target acc"], "rows": rows})
    for method in ("tca-rbf", "tca-linear", "kmm", "meda"):
        cmd = [sys.executable, __file__, "--scale-one", method, "--n", str(n_total),
               "--d", str(n_features)]
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True,
                                      text=True).stdout.strip().splitlines()[-1])
        print(f"| {r['method']} | {r['mode']} | {r['fit_s']:.1f} | {r['fit_predict_s']:.1f} | "
              f"{r['peak_rss_mib']:.0f} | {r['rss_after_data_mib']:.0f} | "
              f"{r['tracemalloc_peak_mib']:.0f} | {r['target_acc']:.1f} |")
        rows.append([r["method"], r["mode"], f"{r['fit_s']:.1f}", f"{r['fit_predict_s']:.1f}",
                     f"{r['peak_rss_mib']:.0f}", f"{r['rss_after_data_mib']:.0f}",
                     f"{r['tracemalloc_peak_mib']:.0f}", f"{r['target_acc']:.1f}"])


TABLES = {"surf": surf_table, "digits": digits_table, "amazon": amazon_table,
          "shift": shift_table, "tradaboost": tradaboost_table, "parameter": parameter_table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tables", nargs="*", default=[],
                        help=f"tables to print, from {', '.join(TABLES)} (default: all)")
    parser.add_argument("--data", type=Path, default=DATA, help="shared data folder")
    parser.add_argument("--scale", action="store_true", help="time/memory check at scale")
    parser.add_argument("--n", type=int, default=100_000, help="--scale: samples in total")
    parser.add_argument("--d", type=int, default=256, help="--scale: features")
    parser.add_argument("--scale-one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    unknown = sorted(set(args.tables) - set(TABLES))
    if unknown:
        parser.error(f"unknown table(s) {', '.join(unknown)}; choose from {', '.join(TABLES)}")
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    if args.scale_one:
        print(json.dumps(scale_one(args.scale_one, args.n, args.d)))
        return
    if args.scale:
        scale_table(args.n, args.d)
        write_results("da_scale", MEASURED, title="Shallow domain adaptation at scale",
                      command=f"python benchmarks/da_tables.py --scale --n {args.n} "
                              f"--d {args.d}")
        MEASURED.clear()
        if not args.tables:
            return
    for name in args.tables or TABLES:
        TABLES[name](args.data)
        write_results(f"da_{name}", MEASURED, title=f"Shallow DA: {name}",
                      command=f"python benchmarks/da_tables.py {name}",
                      notes=["Accuracy %; no hyperparameter chosen with target labels."])
        MEASURED.clear()


if __name__ == "__main__":
    main()
