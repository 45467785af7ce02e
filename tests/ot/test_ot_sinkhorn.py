"""Sinkhorn against POT (float64), marginals, float32 stability, batching, warm start, gradients."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from otcore.ot import LinearProblem, OTResult, cosine_cost, sinkhorn, transport_cost


def _rand_problem(seed: int, n: int, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    C = torch.rand(n, k, generator=g, dtype=torch.float64) * 2
    a = torch.rand(n, generator=g, dtype=torch.float64) + 0.1
    b = torch.rand(k, generator=g, dtype=torch.float64) + 0.1
    return C, a / a.sum(), b / b.sum()


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(2, 40),
    k=st.integers(2, 12),
    eps=st.sampled_from([0.05, 0.1, 0.5]),
)
def test_balanced_matches_pot(seed: int, n: int, k: int, eps: float) -> None:
    C, a, b = _rand_problem(seed, n, k)
    res = sinkhorn(LinearProblem(C, a, b), eps=eps, tol=1e-11, max_iter=20_000)
    ref = ot.sinkhorn(a.numpy(), b.numpy(), C.numpy(), eps, stopThr=1e-13, numItermax=200_000)
    assert res.converged
    np.testing.assert_allclose(res.plan.numpy(), ref, atol=1e-6, rtol=0)
    assert float(res.marginal_error) <= 1e-10
    np.testing.assert_allclose(res.plan.sum(1).numpy(), a.numpy(), atol=1e-10)
    np.testing.assert_allclose(res.plan.sum(0).numpy(), b.numpy(), atol=1e-10)
    assert abs(float(res.cost) - float((ref * C.numpy()).sum())) < 1e-6


def test_uniform_default_marginals() -> None:
    C, _, _ = _rand_problem(1, 13, 5)
    res = sinkhorn(LinearProblem(C), eps=0.1, tol=1e-10)
    ref = ot.sinkhorn(
        np.full(13, 1 / 13), np.full(5, 1 / 5), C.numpy(), 0.1, stopThr=1e-13, numItermax=100_000
    )
    np.testing.assert_allclose(res.plan.numpy(), ref, atol=1e-6, rtol=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prior_matches_pot_on_shifted_cost(seed: int) -> None:
    C, a, b = _rand_problem(seed, 25, 6)
    g = torch.Generator().manual_seed(seed + 100)
    Q = torch.rand(25, 6, generator=g, dtype=torch.float64) + 0.05
    Q = Q / Q.sum()
    eps = 0.07
    res = sinkhorn(LinearProblem(C, a, b, prior=Q), eps=eps, tol=1e-11, max_iter=20_000)
    ref = ot.sinkhorn(
        a.numpy(), b.numpy(), (C - eps * Q.log()).numpy(), eps, stopThr=1e-13, numItermax=200_000
    )
    np.testing.assert_allclose(res.plan.numpy(), ref, atol=1e-6, rtol=0)
    # the prior matters: without it the plan differs
    plain = sinkhorn(LinearProblem(C, a, b), eps=eps, tol=1e-11, max_iter=20_000)
    assert (plain.plan - res.plan).abs().max() > 1e-4


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    tau_a=st.sampled_from([None, 0.1, 1.0, 5.0]),
    tau_b=st.sampled_from([None, 0.05, 0.5, 3.0]),
    eps=st.sampled_from([0.05, 0.2]),
)
def test_unbalanced_matches_pot_kl(seed: int, tau_a: float | None, tau_b: float | None, eps: float) -> None:
    C, a, b = _rand_problem(seed, 20, 7)
    b = b * 0.6  # unequal masses
    res = sinkhorn(LinearProblem(C, a, b, tau_a=tau_a, tau_b=tau_b), eps=eps, tol=1e-12, max_iter=50_000)
    reg_m = (float("inf") if tau_a is None else tau_a, float("inf") if tau_b is None else tau_b)
    if reg_m == (float("inf"), float("inf")):
        b = b / b.sum()
        res = sinkhorn(LinearProblem(C, a, b), eps=eps, tol=1e-12, max_iter=50_000)
        ref = ot.sinkhorn(a.numpy(), b.numpy(), C.numpy(), eps, stopThr=1e-14, numItermax=500_000)
    else:
        ref = ot.unbalanced.sinkhorn_unbalanced(
            a.numpy(), b.numpy(), C.numpy(), eps, reg_m, reg_type="kl", stopThr=1e-13, numItermax=100_000
        )
    assert res.converged
    np.testing.assert_allclose(res.plan.numpy(), ref, atol=1e-6, rtol=0)


def test_unbalanced_with_prior_matches_pot_reference_measure() -> None:
    C, a, b = _rand_problem(7, 15, 4)
    g = torch.Generator().manual_seed(3)
    Q = torch.rand(15, 4, generator=g, dtype=torch.float64) + 0.1
    res = sinkhorn(
        LinearProblem(C, a, b * 2, prior=Q, tau_a=0.5, tau_b=0.2), eps=0.1, tol=1e-12, max_iter=50_000
    )
    ref = ot.unbalanced.sinkhorn_unbalanced(
        a.numpy(),
        (2 * b).numpy(),
        C.numpy(),
        0.1,
        (0.5, 0.2),
        reg_type="kl",
        c=Q.numpy(),
        stopThr=1e-15,
        numItermax=500_000,
    )
    np.testing.assert_allclose(res.plan.numpy(), ref, atol=1e-6, rtol=0)


def test_semi_relaxed_hard_side_holds() -> None:
    C, a, b = _rand_problem(5, 30, 5)
    res = sinkhorn(LinearProblem(C, a, b, tau_b=0.05), eps=0.05, tol=1e-10, max_iter=10_000)
    np.testing.assert_allclose(res.plan.sum(1).numpy(), a.numpy(), atol=1e-9)
    assert (res.plan.sum(0) - b).abs().max() > 1e-4  # the relaxed side really is relaxed


@pytest.mark.parametrize("eps", [1e-3, 1e-2])
def test_float32_small_eps_is_finite_and_converges(eps: float) -> None:
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(4, 16, generator=g)
    runs = torch.repeat_interleave(torch.arange(4), 30)
    x = centers[runs] + 0.3 * torch.randn(120, 16, generator=g)
    C = cosine_cost(x, centers[:3] + 0.1 * torch.randn(3, 16, generator=g))  # float32, in [0, 2]
    res = sinkhorn(LinearProblem(C), eps=eps, max_iter=20_000, tol=1e-5)
    assert res.plan.dtype == torch.float32
    assert torch.isfinite(res.plan).all() and torch.isfinite(res.f).all() and torch.isfinite(res.g).all()
    assert torch.isfinite(res.cost)
    assert res.converged, float(res.marginal_error)
    # recomputed on the returned plan: equal to the in-loop estimate up to float32 round-off
    assert float(res.marginal_error) <= 2e-5
    # float64 solve of the same problem agrees
    ref = sinkhorn(LinearProblem(C.double()), eps=eps, max_iter=20_000, tol=1e-7)
    assert (res.plan.double() - ref.plan).abs().sum() < 1e-3


def test_float32_random_costs_eps_1e3_no_nan() -> None:
    C = 2 * torch.rand(3, 200, 10, generator=torch.Generator().manual_seed(1))
    res = sinkhorn(LinearProblem(C, tau_b=0.1), eps=1e-3, max_iter=100)
    assert torch.isfinite(res.plan).all() and torch.isfinite(res.marginal_error).all()
    res = sinkhorn(LinearProblem(C), eps=1e-3, max_iter=100)
    assert torch.isfinite(res.plan).all() and torch.isfinite(res.marginal_error).all()


def test_batched_equals_loop() -> None:
    g = torch.Generator().manual_seed(2)
    C = torch.rand(2, 3, 17, 5, generator=g, dtype=torch.float64)
    b = torch.rand(2, 3, 5, generator=g, dtype=torch.float64) + 0.1
    b = b / b.sum(-1, keepdim=True)
    res = sinkhorn(LinearProblem(C, b=b, tau_a=0.5), eps=0.05, tol=1e-12, max_iter=20_000)
    assert res.plan.shape == (2, 3, 17, 5) and res.cost.shape == (2, 3) and res.marginal_error.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            one = sinkhorn(LinearProblem(C[i, j], b=b[i, j], tau_a=0.5), eps=0.05, tol=1e-12, max_iter=20_000)
            torch.testing.assert_close(res.plan[i, j], one.plan, atol=1e-9, rtol=0)
            torch.testing.assert_close(res.cost[i, j], one.cost, atol=1e-9, rtol=0)


def test_warm_start_reduces_iterations_and_agrees() -> None:
    C, a, b = _rand_problem(11, 60, 8)
    cold = sinkhorn(LinearProblem(C, a, b), eps=0.02, tol=1e-9, max_iter=20_000)
    warm = sinkhorn(LinearProblem(C, a, b), eps=0.02, tol=1e-9, max_iter=20_000, init=(cold.f, cold.g))
    assert warm.n_iter < cold.n_iter
    torch.testing.assert_close(warm.plan, cold.plan, atol=1e-8, rtol=0)


def test_not_converged_is_reported() -> None:
    C, a, b = _rand_problem(3, 40, 8)
    res = sinkhorn(LinearProblem(C, a, b), eps=0.01, max_iter=3, tol=1e-12)
    assert not res.converged and res.n_iter == 3
    assert float(res.marginal_error) > 1e-12


def test_gradient_flows_through_cost_only() -> None:
    x = torch.randn(12, 6, dtype=torch.float64, requires_grad=True)
    y = torch.randn(4, 6, dtype=torch.float64)
    C = cosine_cost(x, y)
    res = sinkhorn(LinearProblem(C), eps=0.1, tol=1e-10)
    assert isinstance(res, OTResult)
    assert not res.plan.requires_grad
    res.cost.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # the gradient is that of <T*, C> with T* constant
    x2 = x.detach().clone().requires_grad_(True)
    transport_cost(res.plan, cosine_cost(x2, y)).backward()
    torch.testing.assert_close(x.grad, x2.grad)


def test_envelope_gradient_matches_finite_difference_of_ot_value() -> None:
    # d/dC [min <C,T> + eps KL(T||ab)] = T*: check with a finite difference on one entry.
    C, a, b = _rand_problem(4, 8, 3)
    eps = 0.2

    def value(Cm: torch.Tensor) -> float:
        r = sinkhorn(LinearProblem(Cm, a, b), eps=eps, tol=1e-13, max_iter=50_000)
        T = r.plan
        return float((T * Cm).sum() + eps * (T * (T / (a[:, None] * b[None, :])).log()).sum())

    h = 1e-6
    E = torch.zeros_like(C)
    E[2, 1] = h
    fd = (value(C + E) - value(C - E)) / (2 * h)
    T = sinkhorn(LinearProblem(C, a, b), eps=eps, tol=1e-13, max_iter=50_000).plan
    assert abs(fd - float(T[2, 1])) < 1e-6


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError):
        LinearProblem(torch.rand(3, 2), a=torch.rand(4))
    with pytest.raises(ValueError):
        LinearProblem(torch.rand(3, 2), tau_a=0.0)
    with pytest.raises(ValueError):
        sinkhorn(LinearProblem(torch.rand(3, 2)), eps=0.0)


def test_long_sequences_blocked_column_sums() -> None:
    # N >= 4096 takes the blocked column-sum path (N not a multiple of the block: remainder too).
    g = torch.Generator().manual_seed(8)
    C = torch.rand(2, 4101, 6, generator=g, dtype=torch.float64)
    res = sinkhorn(LinearProblem(C), eps=0.1, tol=1e-10, max_iter=5_000)
    for i in range(2):
        ref = ot.sinkhorn(
            np.full(4101, 1 / 4101), np.full(6, 1 / 6), C[i].numpy(), 0.1, stopThr=1e-12, numItermax=100_000
        )
        np.testing.assert_allclose(res.plan[i].numpy(), ref, atol=1e-9, rtol=0)


def test_float32_long_sequence_reaches_tol() -> None:
    # float32 column sums over N = 30000 frames must stay accurate enough to reach 1e-6 (a plain
    # sequential matrix-vector product stalls around 1e-5 at this size).
    g = torch.Generator().manual_seed(9)
    protos = torch.randn(5, 32, generator=g)
    x = protos[torch.repeat_interleave(torch.arange(5), 6000)] + 0.5 * torch.randn(30000, 32, generator=g)
    C = cosine_cost(x, protos[:4])
    res = sinkhorn(LinearProblem(C), eps=0.05, tol=1e-6, max_iter=2_000)
    assert res.converged
    assert float(res.marginal_error) <= 1.5e-6


@pytest.mark.parametrize("tau", [None, 0.5])
def test_zero_mass_rows_and_columns_get_no_mass_and_no_nan(tau):
    """Padded frames (mass 0) are allowed: their plan rows are 0, the rest solves the problem
    restricted to the support."""
    torch.manual_seed(0)
    C = torch.rand(6, 4, dtype=torch.float64)
    a = torch.tensor([0.25, 0.25, 0.25, 0.25, 0.0, 0.0], dtype=torch.float64)
    b = torch.tensor([0.3, 0.3, 0.4, 0.0], dtype=torch.float64)
    full = sinkhorn(LinearProblem(C, a, b, tau_a=tau, tau_b=tau), eps=0.05, tol=1e-9)
    sub = sinkhorn(LinearProblem(C[:4, :3], a[:4], b[:3], tau_a=tau, tau_b=tau), eps=0.05, tol=1e-9)
    assert torch.isfinite(full.plan).all()
    assert float(full.plan[4:].abs().sum()) == 0.0 and float(full.plan[:, 3].abs().sum()) == 0.0
    assert torch.allclose(full.plan[:4, :3], sub.plan, atol=1e-7)
    assert full.converged
