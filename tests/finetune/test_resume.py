"""Kill (SIGKILL) a training process mid-epoch, resume from its checkpoint, and get exactly
the result of an uninterrupted run with the same seed (tiny BERT with dropout: the RNG
states must be restored too)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .conftest import make_tiny_bert

SCRIPT = Path(__file__).with_name("_train_script.py")


def _run(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(SCRIPT), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path):
    model = make_tiny_bert(tmp_path / "bert", dropout=0.1)
    ckpt = tmp_path / "ckpt"
    full = _run(str(model), str(tmp_path / "full.json"))
    victim = _run(str(model), str(tmp_path / "killed.json"), "--ckpt", str(ckpt),
                  "--kill-at", "2,2")
    marker = tmp_path / "killed.json.killme"
    deadline = time.time() + 120
    while not marker.exists():
        assert victim.poll() is None, victim.communicate()[0]
        assert time.time() < deadline, "the training process never reached epoch 2"
        time.sleep(0.1)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    state = json.loads((ckpt / "state.json").read_text())
    assert state["epoch"] == 1  # epochs 0 and 1 were checkpointed, epoch 2 was cut short
    resumed = _run(str(model), str(tmp_path / "resumed.json"), "--ckpt", str(ckpt),
                   "--resume")
    for proc in (full, resumed):
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out
    a = json.loads((tmp_path / "full.json").read_text())
    b = json.loads((tmp_path / "resumed.json").read_text())
    assert b["resumed_from"] == 2
    assert a["history"] == b["history"]  # losses, val metrics, lr: identical
    assert a["best_epoch"] == b["best_epoch"]
    np.testing.assert_array_equal(np.array(a["proba"]), np.array(b["proba"]))
