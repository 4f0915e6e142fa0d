"""Deep domain adaptation inside the one fine-tuning loop: the estimator, label-free epoch
selection, the oracle column, and bad input."""

import numpy as np
import pytest
import torch
from deep_testdata import digit_domains

from transferkit.adapt.deep import DeepDomainAdaptation
from transferkit.errors import TransferkitError
from transferkit.finetune.objectives import DomainObjective


def fit(method: str = "dann", **params):
    Xs, ys, Xt, yt = digit_domains()
    kw = {"epochs": 3, "batch_size": 16, "random_state": 0, **params}
    clf = DeepDomainAdaptation(method=method, **kw)
    return clf.fit(Xs, ys, X_target=Xt, oracle=(Xt, yt)), Xt, yt


def test_domain_loss_trains_with_the_model_and_sees_target_batches(monkeypatch):
    seen = []
    original = DomainObjective._next_target

    def spy(self, trainer):
        batch = original(self, trainer)
        seen.append(batch["pixel_values"].shape[0])
        return batch

    monkeypatch.setattr(DomainObjective, "_next_target", spy)
    clf, Xt, _ = fit("dann")
    steps_per_epoch = int(np.ceil(96 / 16))  # 120 source samples, 20 % held out
    assert len(seen) == 3 * steps_per_epoch and max(seen) == 16
    assert clf.predict(Xt).shape == (len(Xt),)


def test_epoch_is_chosen_by_the_selector_never_by_the_oracle():
    clf, _, _ = fit("mcc", epochs=4, selector="entropy")
    scores = [h["selection_score"] for h in clf.history_]
    assert clf.best_epoch_ == int(np.argmax(scores))
    assert all("oracle_test_accuracy" in h for h in clf.history_)
    assert clf.oracle_accuracy_ == max(h["oracle_test_accuracy"] for h in clf.history_)
    report = clf.report()
    assert "selector 'entropy' without target labels" in report and "ORACLE" in report


@pytest.mark.parametrize("selector", ["dev", "iwv", "snd", "entropy", "source-accuracy",
                                      "last"])
def test_every_selector_scores_epochs(selector):
    clf, _, _ = fit("source-only", epochs=2, selector=selector)
    assert all(np.isfinite(h["selection_score"]) for h in clf.history_)
    assert all("source_val_accuracy" in h for h in clf.history_)


def test_dev_is_not_iwv_under_shift():
    """DEV's control variate corrects the held-out weights' mean, which is not 1 (the ratios
    are not rescaled on the held-out samples); rescaled, DEV would equal IWV exactly."""
    dev, _, _ = fit("source-only", epochs=2, selector="dev")
    iwv, _, _ = fit("source-only", epochs=2, selector="iwv")
    dev_scores = [h["selection_score"] for h in dev.history_]
    iwv_scores = [h["selection_score"] for h in iwv.history_]
    assert [h["source_val_accuracy"] for h in dev.history_] == \
        [h["source_val_accuracy"] for h in iwv.history_]  # the same training
    assert np.min(np.abs(np.subtract(dev_scores, iwv_scores))) > 1e-6


def test_a_refit_without_oracle_drops_the_earlier_oracle_figures():
    clf, _, _ = fit("source-only", epochs=1)
    assert hasattr(clf, "oracle_accuracy_")
    Xs, ys, Xt, _ = digit_domains()
    clf.fit(Xs, ys, X_target=Xt)
    assert not hasattr(clf, "oracle_accuracy_") and not hasattr(clf, "oracle_epoch_")
    assert "ORACLE" not in clf.report()


def test_last_selector_keeps_the_final_epoch_whatever_the_scores():
    clf, _, _ = fit("mcc", epochs=4, selector="last")
    assert clf.best_epoch_ == 3
    assert [h["selection_score"] for h in clf.history_] == [1.0, 2.0, 3.0, 4.0]
    assert "selector 'last' without target labels (a training length fixed in advance: no " \
        "selection)" in clf.report()


def test_source_only_and_adapted_models_differ():
    a, Xt, _ = fit("source-only")
    b, _, _ = fit("deep-coral", trade_off=10.0)
    assert not np.allclose(a.predict_proba(Xt), b.predict_proba(Xt))


def test_same_seed_same_model():
    a, Xt, _ = fit("cdan", epochs=2)
    b, _, _ = fit("cdan", epochs=2)
    np.testing.assert_allclose(a.predict_proba(Xt), b.predict_proba(Xt), atol=1e-6)


def test_bad_input_is_one_clear_error():
    Xs, ys, Xt, _ = digit_domains(n=40)
    with pytest.raises(TransferkitError, match="unknown deep domain-adaptation method 'nope'"):
        DeepDomainAdaptation(method="nope", epochs=1).fit(Xs, ys, X_target=Xt)
    with pytest.raises(TransferkitError, match="needs unlabelled target samples"):
        DeepDomainAdaptation(epochs=1).fit(Xs, ys)
    with pytest.raises(TransferkitError, match="unknown selector"):
        DeepDomainAdaptation(selector="test-accuracy", epochs=1).fit(Xs, ys, X_target=Xt)
    with pytest.raises(TransferkitError, match="source is image but target is text"):
        DeepDomainAdaptation(epochs=1).fit(Xs, ys, X_target=["a text"] * 5)
    with pytest.raises(TransferkitError, match="bad options for method 'dann'.*its options "
                       "are: hidden, high, gamma"):
        DeepDomainAdaptation(method_params={"width": 3}, epochs=1).fit(Xs, ys, X_target=Xt)
    with pytest.raises(TransferkitError, match="hidden='big' must be a number > 0"):
        DeepDomainAdaptation(method_params={"hidden": "big"}, epochs=1).fit(Xs, ys, X_target=Xt)
    with pytest.raises(TransferkitError, match="the oracle test data has label.*99"):
        DeepDomainAdaptation(epochs=1).fit(Xs, ys, X_target=Xt, oracle=(Xt[:2], [99, 0]))
    assert torch.is_grad_enabled()


def test_target_scoring_selectors_need_ten_target_samples():
    Xs, ys, Xt, _ = digit_domains(n=40)
    for selector in ("snd", "entropy", "dev"):
        with pytest.raises(TransferkitError, match="holds only 3 samples"):
            DeepDomainAdaptation(selector=selector, epochs=1).fit(Xs, ys, X_target=Xt[:3])
    DeepDomainAdaptation(selector="last", epochs=1).fit(Xs, ys, X_target=Xt[:3])


def test_a_backbone_instance_is_copied_not_trained_in_place():
    from transferkit.backbones.lenet import LeNet

    Xs, ys, Xt, _ = digit_domains(n=40)
    backbone = LeNet()
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    a = DeepDomainAdaptation(backbone=backbone, epochs=1).fit(Xs, ys, X_target=Xt)
    assert all(torch.equal(v, backbone.state_dict()[k]) for k, v in before.items())
    b = DeepDomainAdaptation(backbone=backbone, epochs=1).fit(Xs, ys, X_target=Xt)
    np.testing.assert_allclose(a.predict_proba(Xt), b.predict_proba(Xt), atol=1e-6)


def test_epoch_lines_name_the_method():
    config = DeepDomainAdaptation(method="cdan", epochs=4, lr=1e-3).train_config()
    assert (config.desc, config.epochs, config.lr) == ("cdan", 4, 1e-3)
