"""Feature-extraction speed: transferkit's path vs. eager PyTorch vs. this CPU's FLOP limit.

    python benchmarks/extract.py [--batch 32] [--seconds 20]

Prints images/s for EfficientNet-Lite0 at 224x224 through (a) eager PyTorch fp32,
(b) transferkit's extraction path (``extract_features``, cache off, engine auto = ONNX
Runtime), and (c) the fp32 FLOP limit of this machine, measured here with a large matmul
(the model costs 0.77 GFLOP per 224x224 image, counted below with torch's FLOP counter).
Targets (issue 2): (b) >= 4x (a) and >= 70 % of (c).
"""

from __future__ import annotations

import argparse
import os
import time

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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seconds", type=float, default=20.0)
    args = p.parse_args()
    bb = load_backbone("efficientnet_lite0")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(args.batch, 224, 224, 3), dtype=np.uint8)
    pixels = bb.prepare(list(images))["pixel_values"]

    def eager() -> None:
        with torch.inference_mode():
            bb(pixel_values=pixels)

    def ours() -> None:  # the full path, decoding and normalisation included
        extract_features(bb, images, batch_size=args.batch, cache=False, progress=False)

    gflop = model_gflop(bb)
    peak = matmul_gflops(min(args.seconds, 10))
    r_eager = rate(eager, args.batch, args.seconds)
    r_ours = rate(ours, args.batch, args.seconds)
    limit = peak / gflop
    print(f"EfficientNet-Lite0, 224x224, batch {args.batch}, {torch.get_num_threads()} threads")
    print(f"model cost                   {gflop:8.3f} GFLOP / image")
    print(f"fp32 matmul peak (measured)  {peak:8.1f} GFLOP/s -> limit {limit:7.1f} img/s")
    print(f"eager PyTorch fp32           {r_eager:8.1f} img/s")
    print(f"transferkit extract_features {r_ours:8.1f} img/s")
    print(f"speed-up vs eager            {r_ours / r_eager:8.2f} x   (target >= 4)")
    print(f"fraction of FLOP limit       {r_ours / limit:8.1%}     (target >= 70 %)")
    write_results(f"extract_batch{args.batch}", [{
        "title": f"EfficientNet-Lite0, 224², batch {args.batch}, "
                 f"{torch.get_num_threads()} threads",
        "columns": ["path", "images/s"],
        "rows": [["eager PyTorch fp32", f"{r_eager:.1f} img/s"],
                 ["`extract_features` (ONNX Runtime, decoding overlapped, full path)",
                  f"{r_ours:.1f} img/s"],
                 ["speed-up vs eager (target >= 4)", f"{r_ours / r_eager:.1f}×"],
                 [f"fp32 FLOP limit (measured matmul peak {peak:.0f} GFLOP/s ÷ "
                  f"{gflop:.3f} GFLOP/image)", f"{limit:.0f} img/s"],
                 ["fraction of the limit (target >= 70 %)", f"{r_ours / limit:.1%}"]]}],
        title=f"Feature extraction speed, batch {args.batch}")


if __name__ == "__main__":
    main()
