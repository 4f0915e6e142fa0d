"""MCC: confident, diverse target predictions have no class confusion; uniform ones have
the most; minimising it sharpens the predictions."""

import torch

from transferkit.adapt.deep import class_confusion, make_domain_loss


def test_confident_diverse_predictions_have_no_confusion():
    logits = torch.eye(4).repeat(3, 1) * 50.0  # each sample sure of its class, all classes
    assert float(class_confusion(logits, temperature=1.0)) < 1e-6


def test_uniform_predictions_are_the_most_confused():
    uniform = class_confusion(torch.zeros(8, 4))
    random = class_confusion(torch.randn(8, 4))
    assert abs(float(uniform) - 0.75) < 1e-6 and float(random) < float(uniform)


def test_minimising_mcc_sharpens_target_predictions():
    torch.manual_seed(0)
    logits = (0.1 * torch.randn(32, 4)).requires_grad_(True)
    loss = make_domain_loss("mcc", 8, 4)
    opt = torch.optim.Adam([logits], lr=0.1)
    start = loss(None, None, None, logits).item()
    for _ in range(100):
        value = loss(None, None, None, logits)
        opt.zero_grad()
        value.backward()
        opt.step()
    assert loss(None, None, None, logits).item() < 0.2 * start
