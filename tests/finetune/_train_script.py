"""Run one small fine-tuning job; used by the resume (SIGKILL) and DDP tests.

python _train_script.py MODEL_DIR OUT_JSON [--ckpt DIR] [--resume] [--kill-at EPOCH,STEP]
(also under ``accelerate launch --num_processes 2 --cpu``)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import TEXTS_NEG, TEXTS_POS  # noqa: E402

from transferkit.finetune import FineTuneModel, TrainConfig, Trainer, predict_proba  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("out")
    ap.add_argument("--ckpt")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--kill-at")
    ap.add_argument("--strategy", default="finetune")
    ap.add_argument("--epochs", type=int, default=4)
    args = ap.parse_args()
    from transferkit.backbones import load_backbone

    texts = TEXTS_POS + TEXTS_NEG
    codes = np.array([1] * len(TEXTS_POS) + [0] * len(TEXTS_NEG))
    train = [i for i in range(24) if i % 6 not in (0, 1)] + [0, 6, 12, 18]  # 20 samples
    val = [i for i in range(24) if i % 6 == 1]
    model = FineTuneModel(load_backbone(f"hf:{args.model_dir}"), 2, seed=0)
    config = TrainConfig(epochs=args.epochs, lr=3e-3, head_lr=1e-2, batch_size=4, seed=0)
    trainer = Trainer(model, args.strategy, config, checkpoint_dir=args.ckpt)
    kill = tuple(int(v) for v in args.kill_at.split(",")) if args.kill_at else None

    def on_step(epoch: int, step: int) -> None:
        if (epoch, step) == kill:
            Path(args.out + ".killme").write_text(str(os.getpid()))
            time.sleep(120)  # the test SIGKILLs us here, mid-epoch

    result = trainer.fit([texts[i] for i in train], codes[train], [texts[i] for i in val],
                         codes[val], resume=args.resume, on_step=on_step)
    if trainer.accelerator.is_main_process:
        proba = predict_proba(trainer.module, texts)
        Path(args.out).write_text(json.dumps({
            "history": result.history, "best_epoch": result.best_epoch,
            "resumed_from": result.resumed_from, "proba": proba.tolist(),
            "processes": trainer.accelerator.num_processes}))


if __name__ == "__main__":
    main()
