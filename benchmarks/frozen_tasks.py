"""A multi-label frozen fit costs one extraction pass plus the heads.

    python benchmarks/frozen_tasks.py [--n 600] [--seeds 0,1,2]

``compare(task="multilabel")`` (what ``transferkit fit DATA --task multilabel`` runs) on N
synthetic 64x64 images holding up to three bright patches (the labels), through
``efficientnet_lite0`` with an empty feature cache, over several seeds, with the
from-scratch baseline. Counted: the items pushed through the backbone
(``transferkit.features.STATS``) and the cache hits; timed: the whole comparison and, in a
second empty cache, one extraction pass over the same images alone. Writes
``benchmarks/results/frozen_tasks.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TRANSFERKIT_NO_PROGRESS", "1")


def images(n: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """``n`` 64x64 RGB images with independent patches top-left / centre / bottom-right and
    their label cells (``"tl|br"``)."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 80, (n, 64, 64, 3), dtype=np.uint8)
    Y = rng.integers(0, 2, (n, 3))
    X[Y[:, 0] == 1, :20, :20] = 240
    X[Y[:, 1] == 1, 22:42, 22:42] = 240
    X[Y[:, 2] == 1, 44:, 44:] = 240
    names = ("tl", "c", "br")
    return X, ["|".join(n for n, on in zip(names, row, strict=True) if on) for row in Y]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=600)
    p.add_argument("--seeds", default="0,1,2")
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)
    from transferkit.base import shared_backbone
    from transferkit.data.dataset import Dataset
    from transferkit.experiment import compare
    from transferkit.features import STATS, extract_features

    seeds = tuple(int(s) for s in args.seeds.split(","))
    X, cells = images(args.n)
    data = Dataset(X, np.asarray(cells, dtype=object), "image", name="patches")
    bb = shared_backbone("efficientnet_lite0")
    extract_features(bb, X[:16], cache=False)  # ONNX session built before any timing
    with tempfile.TemporaryDirectory() as cache:
        os.environ["TRANSFERKIT_CACHE"] = cache
        before = dict(STATS)
        t0 = time.perf_counter()
        result = compare(data, seeds=seeds, task="multilabel")
        total = time.perf_counter() - t0
        extracted = STATS["extracted"] - before["extracted"]
        hits = STATS["cache_hits"] - before["cache_hits"]
    with tempfile.TemporaryDirectory() as cache:
        os.environ["TRANSFERKIT_CACHE"] = cache
        t0 = time.perf_counter()
        extract_features(bb, X)
        one_pass = time.perf_counter() - t0
    heads = total - one_pass
    print(result.table())
    print(f"{args.n} images, seeds {list(seeds)}: {extracted} items through the backbone "
          f"({extracted / args.n:.2f} passes), {hits} cache hits")
    print(f"whole comparison {total:.1f} s = one extraction pass {one_pass:.1f} s + "
          f"{heads:.1f} s for {2 * len(seeds)} fits (transfer and from-scratch heads, "
          "lookups, thresholds, scoring)")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from results import write_results

    write_results("frozen_tasks", [
        {"title": f"Multi-label frozen fit: compare(task='multilabel'), efficientnet_lite0, "
                  f"{args.n} synthetic 64x64 images, 3 labels, seeds {list(seeds)}",
         "columns": ["images", "items through the backbone", "extraction passes",
                     "cache hits", "whole comparison s", "one extraction pass s",
                     "rest (heads etc.) s"],
         "rows": [[args.n, extracted, round(extracted / args.n, 2), hits, round(total, 1),
                   round(one_pass, 1), round(heads, 1)]]},
        {"title": "The comparison's table",
         "columns": ["model", *result.columns],
         "rows": [[name, *(f"{m[k][0]:.4f} ± {m[k][1]:.4f}" for k in result.columns)]
                  for name, m in result.rows]}],
        notes=["One thread (torch.set_num_threads(1)); the ONNX session is built before "
               "timing. The rest is every seed's transfer and from-scratch head fits with "
               "their validation choices, feature-cache lookups and test scoring."])


if __name__ == "__main__":
    main()
