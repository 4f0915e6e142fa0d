"""Feature-extraction speed: transferkit's path vs. eager PyTorch vs. this CPU's FLOP limit.

    python benchmarks/extract.py [--batch 32] [--seconds 20] [--rounds 3] [--images 1000]

Prints images/s for EfficientNet-Lite0 at 224x224 through (a) eager PyTorch fp32,
(b) transferkit's extraction path (``extract_features``, cache off, engine auto = ONNX
Runtime), (c) the same path with ``engine="bf16"`` (bf16 autocast + ``torch.compile``), and
(d) the fp32 FLOP limit of this machine, measured here with a large matmul (the model costs
0.77 GFLOP per 224x224 image, counted below with torch's FLOP counter). (b), (c) and the
matmul peak are measured in the same process, interleaved over ``--rounds`` rounds; each
keeps its best round and the limit its best matmul, so a round slowed by other jobs on the
machine costs every path alike. Targets: (b) >= 4x (a); (b) or (c) >= 80 % of (d).

Then the features' difference, bf16 vs fp32 (ONNX Runtime), on ``--images`` real images
(scikit-learn's 8x8 digits, upscaled to 224x224): max abs difference, cosine similarity per
row, and a logistic-regression head trained on each: its test accuracy and how often the two
heads predict the same digit (and the fp32 head on bf16 features: mixing the two).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np
import torch

os.environ.setdefault("TRANSFERKIT_NO_PROGRESS", "1")

from results import write_results  # noqa: E402  (benchmarks/results.py)

from transferkit.backbones import load_backbone  # noqa: E402
from transferkit.features import extract_features  # noqa: E402


def rate(fn, n_items: int, seconds: float) -> float:
    fn()  # warm-up
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        done += n_items
    return done / (time.perf_counter() - t0)


def matmul_gflops(seconds: float) -> float:
    """Peak-ish fp32 GFLOP/s of this machine: the best of several large matmuls."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    torch.mm(a, b)
    best, t_end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * 2048**3 / (time.perf_counter() - t0) / 1e9)
    return best


def model_gflop(backbone) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, 3, 224, 224)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        backbone(pixel_values=x)
    return counter.get_total_flops() / 1e9


def feature_difference(bb, n_images: int, batch: int) -> dict[str, float]:
    """bf16 vs fp32 features of real images, and a logistic head's predictions on each."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    from transferkit.data import to_uint8

    digits = load_digits()
    images, y = to_uint8(digits.images[:n_images]), digits.target[:n_images]
    f32 = extract_features(bb, images, batch_size=batch, engine="onnx", cache=False)
    b16 = extract_features(bb, images, batch_size=batch, engine="bf16", cache=False)
    cos = (f32 * b16).sum(1) / (np.linalg.norm(f32, axis=1) * np.linalg.norm(b16, axis=1))
    idx_tr, idx_te = train_test_split(np.arange(len(y)), test_size=0.5, random_state=0,
                                      stratify=y)

    def head(feats: np.ndarray) -> LogisticRegression:
        return LogisticRegression(max_iter=2000).fit(feats[idx_tr], y[idx_tr])

    h32, h16 = head(f32), head(b16)
    p32, p16 = h32.predict(f32[idx_te]), h16.predict(b16[idx_te])
    return {"n": len(y), "n_test": len(idx_te), "max_abs": float(np.abs(f32 - b16).max()),
            "max_abs_fp32": float(np.abs(f32).max()),
            "cos_mean": float(cos.mean()), "cos_min": float(cos.min()),
            "acc32": float((p32 == y[idx_te]).mean()), "acc16": float((p16 == y[idx_te]).mean()),
            "agree": float((p32 == p16).mean()),
            "agree_mixed": float((h32.predict(b16[idx_te]) == p32).mean())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seconds", type=float, default=20.0, help="per path and round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--images", type=int, default=1000, help="real images for the difference")
    args = p.parse_args()
    bb = load_backbone("efficientnet_lite0")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(args.batch, 224, 224, 3), dtype=np.uint8)
    pixels = bb.prepare(list(images))["pixel_values"]

    def eager() -> None:
        with torch.inference_mode():
            bb(pixel_values=pixels)

    def path(engine: str) -> Callable[[], None]:  # the full path, decoding included
        return lambda: extract_features(bb, images, batch_size=args.batch, engine=engine,
                                        cache=False, progress=False)

    gflop = model_gflop(bb)
    t0 = time.perf_counter()
    path("bf16")()  # compiles once (per process and backbone), outside the timing
    compile_s = time.perf_counter() - t0
    r_eager = rate(eager, args.batch, args.seconds)
    peaks, r_onnx, r_bf16 = [], [], []
    for _ in range(args.rounds):  # interleaved: other jobs' load hits every path alike
        peaks.append(matmul_gflops(min(args.seconds, 5)))
        r_onnx.append(rate(path("onnx"), args.batch, args.seconds))
        r_bf16.append(rate(path("bf16"), args.batch, args.seconds))
    peaks.append(matmul_gflops(min(args.seconds, 5)))
    peak, onnx, bf16 = max(peaks), max(r_onnx), max(r_bf16)
    limit = peak / gflop
    diff = feature_difference(bb, args.images, args.batch)
    load = os.getloadavg()[0]
    threads = torch.get_num_threads()
    print(f"EfficientNet-Lite0, 224x224, batch {args.batch}, {threads} threads, "
          f"load {load:.1f}")
    print(f"model cost                   {gflop:8.3f} GFLOP / image")
    print(f"fp32 matmul peak (best)      {peak:8.1f} GFLOP/s -> limit {limit:7.1f} img/s "
          f"(rounds: {', '.join(f'{g:.0f}' for g in peaks)})")
    print(f"eager PyTorch fp32           {r_eager:8.1f} img/s")
    print(f"extract_features onnx fp32   {onnx:8.1f} img/s  {onnx / limit:6.1%} of limit "
          f"(rounds: {', '.join(f'{r:.0f}' for r in r_onnx)})")
    print(f"extract_features bf16        {bf16:8.1f} img/s  {bf16 / limit:6.1%} of limit "
          f"(rounds: {', '.join(f'{r:.0f}' for r in r_bf16)}; compiled in {compile_s:.0f} s)")
    print(f"speed-up vs eager            {onnx / r_eager:8.2f} x (onnx)  "
          f"{bf16 / r_eager:.2f} x (bf16)")
    print(f"bf16 vs fp32 on {diff['n']} digits: max abs diff {diff['max_abs']:.3g} "
          f"(fp32 max {diff['max_abs_fp32']:.3g}), cosine mean {diff['cos_mean']:.5f} "
          f"min {diff['cos_min']:.5f}; logistic head accuracy fp32 {diff['acc32']:.1%} "
          f"bf16 {diff['acc16']:.1%}, predictions agree {diff['agree']:.1%} "
          f"(fp32 head on bf16 features: {diff['agree_mixed']:.1%})")
    mark = lambda r: "✓" if r >= 0.8 else "✗"  # noqa: E731
    write_results("extract", [{
        "title": f"EfficientNet-Lite0, 224², batch {args.batch}, {threads} threads, "
                 f"best of {args.rounds} interleaved rounds",
        "columns": ["path", "images/s", "of the fp32 FLOP limit (target ≥ 80 %)"],
        "rows": [["eager PyTorch fp32", f"{r_eager:.1f} img/s", f"{r_eager / limit:.1%}"],
                 ["`extract_features`, engine auto = ONNX Runtime fp32 (full path)",
                  f"{onnx:.1f} img/s", f"{onnx / limit:.1%} {mark(onnx / limit)}"],
                 ["`extract_features`, engine bf16 (autocast + `torch.compile`, full path)",
                  f"{bf16:.1f} img/s", f"{bf16 / limit:.1%} {mark(bf16 / limit)}"],
                 [f"fp32 FLOP limit (best 2048² matmul {peak:.0f} GFLOP/s ÷ "
                  f"{gflop:.3f} GFLOP/image)", f"{limit:.0f} img/s", "100 %"]],
        "notes": [f"Rounds (img/s): ONNX {', '.join(f'{r:.0f}' for r in r_onnx)}; bf16 "
                  f"{', '.join(f'{r:.0f}' for r in r_bf16)}; matmul GFLOP/s "
                  f"{', '.join(f'{g:.0f}' for g in peaks)}. Speed-up vs eager: ONNX "
                  f"{onnx / r_eager:.1f}×, bf16 {bf16 / r_eager:.1f}×. The bf16 model "
                  f"compiled in {compile_s:.0f} s (once per process and backbone)."]},
        {"title": f"bf16 vs fp32 features, {diff['n']} scikit-learn digits upscaled to 224²",
         "columns": ["measure", "value"],
         "rows": [["max abs difference (largest fp32 feature)",
                   f"{diff['max_abs']:.3g} ({diff['max_abs_fp32']:.3g})"],
                  ["cosine similarity per image: mean (min)",
                   f"{diff['cos_mean']:.5f} ({diff['cos_min']:.5f})"],
                  [f"logistic head test accuracy, fp32 / bf16 features ({diff['n_test']} "
                   "test images)", f"{diff['acc32']:.1%} / {diff['acc16']:.1%}"],
                  ["same prediction, head trained on fp32 vs head trained on bf16",
                   f"{diff['agree']:.1%}"],
                  ["same prediction, fp32 head applied to bf16 features (mixing)",
                   f"{diff['agree_mixed']:.1%}"]]}],
        notes=[f"Measured in one run on {threads} threads; load average {load:.1f} at the "
               "end (2 cores shared with other jobs: absolute numbers drop under load, the "
               "ratios to the limit measured beside them are what to compare)."],
        title="Feature extraction speed (frozen path)",
        protocol=["`python benchmarks/extract.py` measures the fp32 (ONNX Runtime) and bf16 "
                  "paths against eager PyTorch and this machine's fp32 FLOP limit in one "
                  "run, interleaved, then the bf16 features' difference to fp32 ones."])


if __name__ == "__main__":
    main()
