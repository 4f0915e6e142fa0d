"""Real data (skips without ../shared/data): fine-tuned MiniLM beats the cached linear probe
on the same MR polarity subsample split (~2 minutes on 2 cores)."""

import numpy as np
import pytest
from conftest import shared_path

from transferkit import TransferClassifier
from transferkit.data.dataset import take
from transferkit.data.public import load_mr_polarity
from transferkit.finetune import FineTuneClassifier

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_minilm_finetune_beats_linear_probe_on_mr_subsample(isolated_cache):
    data = load_mr_polarity(shared_path("text_mr_rt_polarity"))
    y = np.asarray(data.y)
    idx = np.random.default_rng(0).permutation(len(y))
    tr, va, te = idx[:800], idx[800:1000], idx[1000:1600]
    parts = (take(data.X, tr), y[tr], take(data.X, va), y[va])
    probe = TransferClassifier(backbone="minilm").fit(*parts)
    tuned = FineTuneClassifier(backbone="minilm", strategy="finetune", lr=1e-4, epochs=2,
                               batch_size=32).fit(*parts)
    X_te, y_te = take(data.X, te), y[te]
    acc_probe = float((probe.predict(X_te) == y_te).mean())
    acc_tuned = float((tuned.predict(X_te) == y_te).mean())
    print(f"\nMR subsample (800 train / 200 val / 600 test): linear probe {acc_probe:.3f}, "
          f"finetune {acc_tuned:.3f}")
    assert acc_tuned > acc_probe
