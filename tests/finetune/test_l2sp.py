"""l2sp: with a huge alpha the weights stay closer to the pretrained ones than finetune."""

import torch

from transferkit.finetune.model import unwrap

from .conftest import fit_model, pretrained_state


def _distance(clf, w0):
    return sum(float(((p.detach() - w0[n]) ** 2).sum())
               for n, p in unwrap(clf.model_).backbone.named_parameters())


def test_huge_alpha_stays_near_pretrained(tiny_bert, texts):
    X, y = texts
    w0 = pretrained_state(tiny_bert)
    d_ft = _distance(fit_model(tiny_bert, "finetune", X, y, lr=3e-3, epochs=2), w0)
    d_sp = _distance(fit_model(tiny_bert, "l2sp", X, y, lr=3e-3, epochs=2,
                               strategy_params={"alpha": 1e4, "beta": 0.0}), w0)
    assert d_sp < 0.5 * d_ft, (d_sp, d_ft)


def test_regularizer_value():
    from transferkit.finetune.model import FineTuneModel
    from transferkit.finetune.strategies import make_strategy

    from .conftest import TinyCNN

    model = FineTuneModel(TinyCNN(), 2)
    s = make_strategy("l2sp", alpha=2.0, beta=4.0)
    s.apply(model)
    with torch.no_grad():
        model.backbone.stem[0].weight.add_(1.0)  # 216 weights moved by 1
    expected = 0.5 * 2.0 * 216 + 0.5 * 4.0 * float((model.head.weight.detach() ** 2).sum())
    assert abs(float(s.regularizer(model).detach()) - expected) < 1e-3
