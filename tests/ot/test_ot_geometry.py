"""Costs: cosine, squared Euclidean, sliced Wasserstein against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import wasserstein_distance

from otcore.ot import cosine_cost, sliced_wasserstein_cost, sq_euclidean_cost, temporal_prior


def test_cosine_and_sq_euclidean() -> None:
    x = torch.randn(2, 7, 5, dtype=torch.float64)
    y = torch.randn(2, 3, 5, dtype=torch.float64)
    C = cosine_cost(x, y)
    for bi, i, j in itertools.product(range(2), range(7), range(3)):
        ref = 1 - torch.dot(x[bi, i], y[bi, j]) / (x[bi, i].norm() * y[bi, j].norm())
        assert abs(float(C[bi, i, j] - ref)) < 1e-12
    torch.testing.assert_close(sq_euclidean_cost(x, y), torch.cdist(x, y) ** 2)
    assert float(cosine_cost(x, x).diagonal(dim1=-2, dim2=-1).abs().max()) < 1e-12


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), d=st.integers(2, 12), n_proj=st.integers(1, 20))
def test_sliced_wasserstein_matches_brute_force_w1(seed: int, d: int, n_proj: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(4, d, generator=g, dtype=torch.float64)
    y = torch.randn(3, d, generator=g, dtype=torch.float64)
    C = sliced_wasserstein_cost(x, y, n_proj=n_proj, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    theta = torch.randn(d, n_proj, generator=gen, dtype=torch.float64)
    theta = theta / theta.norm(dim=0, keepdim=True)
    for i, j in itertools.product(range(4), range(3)):
        ref = wasserstein_distance((x[i] @ theta).numpy(), (y[j] @ theta).numpy())
        assert abs(float(C[i, j]) - ref) < 1e-10


def test_sliced_wasserstein_properties_and_gradient() -> None:
    x = torch.randn(6, 16, dtype=torch.float64, requires_grad=True)
    y = torch.randn(5, 16, dtype=torch.float64)
    C = sliced_wasserstein_cost(x, y, n_proj=32, chunk=4)  # exercise chunking
    assert C.shape == (6, 5) and bool((C >= 0).all())
    assert float(sliced_wasserstein_cost(y, y).diagonal().abs().max()) < 1e-12
    torch.testing.assert_close(C, sliced_wasserstein_cost(x, y, n_proj=32))  # deterministic per seed
    C.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert sliced_wasserstein_cost(torch.randn(2, 3, 8), torch.randn(2, 4, 8)).shape == (2, 3, 4)


def test_temporal_prior() -> None:
    R = temporal_prior(4, 2)
    np.testing.assert_allclose(R.numpy(), np.abs(np.arange(4)[:, None] / 4 - np.arange(2)[None] / 2))


def test_band_sum_in_slabs_matches_float64() -> None:
    """Large float32 inputs are summed slab by slab in float64; the result equals the float64 band sum."""
    from otcore.ot.geometry import band_sum

    g = torch.Generator().manual_seed(0)
    x = torch.rand(3000, 700, generator=g)  # 2.1M elements: more than one slab
    for dim, h in ((-2, 120), (-1, 30)):
        got = band_sum(x, h, dim=dim)
        ref = band_sum(x.double(), h, dim=dim)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got.double(), ref, rtol=1e-6, atol=1e-6)
    x3 = torch.rand(2, 1500, 400, generator=g)
    torch.testing.assert_close(band_sum(x3, 50, dim=-2).double(), band_sum(x3.double(), 50, dim=-2))
