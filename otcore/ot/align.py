"""VAOT frame↔frame alignment: balanced fused Gromov-Wasserstein with a banded structure and a dummy frame."""

from __future__ import annotations

import torch

from .fgw import mirror_descent
from .geometry import band_radius, band_sum, cosine_cost
from .result import OTResult

__all__ = ["align", "alignment_structure_grad"]


def alignment_structure_grad(
    T: torch.Tensor, hx: int, hy: int, r: float, centered: bool = False
) -> torch.Tensor:
    r"""Gradient of VAOT's structure term for a plan ``T [..., N, M]``, in ``O(N·M)``.

    With ``B^x`` the band ``0 < |i − i'| ≤ hx`` (frames close in X), ``D^y = 11ᵀ − I − B^y`` (frames far
    apart in Y) and symmetrically, the structure term is

    .. math::
        F(T) = \frac{1}{2r}\sum_{i,i',j,j'} \big(B^x_{ii'}D^y_{jj'} + D^x_{ii'}B^y_{jj'}\big) T_{ij}T_{i'j'}

    (neighbours in one video mapped to distant frames of the other cost ``1/r``), whose gradient is
    ``(1/r)[(B^xT1)1ᵀ + 1(1ᵀTB^y) − B^xT − TB^y − 2 B^xTB^y]``; every product with a band is a
    box filter (prefix sums), never an ``N×N`` or ``M×M`` matrix.

    With ``centered=True`` the two terms that depend only on the marginals of ``T``,
    ``(1/2r)[(T1)ᵀB^x(T1) + (1ᵀT)B^y(Tᵀ1)]``, are dropped: the gradient is
    ``−(1/r)[B^xT + TB^y + 2 B^xTB^y]`` (a reward for neighbours mapped to neighbours). With fixed
    marginals this is the same problem; :func:`align` uses it on the real block, where a dummy frame
    makes the real marginals free and the dropped terms would push every frame to the dummy.
    """
    BxT = band_sum(T, hx, dim=-2)
    TBy = band_sum(T, hy, dim=-1)
    BxTBy = band_sum(BxT, hy, dim=-1)
    g = -BxT - TBy - 2.0 * BxTBy
    if not centered:
        g = g + BxT.sum(-1, keepdim=True) + TBy.sum(-2, keepdim=True)
    return g / r


def align(
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float = 0.07,
    alpha: float = 0.3,
    r: float = 0.04,
    zeta: float = 0.0,
    *,
    rho: float = 0.0,
    dummy_cost: float | None = None,
    max_iter: int = 25,
    proj_steps: int = 20,
) -> OTResult:
    r"""Align the frames of two videos (VAOT): balanced fused GW with a dummy frame for background.

    Plan ``P ∈ R^{(N+1)×(M+1)}_{≥0}``; the last row is X's dummy frame, the last column Y's. Objective
    (balanced, marginals ``(a, 1)`` and ``(b, 1)`` with ``a = 1/N``, ``b = 1/M``):

    .. math::
        \alpha F(P) + (1-\alpha)\langle \bar C, P\rangle - \varepsilon H(P),\qquad
        \bar C = \begin{pmatrix} C + \rho R & \delta\mathbf 1 \\ \delta\mathbf 1^\top & 0\end{pmatrix}

    ``C_ij = 1 − cos(x_i, y_j)``, ``R_ij = |i/N − j/M|``, ``δ = dummy_cost``. ``F`` is the banded
    structure term of :func:`alignment_structure_grad` (frames within ``⌊rN⌋`` (``⌊rM⌋``) of each other
    mapped to frames farther apart in the other video cost ``1/r``) on the real block, centred (its
    marginal-only part dropped, which changes nothing when no mass goes to a dummy) and zero on the
    dummies. The dummy row/column of mass 1 is the usual partial-transport construction: a frame either
    matches real frames or pays ``δ`` to match the other video's dummy; the dummy↔dummy cell takes the
    unused slack. Leaving a pair unmatched costs ``2δ`` (one ``δ`` per side), so (before entropy and
    structure) a pair is worth matching when ``C_ij < 2δ``; the default ``δ`` = the median best-match cost
    (mean of the medians of ``min_j C_ij`` and ``min_i C_ij``) leaves unmatched the frames whose best
    match is more than twice as far as a typical frame's. Solved by the projected mirror descent of
    :func:`otcore.ot.fused_gw` (KL projection on both marginals each step), ``O(N·M)`` per iteration.

    Dummy rule: the best-match probability of frame ``i`` of X is ``p_i = max_{j<M} P_ij / a_i`` (of
    frame ``j`` of Y: ``max_{i<N} P_ij / b_j``). A frame with ``p < zeta`` goes to the dummy entirely:
    its mass to real frames is moved to the dummy column (row ``i``) and, so that the other side keeps
    its marginal, to the dummy row (the columns it came from); likewise for outlier frames of Y. The
    slack ``P[N, M]`` is returned as 0, so ``P[:N].sum(1) = a``, ``P[:, :M].sum(0) = b`` (up to the
    inner projection's accuracy) and the dummy row and column carry the same mass.
    :func:`otcore.ot.plan_to_labels` on ``P[:N]`` gives ``M`` (the dummy) for background frames, which
    callers leave out of the loss.

    Args:
        x: ``[N, D]``; y: ``[M, D]``; eps: entropic weight; alpha: GW weight; r: band radius (fraction);
        zeta: best-match probability threshold (0: no frame is forced to the dummy);
        rho: temporal-prior weight; dummy_cost: ``δ``, the cost of leaving a frame unmatched, default
        the median best-match cost.
    Returns:
        :class:`OTResult` with ``plan [N+1, M+1]``; ``cost = <P[:N, :M], C>`` (gradient to x and y);
        ``marginal_error`` of the augmented balanced plan before the dummy rule.

    Example:
        >>> res = align(torch.randn(50, 8), torch.randn(40, 8), eps=0.07, alpha=0.3, r=0.04, zeta=0.05)
        >>> res.plan.shape  # (51, 41)
    """
    if x.ndim != 2 or y.ndim != 2:
        raise ValueError("align takes x [N, D] and y [M, D]")
    n, m = x.shape[0], y.shape[0]
    C = cosine_cost(x, y)
    dtype = C.dtype
    dev = C.device
    lin = C.detach()
    if rho:
        i = torch.arange(n, device=dev, dtype=dtype) / n
        j = torch.arange(m, device=dev, dtype=dtype) / m
        lin = lin + rho * (i[:, None] - j[None, :]).abs()
    if dummy_cost is None:
        Cdet = C.detach()
        delta = 0.5 * (float(Cdet.amin(-1).median()) + float(Cdet.amin(-2).median()))
    else:
        delta = float(dummy_cost)
    Cbar = torch.full((n + 1, m + 1), delta, dtype=dtype, device=dev)
    Cbar[:n, :m] = lin
    Cbar[n, m] = 0.0
    linear = ((1.0 - alpha) * Cbar).unsqueeze(0)
    a = torch.full((1, n + 1), 1.0 / n, dtype=dtype, device=dev)
    b = torch.full((1, m + 1), 1.0 / m, dtype=dtype, device=dev)
    a[0, n] = 1.0
    b[0, m] = 1.0
    hx, hy = band_radius(n, r), band_radius(m, r)

    def structure_grad(T: torch.Tensor) -> torch.Tensor:
        g = torch.zeros_like(T)
        if alpha != 0.0:
            g[:, :n, :m] = alpha * alignment_structure_grad(T[:, :n, :m], hx, hy, r, centered=True)
        return g

    with torch.no_grad():
        T, n_iter, converged, _ = mirror_descent(
            linear, structure_grad, a, b, float(eps), None, int(max_iter), 0.0, proj_steps=proj_steps
        )
        T = T[0]
        merr = (T.sum(-1) - a[0]).abs().sum() + (T.sum(-2) - b[0]).abs().sum()
        real = T[:n, :m]
        out_x = (real.amax(-1) * n) < zeta
        out_y = (real.amax(-2) * m) < zeta
        moved = real * (out_x[:, None] | out_y[None, :])
        P = torch.zeros(n + 1, m + 1, dtype=dtype, device=dev)
        P[:n, :m] = real - moved
        P[:n, m] = T[:n, m] + moved.sum(-1)
        P[n, :m] = T[n, :m] + moved.sum(-2)
    return OTResult(
        plan=P,
        cost=(P[:n, :m] * C).sum(),
        marginal_error=merr,
        n_iter=n_iter,
        converged=converged,
    )
