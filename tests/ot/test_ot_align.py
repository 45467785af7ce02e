"""align: banded structure gradient vs dense, dummy absorbs an outlier segment."""

from __future__ import annotations

import pytest
import torch

from otcore.ot import align, plan_to_labels
from otcore.ot.align import alignment_structure_grad


def test_structure_gradient_matches_dense() -> None:
    n, m, r = 30, 22, 0.1
    T = torch.rand(n, m, dtype=torch.float64)
    hx, hy = int(n * r), int(m * r)

    def band(size: int, hw: int) -> torch.Tensor:
        i = torch.arange(size)
        d = (i[:, None] - i[None, :]).abs()
        return ((d > 0) & (d <= hw)).double()

    Bx, By = band(n, hx), band(m, hy)
    Dx = 1 - torch.eye(n, dtype=torch.float64) - Bx
    Dy = 1 - torch.eye(m, dtype=torch.float64) - By
    dense = (Bx @ T @ Dy + Dx @ T @ By) / r
    torch.testing.assert_close(alignment_structure_grad(T, hx, hy, r), dense)
    # the centred variant differs by the marginal-only terms
    centred = dense - ((Bx @ T).sum(1, keepdim=True) + (T @ By).sum(0, keepdim=True)) / r
    torch.testing.assert_close(alignment_structure_grad(T, hx, hy, r, centered=True), centred)


def _video(order: list[int], protos: torch.Tensor, run: int, g: torch.Generator) -> torch.Tensor:
    idx = torch.repeat_interleave(torch.tensor(order), run)
    return protos[idx] + 0.15 * torch.randn(len(idx), protos.shape[1], generator=g)


@pytest.mark.parametrize("seed", [0, 2])
def test_dummy_absorbs_outlier_segment(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    protos = torch.nn.functional.normalize(torch.randn(6, 32, generator=g), dim=-1)
    x = _video([0, 1, 5, 2, 3], protos, 20, g)  # segment of prototype 5 does not occur in y
    y = _video([0, 1, 2, 3], protos, 20, g)
    res = align(x, y, eps=0.05, alpha=0.3, r=0.04, zeta=0.1, dummy_cost="auto")
    n, m = x.shape[0], y.shape[0]
    P = res.plan
    assert P.shape == (n + 1, m + 1)
    lab = plan_to_labels(P[:n])
    outlier = torch.zeros(n, dtype=torch.bool)
    outlier[40:60] = True
    # outlier frames go to the dummy column (a few at its borders may be pulled in by their neighbours)
    assert (lab[outlier] == m).float().mean() >= 0.8
    assert (lab[~outlier] != m).float().mean() >= 0.9  # the others are matched
    # matched frames go to the same prototype in y
    proto_x = torch.repeat_interleave(torch.tensor([0, 1, 5, 2, 3]), 20)
    proto_y = torch.repeat_interleave(torch.tensor([0, 1, 2, 3]), 20)
    inl = ~outlier & (lab != m)
    assert (proto_x[inl] == proto_y[lab[inl]]).float().mean() > 0.9
    # marginal bookkeeping of the dummy construction
    torch.testing.assert_close(P[:n].sum(1), torch.full((n,), 1 / n))
    # columns: up to the inner Sinkhorn projection's accuracy in float32
    torch.testing.assert_close(P[:, :m].sum(0), torch.full((m,), 1 / m), atol=5e-4, rtol=0)
    torch.testing.assert_close(P[n].sum(), P[:, m].sum(), atol=5e-3, rtol=0)
    assert float(P[n, m]) == 0.0


def test_balanced_default_matches_every_frame_and_zeta_sends_weak_matches_to_dummy() -> None:
    g = torch.Generator().manual_seed(5)
    protos = torch.nn.functional.normalize(torch.randn(4, 16, generator=g), dim=-1)
    x = _video([0, 1, 2, 3], protos, 15, g)
    y = _video([0, 1, 2, 3], protos, 12, g)
    res = align(x, y, eps=0.07, alpha=0.3, r=0.04, zeta=0.0)
    n, m = 60, 48
    assert float(res.plan[:, m].sum()) == 0.0 and float(res.plan[n].sum()) == 0.0
    torch.testing.assert_close(res.plan.sum(), torch.tensor(1.0), atol=1e-5, rtol=0)
    p = res.plan[:n, :m].amax(-1) * n  # best-match probabilities
    zeta = float(p.median())
    res2 = align(x, y, eps=0.07, alpha=0.3, r=0.04, zeta=zeta)
    to_dummy = plan_to_labels(res2.plan[:n]) == m
    assert bool(to_dummy[p < zeta].all())  # every weak frame goes to the dummy ...
    assert float(res2.plan[:n][p < zeta, :m].sum()) == 0.0  # ... entirely
    assert bool((~to_dummy[p >= zeta]).any())  # strong frames can stay matched
    torch.testing.assert_close(res2.plan[:n].sum(1), torch.full((n,), 1 / n), atol=1e-6, rtol=0)


def test_identical_videos_match_diagonally_and_gradients() -> None:
    g = torch.Generator().manual_seed(3)
    protos = torch.nn.functional.normalize(torch.randn(4, 16, generator=g, dtype=torch.float64), dim=-1)
    base = torch.repeat_interleave(torch.arange(4), 10)
    x = (protos[base] + 0.05 * torch.randn(40, 16, generator=g, dtype=torch.float64)).requires_grad_(True)
    res = align(x, x.detach(), eps=0.05, alpha=0.3, r=0.05, zeta=0.05)
    lab = plan_to_labels(res.plan[:40])
    assert (base[lab.clamp(max=39)] == base).float().mean() > 0.95  # same-segment matches
    assert (lab == 40).float().mean() < 0.1  # nearly nothing is background
    torch.testing.assert_close(res.plan[:40].sum(1), torch.full((40,), 1 / 40, dtype=torch.float64))
    assert float(res.plan[40, 40]) == 0.0
    res.cost.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
