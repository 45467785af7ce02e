"""fused_gw (banded, O(N·K)) against a dense N×N reference implementation of ASOT's mirror descent."""

from __future__ import annotations

import pytest
import torch

from otcore.ot import TemporalFGWProblem, band_sum, cosine_cost, fused_gw, plan_to_labels, temporal_prior


def dense_asot(
    C: torch.Tensor, radius: float, alpha: float, rho: float, eps: float, tau_b: float | None, n_iter: int
) -> torch.Tensor:
    """Straightforward dense ASOT: explicit N×N C_v and K×K C_k, multiplicative updates."""
    n, k = C.shape
    R = int(n * radius)
    idx = torch.arange(n)
    dist = (idx[:, None] - idx[None, :]).abs()
    Cv = ((dist > 0) & (dist <= R)).to(C.dtype) / radius
    Ck = 1.0 - torch.eye(k, dtype=C.dtype)
    Ct = C + rho * temporal_prior(n, k, dtype=C.dtype)
    a = torch.full((n, 1), 1.0 / n, dtype=C.dtype)
    b = torch.full((1, k), 1.0 / k, dtype=C.dtype)
    T = a * b
    s = None
    for _ in range(n_iter):
        grad = alpha * Cv @ T @ Ck + (1 - alpha) * Ct + eps * T.log()
        if tau_b is not None:
            grad = grad + tau_b * ((T.sum(0, keepdim=True) / b).log() + 1)
        if s is None:
            s = 4.0 / grad.abs().max()
        T = T * torch.exp(-s * grad)
        if tau_b is None:
            for _ in range(100_000):  # exact KL projection on both marginals
                T = T * (b / T.sum(0, keepdim=True))
                T = T * (a / T.sum(1, keepdim=True))
                if (T.sum(0) - b[0]).abs().sum() < 1e-13:
                    break
        else:
            T = T * (a / T.sum(1, keepdim=True))
    return T


@pytest.mark.parametrize("tau_b", [0.05, None])
@pytest.mark.parametrize(
    "n,k,radius,alpha,rho", [(60, 4, 0.05, 0.3, 0.0), (97, 6, 0.1, 0.7, 0.2), (40, 3, 0.02, 0.5, 0.1)]
)
def test_banded_matches_dense_reference(
    n: int, k: int, radius: float, alpha: float, rho: float, tau_b: float | None
) -> None:
    g = torch.Generator().manual_seed(n)
    C = torch.rand(n, k, generator=g, dtype=torch.float64)
    res = fused_gw(
        TemporalFGWProblem(C, radius=radius, alpha=alpha, rho=rho, tau_b=tau_b),
        eps=0.07,
        max_iter=25,
        tol=0.0,
        proj_steps=100_000,
        proj_tol=1e-13,
    )
    ref = dense_asot(C, radius, alpha, rho, 0.07, tau_b, 25)
    assert res.n_iter == 25
    torch.testing.assert_close(res.plan, ref, atol=1e-10, rtol=1e-8)
    torch.testing.assert_close(res.plan.sum(1), torch.full((n,), 1.0 / n, dtype=torch.float64))
    assert float(res.marginal_error) < 1e-10


def test_band_sum_matches_dense_matrix() -> None:
    x = torch.randn(2, 50, 3, dtype=torch.float64)
    for hw in (0, 1, 4, 60):
        idx = torch.arange(50)
        d = (idx[:, None] - idx[None, :]).abs()
        B = ((d > 0) & (d <= hw)).double()
        torch.testing.assert_close(band_sum(x, hw, dim=-2), B @ x)
        torch.testing.assert_close(band_sum(x.transpose(-1, -2), hw, dim=-1), (B @ x).transpose(-1, -2))


def test_temporal_consistency_smooths_noisy_assignment() -> None:
    # Noisy costs around a 3-segment ground truth: the GW term should give fewer label switches than argmin.
    g = torch.Generator().manual_seed(0)
    gt = torch.repeat_interleave(torch.arange(3), 100)
    C = 0.5 + 0.6 * torch.rand(300, 3, generator=g)
    C[torch.arange(300), gt] -= 0.4
    plain = C.argmin(-1)
    res = fused_gw(TemporalFGWProblem(C, radius=0.04, alpha=0.6, tau_b=0.05), eps=0.04)
    lab = plan_to_labels(res.plan)
    switches = lambda z: int((z[1:] != z[:-1]).sum())  # noqa: E731
    assert switches(lab) < switches(plain)
    assert (lab == gt).float().mean() > 0.9


def test_batched_equals_loop_and_float32() -> None:
    g = torch.Generator().manual_seed(1)
    C = torch.rand(3, 80, 5, generator=g)
    prob = TemporalFGWProblem(C, radius=0.05, alpha=0.4, rho=0.1, tau_b=0.1)
    res = fused_gw(prob, eps=0.05)
    assert res.plan.shape == (3, 80, 5) and res.cost.shape == (3,)
    assert torch.isfinite(res.plan).all()
    for i in range(3):
        one = fused_gw(TemporalFGWProblem(C[i], radius=0.05, alpha=0.4, rho=0.1, tau_b=0.1), eps=0.05)
        torch.testing.assert_close(res.plan[i], one.plan, atol=1e-7, rtol=1e-5)


def test_small_eps_float32_long_sequence_is_finite() -> None:
    x = torch.randn(3000, 16)
    C = cosine_cost(x, torch.randn(8, 16))
    res = fused_gw(TemporalFGWProblem(C, radius=0.04, alpha=0.6, tau_b=0.05), eps=0.01)
    assert torch.isfinite(res.plan).all()
    torch.testing.assert_close(res.plan.sum(-1), torch.full((3000,), 1 / 3000))


def test_cost_gradient_flows() -> None:
    x = torch.randn(40, 8, dtype=torch.float64, requires_grad=True)
    C = cosine_cost(x, torch.randn(4, 8, dtype=torch.float64))
    res = fused_gw(TemporalFGWProblem(C, radius=0.05, alpha=0.3, tau_b=0.05), eps=0.07)
    assert not res.plan.requires_grad
    res.cost.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def dense_asot_balanced(
    C: torch.Tensor, radius: float, alpha: float, rho: float, eps: float, n_iter: int
) -> torch.Tensor:
    """ASOT's code, balanced (``ub_actions=False``, ``n_iters=(n_iter, 1)``): T ← one Sinkhorn step on
    the gradient cost α C_v (T C_k) + (1 − α)(C + ρR), exp domain with explicit N×N C_v."""
    n, k = C.shape
    R = int(n * radius)
    idx = torch.arange(n)
    dist = (idx[:, None] - idx[None, :]).abs()
    Cv = ((dist > 0) & (dist <= R)).to(C.dtype) / radius
    Ck = 1.0 - torch.eye(k, dtype=C.dtype)
    Ct = C + rho * temporal_prior(n, k, dtype=C.dtype)
    a = torch.full((n, 1), 1.0 / n, dtype=C.dtype)
    b = torch.full((k, 1), 1.0 / k, dtype=C.dtype)
    T = a * b.T
    for _ in range(n_iter):
        G = alpha * Cv @ T @ Ck + (1 - alpha) * Ct
        K = torch.exp(-G / eps)
        K = K / K.max()
        u = a / (K @ torch.ones_like(b))
        v = b / (K.T @ u)
        T = u * K * v.T
    return T


def test_asot_balanced_form_matches_asot_code() -> None:
    g = torch.Generator().manual_seed(5)
    C = torch.rand(70, 5, generator=g, dtype=torch.float64)
    prob = TemporalFGWProblem(C, radius=0.05, alpha=0.4, rho=0.1, tau_b=None)
    res = fused_gw(prob, eps=0.07, max_iter=25, tol=0.0, balanced="asot")
    ref = dense_asot_balanced(C, 0.05, 0.4, 0.1, 0.07, 25)
    torch.testing.assert_close(res.plan, ref, atol=1e-12, rtol=1e-9)
    # the action marginal is exact, the frame marginal is not (one Sinkhorn step)
    torch.testing.assert_close(res.plan.sum(0), torch.full((5,), 0.2, dtype=torch.float64))
    assert float(res.marginal_error) > 0
    mirror = fused_gw(prob, eps=0.07, max_iter=25, tol=0.0, balanced="mirror")
    assert not torch.allclose(mirror.plan, res.plan)
    with pytest.raises(ValueError, match="balanced must be one of"):
        fused_gw(prob, eps=0.07, balanced="exact")


def test_settings_object_and_radius_rule() -> None:
    from otcore.ot.fgw import FGWSettings, segment_radius, solve_fgw

    assert segment_radius(7) == pytest.approx(1 / 14) and segment_radius(1) == 0.5
    with pytest.raises(ValueError):
        segment_radius(0)
    with pytest.raises(TypeError):
        FGWSettings(0.07)  # type: ignore[misc]  # keyword-only
    with pytest.raises(ValueError, match="alpha"):
        FGWSettings(alpha=1.5)
    st = FGWSettings(eps=0.05, alpha=0.4, rho=0.1, tau_b=0.05)
    assert st.radius is None and st.radius_for(4) == pytest.approx(0.125)
    g = torch.Generator().manual_seed(2)
    C = torch.rand(64, 4, generator=g, dtype=torch.float64)
    ref = fused_gw(TemporalFGWProblem(C, radius=0.125, alpha=0.4, rho=0.1, tau_b=0.05), eps=0.05)
    torch.testing.assert_close(solve_fgw(C, st).plan, ref.plan)
    fixed = solve_fgw(C, FGWSettings(eps=0.05, alpha=0.4, rho=0.1, tau_b=0.05, radius=0.03)).plan
    assert not torch.allclose(fixed, ref.plan)
