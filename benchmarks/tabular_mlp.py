"""Training speed of the tabular backbone: TabularMLP + linear head on the credit-default table.

    python benchmarks/tabular_mlp.py [--rows 25000] [--batch 256] [--epochs 3]
                                     [--threads 1,2] [--trainer]

Data: ../shared/data/credit_default_taiwan_uci (30,000 card holders x 23 columns; SEX,
EDUCATION, MARRIAGE and PAY_* categorical): ``--rows`` of them train, the rest are held out.
Where the file is absent, a synthetic table of the same shape and column kinds stands in.

Measured in one run, per torch thread count (``--threads``), after 20 untimed warm-up steps:

* training rows/s: each batch as the training loop makes it -- ``prepare`` of the list of
  its rows (encode), forward, cross-entropy, backward, AdamW step; batch ``--batch``,
  hidden (256, 256), dropout 0.1; every ``--epochs`` epoch timed, the figure is all rows
  over all the time;
* ``prepare`` alone: the same batches, encode only.

``--trainer`` also times ``FineTuneClassifier(backbone=TabularMLP(...)).fit`` (transferkit's
own loop: DataLoader + Accelerate; its ``wall_s``, validation included). Target: >= 50k
rows/s of training on the 2-core CPU. The machine is shared: the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from transferkit.backbones.tabular import ColumnSchema, TabularMLP

DATA = (Path(__file__).resolve().parents[1].parent / "shared" / "data"
        / "credit_default_taiwan_uci" / "UCI_Credit_Card.csv")
LABEL = "default.payment.next.month"
CATEGORICAL = ["SEX", "EDUCATION", "MARRIAGE", "PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5",
               "PAY_6"]


def load_table(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, str]:
    """The credit-default features ``(30000, 23)`` and labels, or a synthetic stand-in."""
    if DATA.is_file():
        df = pd.read_csv(DATA)
        y = df.pop(LABEL).to_numpy().copy()
        return df.drop(columns=["ID"]), y, f"credit default ({DATA.parent.name})"
    rng = np.random.default_rng(seed)
    n = 30_000
    cols: dict[str, np.ndarray] = {
        "LIMIT_BAL": rng.lognormal(11.5, 0.8, n).round(-4),
        "SEX": rng.integers(1, 3, n), "EDUCATION": rng.integers(0, 7, n),
        "MARRIAGE": rng.integers(0, 4, n), "AGE": rng.integers(21, 77, n),
    }
    for i in (0, 2, 3, 4, 5, 6):
        cols[f"PAY_{i}"] = rng.integers(-2, 9, n)
    for i in range(1, 7):
        cols[f"BILL_AMT{i}"] = rng.normal(50_000, 70_000, n).round()
    for i in range(1, 7):
        cols[f"PAY_AMT{i}"] = rng.exponential(5_000, n).round()
    df = pd.DataFrame(cols)
    logit = 0.8 * (df["PAY_0"] > 0) - 0.3 * np.log(df["LIMIT_BAL"] / 1e5) - 1.3
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return df, y, "synthetic stand-in (the credit-default file is absent)"


def batches(n: int, batch: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    return [order[s:s + batch] for s in range(0, n, batch)]


def time_training(schema: ColumnSchema, rows: np.ndarray, y: np.ndarray, batch: int,
                  epochs: int, seed: int = 0) -> tuple[list[float], TabularMLP, nn.Linear]:
    """Rows/s of each training epoch (prepare + forward + backward + step)."""
    torch.manual_seed(seed)
    bb = TabularMLP(schema, hidden=(256, 256), dropout=0.1, seed=seed).train()
    head = nn.Linear(bb.feature_dim, 2)
    opt = torch.optim.AdamW([*bb.parameters(), *head.parameters()], lr=1e-3,
                            weight_decay=0.01)
    labels = torch.from_numpy(y)
    rng = np.random.default_rng(seed)

    def step(idx: np.ndarray) -> None:
        inputs = bb.prepare([rows[i] for i in idx])  # as the training loop's Collate does
        loss = nn.functional.cross_entropy(head(bb(**inputs)), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()

    for idx in batches(len(rows), batch, rng)[:20]:  # warm-up: allocator, kernels
        step(idx)
    speeds = []
    for _ in range(epochs):
        plan = batches(len(rows), batch, rng)
        start = time.perf_counter()
        for idx in plan:
            step(idx)
        speeds.append(len(rows) / (time.perf_counter() - start))
    return speeds, bb.eval(), head


def time_prepare(schema: ColumnSchema, rows: np.ndarray, batch: int, epochs: int) -> float:
    """Rows/s of ``prepare`` alone on the loop's batches (lists of rows)."""
    rng = np.random.default_rng(1)
    plans = [batches(len(rows), batch, rng) for _ in range(epochs)]
    start = time.perf_counter()
    for plan in plans:
        for idx in plan:
            schema.encode([rows[i] for i in idx])
    return epochs * len(rows) / (time.perf_counter() - start)


def held_out_auc(bb: TabularMLP, head: nn.Linear, rows: np.ndarray, y: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    with torch.no_grad():
        p = torch.softmax(head(bb(**bb.prepare(rows))), 1)[:, 1].numpy()
    return float(roc_auc_score(y, p))


def time_trainer(schema: ColumnSchema, rows: np.ndarray, y: np.ndarray, batch: int,
                 epochs: int) -> float:
    """Rows/s of FineTuneClassifier.fit's training loop (its wall_s: training and the
    per-epoch validation on 20 % of the rows)."""
    from transferkit.finetune import FineTuneClassifier

    clf = FineTuneClassifier(backbone=TabularMLP(schema), strategy="finetune", epochs=epochs,
                             batch_size=batch, lr=1e-3, threshold_metric=None,
                             random_state=0)
    clf.fit(rows, y)
    return epochs * len(rows) / clf.result_.wall_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=25_000, help="training rows")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per setting")
    parser.add_argument("--threads", default="1,2", help="torch thread counts to time")
    parser.add_argument("--trainer", action="store_true",
                        help="also time FineTuneClassifier.fit (transferkit's loop)")
    args = parser.parse_args()
    df, y, source = load_table()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(df))
    train, test = order[:args.rows], order[args.rows:]
    schema = ColumnSchema.fit(df.iloc[train], categorical=CATEGORICAL)
    rows = schema.rows(df)
    print(f"data: {source}: {len(train)} training rows x {df.shape[1]} columns "
          f"({len(test)} held out); {schema!r}, {schema.numeric_dim}-d numeric input; "
          f"rows: {rows.dtype} array")
    print(f"TabularMLP hidden (256, 256) + linear head, AdamW, batch {args.batch}, "
          f"{args.epochs} timed epochs; CPU cores {os.cpu_count()}, load average before "
          f"{os.getloadavg()[0]:.2f}")
    default_threads = torch.get_num_threads()
    results = {}
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        speeds, bb, head = time_training(schema, rows[train], y[train], args.batch,
                                         args.epochs)
        prep = time_prepare(schema, rows[train], args.batch, args.epochs)
        overall = args.epochs / sum(1 / s for s in speeds)  # all rows over all the time
        results[threads] = overall
        auc = held_out_auc(bb, head, rows[test], y[test]) if len(test) else float("nan")
        print(f"  {threads} thread(s): training {overall:,.0f} rows/s (epochs: "
              + ", ".join(f"{s:,.0f}" for s in speeds) + f"; median "
              f"{statistics.median(speeds):,.0f}); prepare alone {prep:,.0f} rows/s "
              f"({1e6 * args.batch / prep:.0f} us/batch, {100 * overall / prep:.0f}% of the "
              f"training time); held-out AUC {auc:.3f}")
    if args.trainer:
        torch.set_num_threads(1)
        speed = time_trainer(schema, rows[train], y[train], args.batch, args.epochs)
        print(f"  FineTuneClassifier.fit, 1 thread: {speed:,.0f} rows/s "
              "(training + per-epoch validation, DataLoader + Accelerate)")
    torch.set_num_threads(default_threads)
    best = max(results, key=results.get)
    verdict = "meets" if results[best] >= 50_000 else "MISSES"
    print(f"training speed: {results[best]:,.0f} rows/s with {best} thread(s) -- {verdict} "
          f"the >= 50,000 rows/s target (load average after {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
