"""CORAL (Sun et al., AAAI 2016)."""

from __future__ import annotations

import numpy as np
import pytest
from adapt_testdata import data_root, surf_task

from transferkit.adapt import CORAL
from transferkit.adapt.datasets import published_coral
from transferkit.adapt.protocols import coral_paper_protocol, linear_svm_source_cv


def test_source_covariance_is_recoloured_to_the_target():
    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(3000, 4)) * [1.0, 3.0, 0.5, 2.0]
    mix = np.array([[1, 0.8, 0, 0], [0, 1, 0, 0], [0, 0.3, 1, 0], [0, 0, 0, 1.0]])
    Xt = rng.normal(size=(3000, 4)) @ mix * 2.0
    ys = (Xs[:, 0] > 0).astype(int)
    model = CORAL(eps=1e-6).fit(Xs, ys, Xt)
    mapped = model.transform(Xs, domain="source")
    np.testing.assert_allclose(np.cov(mapped, rowvar=False), np.cov(Xt, rowvar=False),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(model.transform(Xt), Xt)  # target is left alone


# the two tasks with the fewest samples (fast), both directions of DSLR <-> webcam
TASKS = ["DW", "WD"]


@pytest.mark.parametrize("task", TASKS)
def test_paper_protocol_reproduces_the_full_protocol_table(task):
    pub = published_coral(data_root())["T3"][task]["CORAL"]
    Xs, ys, Xt, yt = surf_task(task)
    acc = 100 * np.mean(coral_paper_protocol(Xs, ys, Xt) == yt)
    assert acc == pytest.approx(pub, abs=1.0)


def test_coral_with_linear_svm_improves_over_no_adaptation():
    gains = []
    for task in TASKS:
        Xs, ys, Xt, yt = surf_task(task)
        adapted = CORAL(linear_svm_source_cv()).fit(Xs, ys, Xt).score(Xt, yt)
        plain = linear_svm_source_cv().fit(Xs, ys).score(Xt, yt)
        gains.append(100 * (adapted - plain))
    assert np.mean(gains) > 2.0
