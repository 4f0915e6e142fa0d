"""Source-dataset ranking (transferkit.ranking.sources) against the accuracy each source gives.

    python benchmarks/source_ranking.py                 # SURF and Amazon (~10 min on 2 idle cores)
    python benchmarks/source_ranking.py surf            # one of them

For each target domain of Office-Caltech10 SURF (C, A, W, D) and Amazon reviews (B, D, E, K)
its 3 other domains are the candidate sources. Ground truth: the target accuracy of one fixed
adapter per source -> target pair, CORAL + linear SVM with C by 2-fold source CV (as in
``da_tables.py``), measured on the target samples outside a small seeded labelled split
(3 per class on SURF, 20 per class on Amazon). The source head score is scored on that
labelled split only; MMD and the proxy A-distance see all target features, no target labels.
The rankings run on two views of the features: each domain z-scored on its own (the
adapter's input) and all domains z-scored with one pooled mean/std (one common transform).
Per target: each source's accuracy, each method's top pick, its regret (best source accuracy
minus the top pick's) and Kendall's tau between the score (distances negated) and the
accuracies; then means per method, beside a uniformly random pick.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from da_tables import DATA, few_labels  # benchmarks/da_tables.py
from results import write_results  # benchmarks/results.py
from scipy.stats import kendalltau

from transferkit.adapt import CORAL, AdaptWarning
from transferkit.adapt import datasets as ds
from transferkit.adapt.protocols import linear_svm_source_cv
from transferkit.ranking.sources import SCORES, RankingWarning, rank_sources

SEEDS = (0, 1, 2, 3, 4)  # labelled target splits (and the distances' subsample/fold seeds)
METHODS = {"mmd": "MMD", "proxy_a_distance": "proxy A-distance",
           "source_head_score": "source head score"}
DATASETS: dict[str, tuple[str, dict[str, str], Callable[..., Any], int]] = {
    "surf": ("Office-Caltech10 SURF", ds.SURF_DOMAINS, ds.load_surf, 3),
    "amazon": ("Amazon reviews 400-d", ds.AMAZON_DOMAINS, ds.load_amazon, 20),
}


def ground_truth(domains: dict[str, tuple[np.ndarray, np.ndarray]]
                 ) -> tuple[dict[tuple[str, str], np.ndarray], float]:
    """CORAL + linear SVM target predictions ``(nt,)`` per (source, target) pair, and the mean
    seconds per pair. No target label is used: predictions are scored later, per split."""
    preds, seconds = {}, []
    for t, (Xt, _) in domains.items():
        for s, (Xs, ys) in domains.items():
            if s != t:
                t0 = time.perf_counter()
                preds[s, t] = CORAL(linear_svm_source_cv()).fit(Xs, ys, Xt).predict(Xt)
                seconds.append(time.perf_counter() - t0)
                print(f"  CORAL + SVM {s}->{t}: {time.perf_counter() - t0:.1f} s",
                      file=sys.stderr, flush=True)
    return preds, float(np.mean(seconds))


def judge(scores: dict[str, float], acc: dict[str, float], better: str
          ) -> tuple[str, float, float]:
    """Top pick(s), regret and Kendall's tau of one method on one target. Tied top picks
    count as a uniform pick among them (their mean accuracy)."""
    oriented = {s: v if better == "higher" else -v for s, v in scores.items()}
    top = max(oriented.values())
    picks = [s for s, v in oriented.items() if v == top]
    regret = max(acc.values()) - float(np.mean([acc[s] for s in picks]))
    names = list(acc)
    tau = kendalltau([oriented[s] for s in names], [acc[s] for s in names]).statistic
    return "/".join(picks), regret, float(tau)


def raw_domain(root: Path, key: str, domain: str) -> np.ndarray:
    """A domain's features before any per-domain statistic: SURF histograms divided by their
    row sums (a per-sample step), Amazon bag-of-words as stored."""
    from scipy.io import loadmat

    if key == "surf":
        X = loadmat(str(root / "office_caltech10_surf_gfk_original"
                        / f"{ds.SURF_DOMAINS[domain]}_SURF_L10.mat"))["fts"].astype(np.float64)
        return X / X.sum(1, keepdims=True)
    return loadmat(str(root / "amazon_review_400"
                       / f"{ds.AMAZON_DOMAINS[domain]}_400.mat"))["fts"].astype(np.float64)


def feature_views(key: str, root: Path, domains: dict[str, tuple[np.ndarray, np.ndarray]]
                  ) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The features the rankings see: each domain z-scored on its own (the adapter's input,
    the published protocol), and all domains z-scored with one mean/std pooled over the 4
    (one common transform, as one backbone and one scaler would give)."""
    raw = {d: raw_domain(root, key, d) for d in domains}
    pooled = np.vstack(list(raw.values()))
    return {VIEWS[0]: domains,
            VIEWS[1]: {d: (ds.zscore(raw[d], pooled), domains[d][1]) for d in domains}}


VIEWS = ("per-domain z-score", "one common z-score")


def run_dataset(key: str, root: Path) -> list[dict[str, Any]]:
    title, names, load, per_class = DATASETS[key]
    domains = {d: load(root, d) for d in names}
    preds, truth_s = ground_truth(domains)
    views = feature_views(key, root, domains)
    labels = [(v, m) for v in VIEWS for m in METHODS] + [("", "random")]
    regrets: dict[tuple[str, str], np.ndarray] = {k: np.zeros((len(SEEDS), len(names)))
                                                  for k in labels}
    taus = {k: np.zeros((len(SEEDS), len(names))) for k in labels[:-1]}
    seconds: dict[tuple[str, str], list[float]] = {k: [] for k in labels[:-1]}
    details: dict[str, list[list[Any]]] = {v: [] for v in VIEWS}
    random_hits: list[float] = []  # chance that a uniform pick is a best source
    for i, seed in enumerate(SEEDS):
        for j, (t, (_, yt)) in enumerate(domains.items()):
            lab = few_labels(yt, per_class, seed)
            acc = {s: 100 * float(np.mean(preds[s, t][~lab] == yt[~lab]))
                   for s in domains if s != t}
            best = max(acc.values())
            regrets["", "random"][i, j] = best - float(np.mean(list(acc.values())))
            random_hits.append(float(np.mean([a == best for a in acc.values()])))
            for view, feats in views.items():
                sources = {s: feats[s] for s in acc}
                rows = rank_sources(sources, feats[t][0], yt[lab], labelled_rows=lab, seed=seed)
                cells: list[Any] = [t, ", ".join(f"{s} {acc[s]:.1f}" for s in acc),
                                    "/".join(s for s in acc if acc[s] == best)]
                for m in METHODS:
                    pick, regret, tau = judge({r["source"]: r[m] for r in rows}, acc,
                                              SCORES[m])
                    regrets[view, m][i, j], taus[view, m][i, j] = regret, tau
                    seconds[view, m].extend(r[f"{m}_seconds"] for r in rows)
                    cells += [pick, f"{regret:.1f}",
                              f"{tau:+.2f}" if np.isfinite(tau) else "n/a (all tied)"]
                cells.append(f"{regrets['', 'random'][i, j]:.1f}")
                if i == 0:
                    details[view].append(cells)
                print(f"  seed {seed} target {t} ({view}): " + " | ".join(map(str, cells[1:])),
                      file=sys.stderr, flush=True)

    tables = [{"title": f"{title}: per target, rankings on {view} features (split seed "
                        f"{SEEDS[0]})",
               "columns": ["target", "accuracy % per source (CORAL + SVM)", "best source",
                           *(f"{METHODS[m]} {c}" for m in METHODS
                             for c in ("pick", "regret", "tau")),
                           "random pick: expected regret"], "rows": details[view]}
              for view in VIEWS]
    summary_rows: list[list[Any]] = []
    for k in labels:
        r = regrets[k]
        seed_means = r.mean(1)
        if k[1] == "random":
            row: list[Any] = ["random pick (expected)", "–", f"{r[0].mean():.2f}",
                              f"{seed_means.mean():.2f} ± {seed_means.std():.2f}",
                              "0", "0", f"{np.mean(random_hits):.2f}", "–"]
        else:
            tau = taus[k]
            tau_seed = np.nanmean(tau, axis=1)
            row = [METHODS[k[1]], k[0], f"{r[0].mean():.2f}",
                   f"{seed_means.mean():.2f} ± {seed_means.std():.2f}",
                   f"{np.nanmean(tau[0]):+.2f}", f"{tau_seed.mean():+.2f} ± {tau_seed.std():.2f}",
                   f"{np.mean(r == 0.0):.2f}", f"{np.mean(seconds[k]):.3f}"]
        summary_rows.append(row)
    tables.append({"title": f"{title}: means over the 4 targets", "columns": [
        "method", "features it ranks on", f"mean regret (points), seed {SEEDS[0]}",
        f"mean regret, {len(SEEDS)} splits (mean ± sd of split means)",
        f"mean Kendall tau, seed {SEEDS[0]}", f"mean Kendall tau, {len(SEEDS)} splits",
        "top pick is the best source (fraction of targets x splits)",
        "seconds per source"], "rows": summary_rows,
        "notes": [f"Ground truth CORAL + linear SVM: {truth_s:.1f} s per source -> target "
                  "pair on average, on per-domain z-scored features in every row."]})
    for table in tables:
        print(f"\n### {table['title']}\n\n| " + " | ".join(table["columns"]) + " |")
        for row in table["rows"]:
            print("| " + " | ".join(map(str, row)) + " |")
    return tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="*", default=[],
                        help=f"from {', '.join(DATASETS)} (default: all)")
    parser.add_argument("--data", type=Path, default=DATA, help="shared data folder")
    args = parser.parse_args()
    unknown = sorted(set(args.datasets) - set(DATASETS))
    if unknown:
        parser.error(f"unknown dataset(s) {', '.join(unknown)}; choose from {', '.join(DATASETS)}")
    warnings.filterwarnings("ignore", category=AdaptWarning)  # SURF's one constant column
    warnings.filterwarnings("ignore", category=RankingWarning)  # expected on per-domain z-scores
    tables: list[dict[str, Any]] = []
    for key in args.datasets or DATASETS:
        tables += run_dataset(key, args.data)
    notes = [
        "Question: given a target domain and its 3 candidate source domains, which source "
        "should one transfer from? Each method ranks the sources before any adaptation; the "
        "ground truth is the target accuracy (%) of one fixed adapter trained on each source: "
        "CORAL (eps=1) + linear SVM, C by 2-fold CV on the source labels (da_tables.py's "
        "'CORAL + linear SVM'), which sees the target's features but not its labels.",
        "Ground-truth data as in da_tables.py: SURF from the GFK release, row-sum normalised "
        "then z-scored per domain (identical, to 1e-12, to office_caltech10_surf_zscore/); "
        "Amazon 400-d z-scored per domain.",
        "The rankings are computed twice. 'per-domain z-score': on exactly those features. "
        "'one common z-score': on the same features before the per-domain step (SURF "
        "row-sum normalised, Amazon as stored) z-scored with one mean/std pooled over the 4 "
        "domains, i.e. every dataset through one transform, as `transferkit rank` gives them "
        "(one backbone). The second view was added after the first run showed all distances "
        "negative on per-domain z-scores: standardising each domain on its own makes its rows "
        "sum to zero, so the unbiased MMD drifts by a term of order -1/n per domain (the smallest "
        "domain, dslr, looks closest to every other) and the CV domain classifier errs above "
        "chance (proxy A-distance -0.9 to -1.7 on SURF). rank_sources warns about such input "
        "(RankingWarning; silenced here).",
        "Target labels: a seeded split of 3 labelled samples per class (SURF: 30) or 20 per "
        "class (Amazon: 40). The source head score (logistic regression, C=1, trained on the "
        "source) is its accuracy on that split; the ground-truth accuracy is measured on the "
        "rest of the target. MMD (unbiased, RBF, one median-heuristic bandwidth per target "
        "shared by its 3 sources, at most 2000 rows per domain) and the proxy A-distance "
        "(2(1 - 2 err), err of a 5-fold CV logistic-regression domain classifier on balanced "
        "samples) use all target features and no target label.",
        "Regret: best source accuracy minus the top-ranked source's (0 = the best source was "
        "picked; a tie at the top counts as a uniform pick among the tied sources). Kendall's "
        "tau (scipy, tau-b) between the score (distances negated, so +1 = the order of the "
        "accuracies) and the 3 accuracies: with 3 sources and no ties it is -1, -1/3, 1/3 or "
        "1, and undefined when a score ties all 3 sources (the means skip it). Random pick: "
        "the expected regret of choosing a source uniformly (best minus mean "
        "accuracy), expected tau 0.",
        f"{len(SEEDS)} splits (seeds {', '.join(map(str, SEEDS))}) change the labelled target "
        "samples, the scored rest, and the distances' subsample and CV-fold seeds; the "
        "adapter is fitted once per pair. Only 4 targets per dataset: a mean over 4 is noisy, "
        "read the per-target tables.",
    ]
    write_results("source_ranking", tables, notes=notes,
                  title="Source-dataset ranking: which domain to transfer from")


if __name__ == "__main__":
    main()
