"""CDAN(+E): the discriminator sees the multilinear map of features and predictions
(randomised when C*D is large) and CDAN+E weighs confident samples more."""

import torch
from deep_testdata import assert_gradient_reversed, discriminator_learns, shifted_batches

from transferkit.adapt.deep import ConditionalDomainAdversarialLoss, make_domain_loss


def test_multilinear_map_is_the_flattened_outer_product():
    loss = ConditionalDomainAdversarialLoss(4, 3)
    f, p = torch.randn(5, 4), torch.softmax(torch.randn(5, 3), 1)
    joint = loss._joint(f, p)
    assert joint.shape == (5, 12) and not loss.randomized
    torch.testing.assert_close(joint[2].view(3, 4), torch.outer(p[2], f[2]))


def test_large_maps_are_randomised_to_random_dim():
    loss = make_domain_loss("cdan", 100, 50, max_dim=1000, random_dim=64)
    assert loss.randomized and loss.discriminator[0].in_features == 64


def test_the_random_map_follows_the_seed():
    def random_map(seed: int) -> torch.Tensor:
        with torch.random.fork_rng():  # as the estimator seeds it with its random_state
            torch.manual_seed(seed)
            return make_domain_loss("cdan", 100, 50, max_dim=1000, random_dim=64).map.rf

    torch.testing.assert_close(random_map(0), random_map(0))
    assert not torch.allclose(random_map(0), random_map(1))


def test_entropy_conditioning_changes_the_loss():
    source, target = shifted_batches(n=16, d=4)
    logits = torch.randn(16, 3) * 3
    plain = make_domain_loss("cdan", 4, 3, entropy=False, hidden=16)
    weighted = make_domain_loss("cdan", 4, 3, entropy=True, hidden=16)
    weighted.load_state_dict(plain.state_dict())
    assert not torch.isclose(plain(source, target, logits, logits),
                             weighted(source, target, logits, logits))


def test_discriminator_learns_and_features_get_the_reversed_gradient(monkeypatch):
    from transferkit.adapt.deep import cdan

    first, last = discriminator_learns(make_domain_loss("cdan", 8, 3, hidden=32))
    assert last < 0.5 * first
    assert_gradient_reversed(make_domain_loss("cdan", 8, 3, hidden=32), cdan, monkeypatch)
