"""MultiTask (Evgeniou & Pontil, 2004; Daume III, 2007): shared + per-domain weights."""

from __future__ import annotations

import numpy as np
import pytest
from adapt_testdata import few_label_baselines, few_labels, related_tasks, surf_task
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from transferkit.adapt import MultiTask
from transferkit.errors import TransferkitError


def test_each_domain_gets_the_shared_copy_and_its_own_block():
    Xs, ys, Xt, yt = related_tasks(n_features=4)
    model = MultiTask(shared=2.0).fit(Xs, ys, Xt[:30], yt=yt[:30])
    Zt, Zs = model.transform(Xt[:5]), model.transform(Xt[:5], domain="source")
    np.testing.assert_array_equal(Zt, np.hstack([2 * Xt[:5], 0 * Xt[:5], Xt[:5]]))
    np.testing.assert_array_equal(Zs, np.hstack([2 * Xt[:5], Xt[:5], 0 * Xt[:5]]))
    model.set_params(shared=5.0)  # the fitted model keeps the value it was fitted with
    np.testing.assert_array_equal(model.transform(Xt[:5]), Zt)


def test_the_target_gets_its_own_rule_where_pooling_cannot():
    Xs, ys, Xt, yt = related_tasks(angle=1.2)
    Xl, yl, Xu, yu = Xt[:40], yt[:40], Xt[40:], yt[40:]
    lr = LogisticRegression(max_iter=1000)
    pooled = lr.fit(np.vstack([Xs, Xl]), np.r_[ys, yl]).score(Xu, yu)
    target_only = lr.fit(Xl, yl).score(Xu, yu)
    model = MultiTask().fit(Xs, ys, Xl, yt=yl)
    assert model.score(Xu, yu) > max(pooled, target_only) + 0.02
    assert (model.predict(Xs, domain="source") == ys).mean() > 0.95  # the source's rule stays


def test_any_classifier_and_one_line_errors():
    Xs, ys, Xt, yt = related_tasks()
    model = MultiTask(LinearSVC()).fit(Xs, ys, Xt[:30], yt=yt[:30])
    assert isinstance(model.estimator_, LinearSVC) and model.estimator_.coef_.shape == (3, 30)
    assert not hasattr(model, "predict_proba")
    assert MultiTask(shared=np.float32(2)).fit(Xs, ys, Xt[:30], yt=yt[:30]).shared_ == 2.0
    for bad in (0.0, -1.0, float("nan"), "x"):
        with pytest.raises(TransferkitError, match="shared must be a finite number > 0"):
            MultiTask(shared=bad).fit(Xs, ys, Xt[:30], yt=yt[:30])


@pytest.mark.parametrize("task", ["AW", "CW"])
def test_real_surf_tasks_three_labels_per_class_beat_every_baseline(task):
    Xs, ys, Xt, yt = surf_task(task)
    m = few_labels(yt, 3)
    base = few_label_baselines(Xs, ys, Xt[m], yt[m], Xt[~m], yt[~m])
    acc = MultiTask().fit(Xs, ys, Xt[m], yt=yt[m]).score(Xt[~m], yt[~m])
    assert acc > max(base.values()) + 0.02, (acc, base)
