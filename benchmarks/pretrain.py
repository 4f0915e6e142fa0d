"""Self-supervised pretraining speed: images/s of SimCLR and VICReg training steps.

    python benchmarks/pretrain.py [--batch 256] [--steps 8] [--rounds 3] [--threads 2]

One table (:func:`throughput_table`): for each (method, backbone) row, the time of one
``Trainer.train_step`` with the method's objective (two kornia views of the batch, the model
on both views in one batch, the projection head, the loss, backward, AdamW), on the same
prepared batch of ``--batch`` images (scikit-learn's digits, resized by each backbone's
``prepare``: 28x28 grey for LeNet, 32x32 RGB for SmallResNet); the rows are measured in one
run, interleaved over ``--rounds`` rounds of ``--steps`` steps (median), after two warm-up
steps. Images/s counts the batch's images (each is seen as two views). Beside it: the part
of a step spent drawing the two views, and the time of ``prepare`` (PIL decoding and
resizing, done by the data loader) per batch.

Each table has its own function; :func:`main` writes them all with
``write_results("pretrain", ...)``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import write_results  # noqa: E402  (benchmarks/results.py)

from transferkit.backbones import load_backbone  # noqa: E402
from transferkit.data.images import to_uint8  # noqa: E402
from transferkit.finetune import FineTuneModel, TrainConfig, Trainer  # noqa: E402
from transferkit.finetune.model import set_train_modes  # noqa: E402
from transferkit.finetune.selfsup import SELF_SUPERVISED  # noqa: E402

#: (method, backbone, what its prepare makes of the digits)
ROWS = (("simclr", "lenet", "28x28 grey"), ("simclr", "resnet_small", "32x32 RGB"),
        ("vicreg", "lenet", "28x28 grey"), ("vicreg", "resnet_small", "32x32 RGB"))


def digits_images(n: int) -> np.ndarray:
    """``n`` uint8 digit images (8x8, scikit-learn's, repeated as needed)."""
    images = to_uint8(load_digits().images)
    return images[np.arange(n) % len(images)]


class StepBench:
    """One row: a Trainer set up with a self-supervised objective, and its prepared batch."""

    def __init__(self, method: str, backbone: str, batch: int):
        self.method, self.backbone_name = method, backbone
        bb = load_backbone(backbone)
        self.items = digits_images(batch)
        self.objective = SELF_SUPERVISED.get(method)(bb.feature_dim)
        cfg = TrainConfig(epochs=1000, batch_size=batch, lr=1e-3, head_lr=1e-3, augment=False)
        self.trainer = Trainer(FineTuneModel(bb, 2), "finetune", cfg, objective=self.objective)
        self.trainer.setup(self.items, np.zeros(batch, dtype=np.int64))
        set_train_modes(self.trainer.prepared)
        self.objective.train()
        device = self.trainer.accelerator.device
        self.prepare = bb.prepare
        self.inputs = {k: v.to(device) for k, v in bb.prepare(self.items).items()}
        self.targets = torch.zeros(batch, dtype=torch.long, device=device)
        self.times: dict[str, list[float]] = {"step": [], "views": [], "prepare": []}

    def step(self) -> None:
        self.trainer.train_step(self.inputs, self.targets)

    def round(self, steps: int) -> None:
        """Time ``steps`` training steps, ``steps`` pairs of views, one ``prepare``."""
        sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
        sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            self.step()
        sync()
        self.times["step"].append((time.perf_counter() - t0) / steps)
        t0 = time.perf_counter()
        with torch.no_grad():
            for _ in range(steps):
                self.objective._view(self.inputs)
                self.objective._view(self.inputs)
        sync()
        self.times["views"].append((time.perf_counter() - t0) / steps)
        t0 = time.perf_counter()
        self.prepare(self.items)
        self.times["prepare"].append(time.perf_counter() - t0)

    def median(self, key: str) -> float:
        return statistics.median(self.times[key])


def throughput_table(batch: int, steps: int, rounds: int) -> dict[str, Any]:
    """Images/s of SimCLR and VICReg training steps, LeNet and SmallResNet, one run."""
    benches = {(m, b): StepBench(m, b, batch) for m, b, _ in ROWS}
    for bench in benches.values():  # warm-up: first-step allocations, kornia's caches
        bench.step()
        bench.step()
    for _ in range(rounds):  # interleaved, so the rows share the machine's noise
        for bench in benches.values():
            bench.round(steps)
    rows = []
    for method, backbone, size in ROWS:
        b = benches[(method, backbone)]
        step, views = b.median("step"), b.median("views")
        rows.append([method, backbone, size, f"{step * 1e3:.0f} ms", f"{batch / step:.0f}",
                     f"{views * 1e3:.0f} ms ({views / step * 100:.0f} %)",
                     f"{b.median('prepare') * 1e3:.0f} ms"])
        print(f"{method:7} {backbone:13} {size:11} {step * 1e3:8.0f} ms/step "
              f"{batch / step:8.0f} images/s  views {views * 1e3:.0f} ms  "
              f"prepare {b.median('prepare') * 1e3:.0f} ms", flush=True)
    device = "GPU " + torch.cuda.get_device_name() if torch.cuda.is_available() else (
        f"CPU, {torch.get_num_threads()} threads")
    return {"title": f"Self-supervised training steps, batch {batch} ({device}; median of "
                     f"{rounds} interleaved rounds of {steps} steps)",
            "columns": ["method", "backbone", "input", "time per step", "images/s",
                        "of which the two views", "prepare per batch (loader)"],
            "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tables = [throughput_table(args.batch, args.steps, args.rounds)]
    notes = ["A step is Trainer.train_step with the method's objective: two kornia views "
             "(random resized crop 0.6-1, affine +-10 degrees / 10 %, brightness/contrast "
             "0.4, gaussian noise 0.05), the backbone on both views as one batch of "
             f"{2 * args.batch}, the projection head (SimCLR 512-128, VICReg 512-512-512), "
             "the loss, backward and AdamW. Images/s counts each image once.",
             "prepare (PIL decoding and resizing) runs in the data loader, outside the step: "
             "with num_workers=0 it adds to each step."]
    if not args.no_write:
        print(write_results("pretrain", tables, notes=notes,
                            title="Self-supervised pretraining: speed"))


if __name__ == "__main__":
    main()
