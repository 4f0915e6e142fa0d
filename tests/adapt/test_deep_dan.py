"""DAN: multi-kernel MMD is ~0 between samples of one distribution, large across a shift,
and training features against it pulls the domains together."""

import torch
from deep_testdata import shifted_batches, train_features_against

from transferkit.adapt.deep import make_domain_loss, multi_kernel_mmd


def test_mmd_separates_shifted_from_identical_distributions():
    source, target = shifted_batches(n=200)
    same = multi_kernel_mmd(source[:100], source[100:])
    shifted = multi_kernel_mmd(source, target)
    assert shifted > 10 * abs(float(same)) and shifted > 0.1


def test_mmd_of_a_batch_with_itself_is_zero():
    x, _ = shifted_batches(n=32)
    assert float(multi_kernel_mmd(x, x)) == 0.0 or abs(float(multi_kernel_mmd(x, x))) < 1e-6


def test_minimising_dan_aligns_the_domains():
    before, after = train_features_against(make_domain_loss("dan", 8, 3))
    assert after < 0.3 * before


def test_bad_multiplier_is_a_clear_error():
    import pytest

    from transferkit.errors import TransferkitError

    with pytest.raises(TransferkitError, match="must be a number > 0"):
        make_domain_loss("dan", 8, 3, multipliers=(1.0, 0.0))
    with pytest.raises(TransferkitError, match="at least one kernel width"):
        make_domain_loss("dan", 8, 3, multipliers=())
    assert torch.is_tensor(multi_kernel_mmd(*shifted_batches(n=4)))
