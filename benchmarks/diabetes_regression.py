"""Regression transfer between two groups of patients: scikit-learn's diabetes data split by
sex (issue 16's regression check).

    python benchmarks/diabetes_regression.py [--source 1] [--labels 30] [--seeds 0,1,2,3,4]

Data: ``sklearn.datasets.load_diabetes(scaled=False)`` -- 442 patients, 10 columns, the
target a disease-progression score one year on. ``SEX`` (1 or 2) splits it in two groups;
the source group (``--source``) is all labelled, the target group offers ``--labels``
labelled patients (drawn per seed; 20 % of them held out for validation: the epoch, the
ridge alpha), the rest of the target group is the test set. ``SEX`` itself is dropped
(constant within a group).

Rows (MAE, RMSE and R2 on the target test patients, mean ± sd over seeds):

* transfer: ``TabularMLP`` trained on the source group (``FineTuneRegressor``, its own 20 %
  validation split picks the epoch), saved as a run dir, then fine-tuned on the target
  labels through ``backbone="file:<run>"``;
* from scratch: the same MLP, random init, on the target labels only;
* ridge (target only): ``Ridge`` on standardised columns, alpha chosen on the validation
  patients (grid 1e-3..1e3), refit on all ``--labels``;
* ridge (source only) and ridge (pooled): the same ridge fitted on the source group alone,
  and on source + target labels -- what a practitioner would try first.

Everything is chosen on validation patients, never on the test patients.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from transferkit.backbones.tabular import ColumnSchema, TabularMLP
from transferkit.finetune import FineTuneRegressor
from transferkit.metrics import mean_sd
from transferkit.tasks import Regression

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import write_results  # noqa: E402

ALPHAS = np.logspace(-3, 3, 13)


def groups(source_sex: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list]:
    """``(X_source, y_source, X_target, y_target, column names)``, ``SEX`` dropped."""
    data = load_diabetes(scaled=False)
    names = [n.upper() for n in data.feature_names]
    sex = data.data[:, names.index("SEX")]
    keep = [i for i, n in enumerate(names) if n != "SEX"]
    X = data.data[:, keep]
    src, tgt = sex == source_sex, sex != source_sex
    return X[src], data.target[src], X[tgt], data.target[tgt], [names[i] for i in keep]


def ridge(X: np.ndarray, y: np.ndarray, X_val: np.ndarray | None = None,
          y_val: np.ndarray | None = None) -> tuple[object, float]:
    """Ridge on standardised columns; alpha chosen on ``(X_val, y_val)`` by RMSE (default
    1.0 without validation), then refit on all the data given."""
    alpha = 1.0
    if X_val is not None:
        scores = [np.sqrt(np.mean((make_pipeline(StandardScaler(), Ridge(alpha=a)).fit(X, y)
                                   .predict(X_val) - y_val) ** 2)) for a in ALPHAS]
        alpha = float(ALPHAS[int(np.argmin(scores))])
        X, y = np.vstack([X, X_val]), np.concatenate([y, y_val])
    return make_pipeline(StandardScaler(), Ridge(alpha=alpha)).fit(X, y), alpha


def shown(stat: float | tuple[float, float], digits: int) -> str:
    """``mean ± sd`` (or the one value of a single seed) with ``digits`` decimals."""
    if isinstance(stat, tuple):
        return f"{stat[0]:.{digits}f} ± {stat[1]:.{digits}f}"
    return f"{stat:.{digits}f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--source", type=int, default=1, choices=(1, 2), help="source SEX code")
    p.add_argument("--labels", type=int, default=30)
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--epochs", type=int, default=200, help="target fine-tuning epochs")
    p.add_argument("--source-epochs", type=int, default=200)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", default="64,64")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-write", action="store_true", help="print only, write no JSON")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    hidden = tuple(int(h) for h in args.hidden.split(","))
    Xs, ys, Xt, yt, names = groups(args.source)
    schema = ColumnSchema.fit(Xs, columns=names)
    loop = {"batch_size": 16, "weight_decay": 0.01, "warmup": 0.0, "head_lr": args.lr}
    runs = Path(tempfile.mkdtemp(prefix="diabetes-"))
    source = FineTuneRegressor(backbone=TabularMLP(schema, hidden=hidden, dropout=0.1),
                               strategy="finetune", epochs=args.source_epochs, lr=args.lr,
                               validation_fraction=0.2, random_state=0, **loop)
    source.fit(schema.rows(Xs), ys)
    source.save(runs / "source")
    print(f"source group SEX={args.source}: {len(ys)} patients; target: {len(yt)} patients, "
          f"{args.labels} labelled per seed; source model's best epoch "
          f"{source.result_.best_epoch + 1}/{args.source_epochs}", flush=True)
    per_seed: dict[str, list[dict[str, float]]] = {k: [] for k in (
        "transfer", "scratch", "ridge_target", "ridge_source", "ridge_pooled")}
    alphas = []
    for seed in seeds:
        order = np.random.default_rng(seed).permutation(len(yt))
        labelled, test = order[:args.labels], order[args.labels:]
        n_val = max(1, round(0.2 * args.labels))
        val, train = labelled[:n_val], labelled[n_val:]
        rows_t = schema.rows(Xt)
        common = {"strategy": "finetune", "epochs": args.epochs, "lr": args.lr,
                  "random_state": seed, **loop}
        transfer = FineTuneRegressor(backbone=f"file:{runs / 'source'}", **common)
        transfer.fit(rows_t[train], yt[train], rows_t[val], yt[val])
        scratch = FineTuneRegressor(backbone=TabularMLP(schema, hidden=hidden, dropout=0.1,
                                                        seed=seed), **common)
        scratch.fit(rows_t[train], yt[train], rows_t[val], yt[val])
        target_ridge, alpha = ridge(Xt[train], yt[train], Xt[val], yt[val])
        alphas.append(alpha)
        source_ridge, _ = ridge(Xs, ys)
        pooled_ridge, _ = ridge(np.vstack([Xs, Xt[train]]), np.concatenate([ys, yt[train]]),
                                Xt[val], yt[val])
        for key, pred in (("transfer", transfer.predict(rows_t[test])),
                          ("scratch", scratch.predict(rows_t[test])),
                          ("ridge_target", target_ridge.predict(Xt[test])),
                          ("ridge_source", source_ridge.predict(Xt[test])),
                          ("ridge_pooled", pooled_ridge.predict(Xt[test]))):
            per_seed[key].append(Regression.metrics(yt[test], np.asarray(pred).ravel()))
        print(f"seed {seed}: " + ", ".join(f"{k} MAE {v[-1]['mae']:.1f}"
                                           for k, v in per_seed.items()), flush=True)
    labels = {"transfer": "transfer (source-trained MLP, fine-tuned)",
              "scratch": "MLP from scratch (target labels only)",
              "ridge_target": "ridge (target labels only)",
              "ridge_source": "ridge (source group only)",
              "ridge_pooled": "ridge (source + target labels pooled)"}
    rows = []
    for key, label in labels.items():
        stats = mean_sd(per_seed[key], ("mae", "rmse", "r2"))
        rows.append([label] + [shown(stats[m], 2 if m == "r2" else 1)
                               for m in ("mae", "rmse", "r2")])
    wins = sum(t["mae"] < s["mae"]
               for t, s in zip(per_seed["transfer"], per_seed["scratch"], strict=True))
    print(f"\n{'':48}{'MAE':>14}{'RMSE':>14}{'R2':>14}")
    for row in rows:
        print(f"{row[0]:48}" + "".join(f"{c:>14}" for c in row[1:]))
    over_ridge = sum(t["mae"] < r["mae"] for t, r in zip(per_seed["transfer"],
                                                         per_seed["ridge_target"], strict=True))
    notes = [f"transfer beats from-scratch on MAE in {wins} of {len(seeds)} seeds, and "
             f"target-only ridge in {over_ridge} of {len(seeds)}",
             "ridge alphas chosen on validation: "
             + ", ".join(f"{a:g}" for a in sorted(set(alphas))),
             f"MLP hidden {hidden}, dropout 0.1, lr {args.lr:g}, batch 16, target epochs "
             f"{args.epochs} (the best on validation kept), source epochs "
             f"{args.source_epochs}"]
    print("\n".join(notes))
    if not args.no_write:
        path = write_results(
            f"diabetes_regression_source{args.source}",
            [{"title": f"Diabetes, SEX={args.source} -> SEX={3 - args.source}, "
                       f"{args.labels} target labels, seeds {seeds}",
              "columns": ["model", "MAE", "RMSE", "R2"], "rows": rows}], notes=notes,
            per_seed=per_seed)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
