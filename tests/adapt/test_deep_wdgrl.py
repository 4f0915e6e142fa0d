"""WDGRL: the gradient penalty is ~0 for a 1-Lipschitz critic, the critic learns a positive
distance across a shift, and the features (through the reversal) move together."""

import torch
from deep_testdata import shifted_batches, train_features_against

from transferkit.adapt.deep import make_domain_loss


def test_gradient_penalty_of_a_unit_linear_critic_is_zero():
    loss = make_domain_loss("wdgrl", 4, 2)
    linear = torch.nn.Linear(4, 1)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[0.6, 0.8, 0.0, 0.0]]))  # gradient norm exactly 1
    loss.critic = linear
    source, target = shifted_batches(n=16, d=4)
    assert loss.gradient_penalty(source, target).item() < 1e-10


def test_critic_learns_the_shift_and_features_align():
    source, target = shifted_batches(n=64, d=8)
    critic_only = make_domain_loss("wdgrl", 8, 3, hidden=32)
    opt = torch.optim.Adam(critic_only.parameters(), lr=0.01)
    for _ in range(100):
        value = critic_only(source, target, None, None)
        opt.zero_grad()
        value.backward()
        opt.step()
    assert critic_only.last_distance > 1.0
    before, after = train_features_against(make_domain_loss("wdgrl", 8, 3, hidden=32),
                                           steps=150)
    assert after < 0.5 * before


def test_gradient_penalty_stays_on_the_features_device():
    """The interpolation weights are drawn on the features' device (a GPU run must not mix
    devices); checked on the shape-only ``meta`` device, which any machine has."""
    loss = make_domain_loss("wdgrl", 4, 2, hidden=8).to("meta")
    source = torch.empty(6, 4, device="meta")
    target = torch.empty(6, 4, device="meta")
    penalty = loss.gradient_penalty(source, target)
    assert penalty.device.type == "meta" and penalty.shape == ()
