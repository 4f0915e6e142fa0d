"""Accuracy on real data in ../shared/data (skipped with a reason where it is absent).

Targets come from the issue: SMS spam >= 98.0 % (minilm + logistic, stratified 20 % test,
seed 0); MR polarity >= 76 % with the TF-IDF baseline shown; USPS transfer vs. pixels at
10 and 100 labels per class, 3 seeds, reported whatever the numbers are.
"""

import numpy as np
import pytest
from conftest import shared_path

from transferkit.data.public import load_mr_polarity, load_sms_spam, load_usps_h5
from transferkit.run import compare

pytestmark = pytest.mark.realdata


def test_sms_spam_minilm_logistic():
    data = load_sms_spam(shared_path("text_sms_spam_uci", "SMSSpamCollection"))
    assert len(data) == 5574 and sorted(set(data.y)) == ["ham", "spam"]
    c = compare(data, backbone="minilm", seeds=(0,), test_size=0.2)
    print("\nSMS spam\n" + c.table())
    transfer, scratch = c.per_seed["transfer"][0], c.per_seed["from-scratch"][0]
    assert transfer["n"] == 1115
    assert transfer["accuracy"] >= 0.980
    assert scratch["accuracy"] > 0.95  # the TF-IDF baseline is strong here too


def test_mr_polarity_minilm_beats_threshold_and_shows_tfidf():
    data = load_mr_polarity(shared_path("text_mr_rt_polarity"))
    assert len(data) == 10662
    c = compare(data, backbone="minilm", seeds=(0,), test_size=0.2)
    print("\nMR polarity\n" + c.table())
    assert c.per_seed["transfer"][0]["accuracy"] >= 0.76
    assert c.rows[1][0].startswith("from scratch (TF-IDF")
    assert 0.70 < c.per_seed["from-scratch"][0]["accuracy"] < 0.82


@pytest.mark.parametrize("labels_per_class", [10, 100])
def test_usps_transfer_vs_pixels(labels_per_class):
    train, test = load_usps_h5(shared_path("usps_full_kaggle_h5", "usps.h5"))
    assert len(train) == 7291 and len(test) == 2007
    c = compare(train, backbone="efficientnet_lite0", seeds=(0, 1, 2),
                labels_per_class=labels_per_class, test_data=test)
    print(f"\nUSPS, {labels_per_class} labels per class, 3 seeds\n" + c.table())
    accs = [m["accuracy"] for m in c.per_seed["transfer"]]
    assert len(accs) == 3 and all(m["n"] == 2007 for m in c.per_seed["transfer"])
    assert np.mean(accs) > 0.5  # far above chance (10 %), whatever the comparison says


def test_usps_side_by_side_multilabel_frozen_thresholds_beat_one_half():
    """Real multi-label images: 2-3 USPS digits side by side, labelled with the digits
    present. On efficientnet_lite0's frozen features the per-label thresholds chosen on
    validation beat a single 0.5 on test macro F1, and the ranking (mAP) beats the same
    head on pixels (benchmarks/multilabel_usps.py: 5 seeds, plus fine-tuning)."""
    from transferkit import FromScratchClassifier, TransferClassifier
    from transferkit.data.compose import side_by_side
    from transferkit.tasks import split_label_cells

    train_digits, test_digits = load_usps_h5(shared_path("usps_full_kaggle_h5", "usps.h5"))
    train = side_by_side(train_digits, 1000, seed=0)
    test = side_by_side(test_digits, 600, seed=1)
    cells, truth_cells = split_label_cells(train.y), split_label_cells(test.y)
    scores = {}
    for name, model in (("transfer", TransferClassifier(task="multilabel")),
                        ("scratch", FromScratchClassifier(task="multilabel"))):
        model.fit(train.X, cells)
        probs, truth = model.predict_proba(test.X), model.task_.encode(truth_cells)
        assert probs.shape == (600, 10) and list(model.classes_) == [str(d) for d in range(10)]
        scores[name] = (model.task_.metrics(truth, probs, np.asarray(model.threshold_)),
                        model.task_.metrics(truth, probs, 0.5))
    chosen, half = scores["transfer"]
    print(f"\nUSPS side by side: macro F1 {chosen['f1_macro']:.4f} (0.5: {half['f1_macro']:.4f})"
          f", mAP {chosen['map']:.4f} vs pixels {scores['scratch'][0]['map']:.4f}")
    assert chosen["f1_macro"] > half["f1_macro"]
    assert chosen["map"] > scores["scratch"][0]["map"]
