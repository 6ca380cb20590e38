"""Hash families against their ground truth: SimHash bit collisions vs 1 - theta/pi; DWTA codes in range and
densification on sparse inputs. Does not prove: that DWTA's collision estimate is calibrated (it is not claimed)."""
import math

import pytest
import torch

from workbench.lsh.hashing import DWTA, HASHES, SimHash, make_family


def _pair_at_angle(theta: float, d: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = torch.randn(2, d, generator=g)
    a = a / a.norm()
    b = b - (b @ a) * a
    b = b / b.norm()
    return a, math.cos(theta) * a + math.sin(theta) * b


@pytest.mark.parametrize("theta", [0.2, 0.8, 1.5, 2.4, 3.0])
def test_simhash_bit_collision_matches_one_minus_theta_over_pi(theta):
    g = torch.Generator().manual_seed(int(theta * 100))
    a, b = _pair_at_angle(theta, 24, g)
    fam = SimHash(24, K=1, L=6000, generator=g)  # 6000 independent one-bit hashes
    agree = (fam.subhashes(a[None]) == fam.subhashes(b[None])).float().mean().item()
    p = 1 - theta / math.pi
    sigma = math.sqrt(p * (1 - p) / 6000)
    assert abs(agree - p) < 4.5 * sigma + 1e-3, (agree, p)  # 4.5 sigma: a false failure is ~1e-5


def test_simhash_codes_combine_bits():
    g = torch.Generator().manual_seed(0)
    fam = SimHash(8, K=5, L=3, generator=g)
    x = torch.randn(10, 8, generator=g)
    codes, bits = fam.codes(x), fam.subhashes(x)
    assert codes.shape == (10, 3) and int(codes.max()) < fam.num_buckets
    assert torch.equal(codes, (bits * 2 ** torch.arange(5)).sum(-1))


def test_dwta_codes_in_range_and_densified_for_sparse_input():
    g = torch.Generator().manual_seed(1)
    fam = DWTA(64, K=3, L=4, generator=g, bin_size=4)
    x = torch.zeros(5, 64)
    x[:, :3] = torch.rand(5, 3, generator=g) + 0.1   # 3 non-zeros: most bins are empty
    sub = fam.subhashes(x)
    assert sub.shape == (5, 4, 3) and int(sub.max()) < 4
    codes = fam.codes(x)
    assert int(codes.max()) < fam.num_buckets == 4 ** 3
    # a non-empty bin's hash is its argmax; an empty bin copies the hash of a non-empty bin of the same vector
    vals = x[:, fam.bins]                                           # (5, 12, 4)
    empty = (vals == 0).all(-1)
    flat = sub.view(5, -1)
    assert bool(empty.any()) and not bool(empty.all(1).any())
    assert torch.equal(flat[~empty], vals.argmax(-1)[~empty])
    for r in range(5):
        assert set(flat[r][empty[r]].tolist()) <= set(flat[r][~empty[r]].tolist())
    assert fam.codes(torch.zeros(2, 64)).shape == (2, 4)            # all-zero input: defined, no error


def test_dwta_densification_takes_the_next_non_empty_hash_in_its_cyclic_order():
    """Brute force of the documented rule on vectors with many non-empty bins: an empty hash takes the winner of
    the next non-empty hash after it in ``densify_order``, wrapping around. (The sparse test above has one
    non-empty hash per vector, so any rule that copies a non-empty winner would pass it.)"""
    g = torch.Generator().manual_seed(3)
    fam = DWTA(64, K=4, L=6, generator=g, bin_size=4)
    x = torch.zeros(6, 64)
    x[:, ::5] = torch.rand(6, 13, generator=g) + 0.1
    vals = x[:, fam.bins]
    win, empty = vals.argmax(-1), (vals == 0).all(-1)
    got = fam.subhashes(x).view(6, -1)
    order = fam.densify_order.tolist()
    n = len(order)
    for r in range(6):
        assert 3 <= int((~empty[r]).sum()) <= n - 3  # enough of both for the order to matter
        for p, h in enumerate(order):
            src = h
            if empty[r, h]:
                src = next(order[(p + k) % n] for k in range(1, n) if not empty[r, order[(p + k) % n]])
            assert got[r, h] == win[r, src], (r, h)


def test_dwta_nearby_vectors_collide_more_than_far_ones():
    g = torch.Generator().manual_seed(2)
    fam = DWTA(32, K=1, L=2000, generator=g, bin_size=8)
    a = torch.randn(1, 32, generator=g)
    near, far = a + 0.1 * torch.randn(1, 32, generator=g), torch.randn(1, 32, generator=g)
    s = fam.subhashes
    assert (s(a) == s(near)).float().mean() > (s(a) == s(far)).float().mean() + 0.3


def test_registry_and_bad_parameters():
    assert HASHES.names() == ["dwta", "simhash"]
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="Unrecognized hash family"):
        make_family("minhash", 8, 2, 2, g)
    with pytest.raises(ValueError, match="bin_size"):
        DWTA(8, 2, 2, g, bin_size=3)
    # options go through the registry by the family's own list (DWTA's bin_size once bypassed it)
    assert make_family("dwta", 16, 2, 2, g, bin_size=4).bin_size == 4
    with pytest.raises(ValueError, match=r"'simhash' takes no option\(s\) \['bin_size'\]"):
        make_family("simhash", 16, 2, 2, g, bin_size=4)
    with pytest.raises(ValueError, match="K, L >= 1"):
        SimHash(8, 0, 2, g)
