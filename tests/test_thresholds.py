"""Binary decision thresholds chosen on validation by a named criterion."""

import numpy as np
import pytest

from transferkit.errors import TransferkitError
from transferkit.metrics import choose_threshold, threshold_scorer


def _scores(seed=0, n=400):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)  # 20 % positives, like credit defaults
    p = np.clip(0.25 + 0.3 * y + rng.normal(0, 0.15, n), 0, 1)
    return y, p


def test_a_cost_ratio_lowers_the_threshold_as_misses_get_dearer():
    y, p = _scores()
    thresholds = [choose_threshold(y, p, f"cost:{k}") for k in (1, 5, 20)]
    assert thresholds[0] > thresholds[1] > thresholds[2]
    for k, t in zip((1, 5, 20), thresholds, strict=True):  # each is the cheapest cut
        cost = threshold_scorer(f"cost:{k}")
        assert cost(y, (p >= t).astype(int)) >= max(cost(y, (p >= c).astype(int))
                                                    for c in np.linspace(0, 1, 101))


def test_youden_is_sensitivity_plus_specificity_minus_one():
    y, p = _scores(1)
    t = choose_threshold(y, p, "youden")
    pred = (p >= t).astype(int)
    sens, spec = pred[y == 1].mean(), 1 - pred[y == 0].mean()
    assert threshold_scorer("youden")(y, pred) == pytest.approx(sens + spec - 1)
    assert t == choose_threshold(y, p, "balanced_accuracy")  # the same criterion, rescaled


@pytest.mark.parametrize("metric, message", [
    ("cost:abc", "needs a positive cost ratio"), ("cost:-2", "needs a positive cost ratio"),
    ("auc", "unknown threshold_metric 'auc'"),
])
def test_bad_criteria_are_one_line(metric, message):
    with pytest.raises(TransferkitError, match=message):
        threshold_scorer(metric)
