"""Deep CORAL: the distance is the published formula, zero for equal covariances, and
minimising it matches the target covariance to the source's."""

import numpy as np
import torch
from deep_testdata import shifted_batches

from transferkit.adapt.deep import coral_distance, make_domain_loss


def test_matches_the_formula_of_the_paper():
    source, target = shifted_batches(n=50, d=5)
    cs, ct = np.cov(source.numpy().T), np.cov(target.numpy().T)
    expected = ((cs - ct) ** 2).sum() / (4 * 5 * 5)
    assert np.isclose(float(coral_distance(source, target)), expected, rtol=1e-4)


def test_zero_for_equal_covariance_even_with_a_mean_shift():
    source, _ = shifted_batches(n=50, d=5)
    assert float(coral_distance(source, source + 3.0)) < 1e-10


def test_minimising_it_matches_covariances():
    source, target = shifted_batches(n=128, d=4)
    target = target.clone().requires_grad_(True)
    loss_module = make_domain_loss("deep-coral", 4, 2)
    opt = torch.optim.Adam([target], lr=0.05)
    before = float(coral_distance(source, target.detach()))
    for _ in range(200):
        loss = loss_module(source, target, None, None)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(coral_distance(source, target).detach()) < 0.05 * before
