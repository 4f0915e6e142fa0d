"""DANN: the gradient-reversal layer flips (and scales) the gradient, its coefficient warms
up from 0, and the discriminator learns while the features move towards each other."""

import math

import torch
from deep_testdata import assert_gradient_reversed, discriminator_learns

from transferkit.adapt.deep import grl_coefficient, make_domain_loss, reverse_gradient


def test_gradient_reversal_flips_and_scales_the_gradient():
    x = torch.ones(3, requires_grad=True)
    (reverse_gradient(x, 0.5) * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([-0.5, -1.0, -1.5]))
    y = torch.ones(3, requires_grad=True)
    torch.testing.assert_close(reverse_gradient(y, 0.5), y)  # identity forward


def test_warm_up_schedule_goes_from_zero_to_high():
    assert grl_coefficient(0.0) == 0.0
    assert math.isclose(grl_coefficient(1.0), 2 / (1 + math.exp(-10)) - 1)
    assert grl_coefficient(0.1) < grl_coefficient(0.5) < grl_coefficient(1.0) <= 1.0
    assert math.isclose(grl_coefficient(1.0, high=0.3), 0.3 * grl_coefficient(1.0))


def test_discriminator_learns_to_tell_the_domains_apart():
    first, last = discriminator_learns(make_domain_loss("dann", 8, 3, hidden=32))
    assert abs(first - 0.69) < 0.15 and last < 0.3


def test_features_get_the_reversed_discriminator_gradient(monkeypatch):
    from transferkit.adapt.deep import dann

    assert_gradient_reversed(make_domain_loss("dann", 8, 3, hidden=32), dann, monkeypatch)
