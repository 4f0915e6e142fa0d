"""Two CPU processes (DDP over gloo, launched by torchrun) give the result of one
process: the global batch is split between them (``split_batches``) and gradients averaged."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

from .conftest import make_tiny_bert

SCRIPT = Path(__file__).with_name("_train_script.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one(tmp_path):
    model = make_tiny_bert(tmp_path / "bert", dropout=0.0)  # no dropout: same in any process
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.Popen([sys.executable, str(SCRIPT), str(model), str(tmp_path / "one.json"),
                            "--epochs", "2"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    # torchrun (what `accelerate launch --multi_gpu` runs too); Accelerate picks gloo on CPU
    two = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_port", str(_free_port()),
         str(SCRIPT), str(model), str(tmp_path / "two.json"), "--epochs", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for proc in (one, two):
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out[-3000:]
    a = json.loads((tmp_path / "one.json").read_text())
    b = json.loads((tmp_path / "two.json").read_text())
    assert (a["processes"], b["processes"]) == (1, 2)
    for ra, rb in zip(a["history"], b["history"], strict=True):
        assert abs(ra["train_loss"] - rb["train_loss"]) < 1e-4
        assert abs(ra["val_loss"] - rb["val_loss"]) < 1e-4
    np.testing.assert_allclose(np.array(a["proba"]), np.array(b["proba"]), atol=1e-4)
