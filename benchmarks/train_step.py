"""Training-loop overhead and memory: transferkit's loop vs. a minimal hand-written loop.

    python benchmarks/train_step.py [--backbone minilm] [--batch 16] [--steps 20] [--rounds 3]

1. Time per step, same model, same batch, same AdamW + warm-up/cosine + clipping, in one run,
   interleaved over ``--rounds`` to share the machine's noise fairly:
   (a) a hand-written PyTorch step; (b) ``Trainer.train_step`` (Accelerate-wrapped);
   (c) a whole ``Trainer.fit`` epoch (DataLoader + tokenisation + step) vs. a hand-written
   epoch that tokenises each batch the same way; both start from a freshly loaded model
   (loading untimed) with a fresh optimizer, so first-step costs count on both sides.
   Target: (b), (c) <= 5 % over the manual loop.
2. Peak memory of one training step above the loaded model (sampled RSS, one subprocess per
   strategy): lora and bitfit vs. finetune. Target: <= 50 % of finetune.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from results import write_results  # noqa: E402  (benchmarks/results.py)

from transferkit.backbones import load_backbone  # noqa: E402
from transferkit.finetune import FineTuneModel, TrainConfig, Trainer  # noqa: E402
from transferkit.finetune.loop import warmup_cosine  # noqa: E402

WORDS = ("the film was a wonderful moving story but the script felt slow and the acting "
         "dull in places yet i would watch it again with friends").split()


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(12, 30)))) for _ in range(n)]


def manual_setup(backbone: str, n_classes: int = 2):
    torch.manual_seed(0)
    model = FineTuneModel(load_backbone(backbone), n_classes)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(10_000, 0.1))
    model.train()
    return model, opt, sched


def manual_step(model, opt, sched, inputs, labels) -> float:
    loss = torch.nn.functional.cross_entropy(model(**inputs), labels)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    return float(loss.detach())


def timed(fn, steps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps


def overhead(args) -> dict:
    texts = sentences(args.batch * args.steps)
    labels_all = np.arange(len(texts)) % 2
    model_m, opt, sched = manual_setup(args.backbone)
    batch = model_m.backbone.prepare(texts[: args.batch])
    labels = torch.as_tensor(labels_all[: args.batch])

    model_t = FineTuneModel(load_backbone(args.backbone), 2)
    cfg = TrainConfig(epochs=10_000, lr=5e-5, head_lr=5e-5, batch_size=args.batch,
                      augment=False, bn="train")
    trainer = Trainer(model_t, "finetune", cfg)
    trainer.setup(texts, labels_all)
    trainer.prepared.train()

    def manual_epoch(model: FineTuneModel):
        """A fresh optimizer and schedule on a fresh model, like each ``Trainer.fit``."""
        opt_e = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
        sched_e = torch.optim.lr_scheduler.LambdaLR(opt_e, warmup_cosine(args.steps, 0.1))
        model.train()
        order = np.random.default_rng(0).permutation(len(texts))
        for s in range(args.steps):
            idx = order[s * args.batch:(s + 1) * args.batch]
            inp = model.backbone.prepare([texts[i] for i in idx])
            manual_step(model, opt_e, sched_e, inp, torch.as_tensor(labels_all[idx]))

    def loop_epoch(model: FineTuneModel):
        Trainer(model, "finetune",
                TrainConfig(epochs=1, lr=5e-5, head_lr=5e-5, batch_size=args.batch,
                            augment=False, bn="train", warmup=0.1)).fit(texts, labels_all)

    # warm-up both
    for _ in range(3):
        manual_step(model_m, opt, sched, batch, labels)
        trainer.train_step(batch, labels)
    res: dict[str, list[float]] = {"manual_step": [], "loop_step": [], "manual_epoch": [],
                                   "loop_epoch": []}
    for _ in range(args.rounds):
        res["manual_step"].append(timed(lambda: manual_step(model_m, opt, sched, batch, labels),
                                        args.steps))
        res["loop_step"].append(timed(lambda: trainer.train_step(batch, labels), args.steps))
        fresh = FineTuneModel(load_backbone(args.backbone), 2)  # loading is not timed
        t0 = time.perf_counter()
        manual_epoch(fresh)
        res["manual_epoch"].append((time.perf_counter() - t0) / args.steps)
        fresh = FineTuneModel(load_backbone(args.backbone), 2)  # loading is not timed
        t0 = time.perf_counter()
        loop_epoch(fresh)  # includes building the Trainer (Accelerator, optimizer) each time
        res["loop_epoch"].append((time.perf_counter() - t0) / args.steps)
    return {k: statistics.median(v) for k, v in res.items()}


def memory_child(backbone: str, strategy: str, batch: int, steps: int) -> None:
    """Run in a subprocess: peak RSS above the loaded model during ``steps`` steps."""
    import psutil

    proc = psutil.Process()
    texts = sentences(batch * steps)
    labels = np.arange(len(texts)) % 2
    model = FineTuneModel(load_backbone(backbone), 2)
    trainer = Trainer(model, strategy, TrainConfig(epochs=1, batch_size=batch, augment=False))
    trainer.setup(texts, labels)
    inputs = [model.backbone.prepare(texts[i * batch:(i + 1) * batch]) for i in range(steps)]
    base = proc.memory_info().rss
    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.002)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0 = time.perf_counter()
    for i in range(steps):
        trainer.train_step(inputs[i], torch.as_tensor(labels[i * batch:(i + 1) * batch]))
    wall = (time.perf_counter() - t0) / steps
    stop.set()
    th.join()
    trainable = sum(p.numel() for p in trainer.module.parameters() if p.requires_grad)
    print(json.dumps({"strategy": strategy, "peak_mib": (peak[0] - base) / 2**20,
                      "trainable": trainable, "s_per_step": wall}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="minilm")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--memory-child", nargs=2, metavar=("STRATEGY", "BATCH"))
    args = ap.parse_args()
    if args.memory_child:
        memory_child(args.backbone, args.memory_child[0], int(args.memory_child[1]), 5)
        return
    t = overhead(args)
    print(f"backbone {args.backbone}, batch {args.batch}, {args.steps} steps x {args.rounds} "
          f"rounds (median), {torch.get_num_threads()} threads")
    print(f"{'':34}{'manual':>10}{'transferkit':>13}{'overhead':>10}")
    for name, a, b in (("step (same batch)", "manual_step", "loop_step"),
                       ("epoch (loader + tokenise + step)", "manual_epoch", "loop_epoch")):
        print(f"{name:34}{t[a] * 1e3:>8.1f}ms{t[b] * 1e3:>11.1f}ms"
              f"{(t[b] / t[a] - 1) * 100:>9.1f}%")
    rows = []
    for strategy in ("finetune", "lora", "bitfit"):
        out = subprocess.run([sys.executable, __file__, "--backbone", args.backbone,
                              "--memory-child", strategy, "32"], capture_output=True,
                             text=True, check=True).stdout.strip().splitlines()[-1]
        rows.append(json.loads(out))
    ref = rows[0]["peak_mib"]
    print(f"\npeak training memory above the loaded model ({args.backbone}, batch 32, "
          "5 steps)")
    print(f"{'strategy':<10}{'trainable':>12}{'peak MiB':>10}{'vs finetune':>13}"
          f"{'s/step':>8}")
    for r in rows:
        print(f"{r['strategy']:<10}{r['trainable']:>12,}{r['peak_mib']:>10.0f}"
              f"{r['peak_mib'] / ref * 100:>12.0f}%{r['s_per_step']:>8.2f}")
    steps = [[name, f"{t[a] * 1e3:.1f} ms", f"{t[b] * 1e3:.1f} ms",
              f"{(t[b] / t[a] - 1) * 100:+.1f} %"]
             for name, a, b in (("step, same batch", "manual_step", "loop_step"),
                                ("epoch incl. DataLoader + tokenisation + step",
                                 "manual_epoch", "loop_epoch"))]
    write_results("train_step", [
        {"title": f"Time per step ({args.backbone}, batch {args.batch}, median of "
                  f"{args.rounds} interleaved rounds, {torch.get_num_threads()} threads)",
         "columns": ["", "manual PyTorch loop", "transferkit loop", "overhead"],
         "rows": steps},
        {"title": f"Peak training memory above the loaded model ({args.backbone}, batch 32)",
         "columns": ["strategy", "trainable params", "peak training memory above the model",
                     "vs finetune", "s/step"],
         "rows": [[r["strategy"], f"{r['trainable']:,}", f"{r['peak_mib']:.0f} MiB",
                   f"{r['peak_mib'] / ref * 100:.0f} %", round(r["s_per_step"], 2)]
                  for r in rows]}],
        notes=["Target: the loop's overhead <= 5 % over the manual loop; lora and bitfit "
               "<= 50 % of finetune's memory."],
        title="Training loop: overhead and memory")


if __name__ == "__main__":
    main()
