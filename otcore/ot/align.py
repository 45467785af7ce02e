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
    # in place on the buffers above: no N×M temporary beyond the three band products
    g = BxTBy.mul_(-2.0).sub_(BxT).sub_(TBy)
    if not centered:
        g.add_(BxT.sum(-1, keepdim=True)).add_(TBy.sum(-2, keepdim=True))
    return g.div_(r)


def align(
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float = 0.07,
    alpha: float = 0.3,
    r: float = 0.04,
    zeta: float = 0.0,
    *,
    rho: float = 0.0,
    dummy_cost: float | str | None = None,
    max_iter: int = 25,
    proj_steps: int = 20,
) -> OTResult:
    r"""Align the frames of two videos (VAOT): balanced fused GW plus a dummy frame for background.

    Objective over ``T ∈ R^{N×M}_{≥0}``, ``T1 = a = 1/N``, ``Tᵀ1 = b = 1/M`` (balanced):

    .. math::
        \alpha F(T) + (1-\alpha)\langle C + \rho R, T\rangle - \varepsilon H(T),\qquad
        C_{ij} = 1 - \cos(x_i, y_j),\ R_{ij} = |i/N - j/M|

    ``F`` is the banded structure term of :func:`alignment_structure_grad` (frames within ``⌊rN⌋``
    (``⌊rM⌋``) of each other mapped to frames farther apart in the other video cost ``1/r``), solved by
    the projected mirror descent of :func:`otcore.ot.fused_gw` (KL projection on both marginals each
    step), ``O(N·M)`` per iteration, never an ``N×N`` or ``M×M`` matrix.

    Dummy rule (ζ): the best-match probability of frame ``i`` of X is ``p_i = max_j T_ij / a_i`` (of
    frame ``j`` of Y: ``max_i T_ij / b_j``). A frame with ``p < zeta`` goes to the dummy entirely: its
    mass to real frames moves to the dummy column (row ``i``) and, so that the other side keeps its
    marginal, to the dummy row (the columns it came from); likewise for outlier frames of Y. The
    returned ``P [N+1, M+1]`` has ``P[:N].sum(1) = a``, ``P[:, :M].sum(0) = b``, ``P[N, M] = 0``, and the
    dummy row and column carry the same mass. ``zeta = 0`` matches every frame. In the balanced problem
    every frame has to send its mass somewhere, and with the structure term a segment that occurs in
    one video only can still be mapped sharply (high ``p``): to absorb such background segments use the
    partial variant below (the ζ rule then acts on its plan). Note also that a balanced plan conserves
    mass: when the same action lasts longer in one video, part of its frames are mapped into the
    neighbouring action; the partial variant lets that excess go to the dummy instead (and the argmax
    over the real block ``P[:N, :M]`` then gives each frame its best real partner).

    Optional partial transport (``dummy_cost`` = ``δ`` or ``"auto"``): the dummies join the problem
    with mass 1 each, cost ``δ`` to a dummy and 0 dummy↔dummy (the slack), so a pair is worth matching
    when ``C_ij < 2δ``; ``"auto"`` takes ``δ`` = the median best-match cost. The structure term then acts
    on the real block only, centred (its marginal-only part dropped — with free real marginals it would
    push every frame to the dummy). The ζ rule applies on top.

    Args:
        x: ``[N, D]``; y: ``[M, D]``; eps: entropic weight; alpha: GW weight; r: band radius (fraction);
        zeta: best-match probability threshold (0: every frame is matched); rho: temporal-prior weight;
        dummy_cost: ``None`` (balanced, default), a float ``δ`` or ``"auto"`` (partial transport).
    Returns:
        :class:`OTResult` with ``plan [N+1, M+1]``; ``cost = <P[:N, :M], C>`` (gradient to x and y);
        ``marginal_error`` of the balanced inner plan before the dummy rule.

    Example:
        >>> res = align(torch.randn(50, 8), torch.randn(40, 8), eps=0.07, alpha=0.3, r=0.04, zeta=0.05)
        >>> res.plan.shape
        torch.Size([51, 41])
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
    partial = dummy_cost is not None
    if partial:
        if dummy_cost == "auto":
            Cdet = C.detach()
            delta = 0.5 * (float(Cdet.amin(-1).median()) + float(Cdet.amin(-2).median()))
        else:
            delta = float(dummy_cost)  # type: ignore[arg-type]
        # Partial transport: a dummy row/column of mass 1 each, cost delta to a dummy, 0 dummy<->dummy.
        Cbar = torch.full((n + 1, m + 1), delta, dtype=dtype, device=dev)
        Cbar[:n, :m] = lin
        Cbar[n, m] = 0.0
        a = torch.full((1, n + 1), 1.0 / n, dtype=dtype, device=dev)
        b = torch.full((1, m + 1), 1.0 / m, dtype=dtype, device=dev)
        a[0, n] = 1.0
        b[0, m] = 1.0
    else:
        Cbar = lin
        a = torch.full((1, n), 1.0 / n, dtype=dtype, device=dev)
        b = torch.full((1, m), 1.0 / m, dtype=dtype, device=dev)
    linear = ((1.0 - alpha) * Cbar).unsqueeze(0)
    hx, hy = band_radius(n, r), band_radius(m, r)

    def structure_grad(T: torch.Tensor) -> torch.Tensor:
        if alpha == 0.0:
            return torch.zeros_like(T)
        if not partial:
            return alpha * alignment_structure_grad(T, hx, hy, r)
        g = torch.zeros_like(T)
        g[:, :n, :m] = alpha * alignment_structure_grad(T[:, :n, :m], hx, hy, r, centered=True)
        return g

    with torch.no_grad():
        T, n_iter, converged, _ = mirror_descent(
            linear, structure_grad, a, b, float(eps), None, int(max_iter), 0.0, proj_steps=proj_steps
        )
        T = T[0]
        merr = (T.sum(-1) - a[0]).abs().sum() + (T.sum(-2) - b[0]).abs().sum()
        real = T[:n, :m]
        dcol = T[:n, m] if partial else torch.zeros(n, dtype=dtype, device=dev)
        drow = T[n, :m] if partial else torch.zeros(m, dtype=dtype, device=dev)
        out_x = (real.amax(-1) * n) < zeta
        out_y = (real.amax(-2) * m) < zeta
        moved = real * (out_x[:, None] | out_y[None, :])
        P = torch.zeros(n + 1, m + 1, dtype=dtype, device=dev)
        P[:n, :m] = real - moved
        P[:n, m] = dcol + moved.sum(-1)
        P[n, :m] = drow + moved.sum(-2)
    return OTResult(
        plan=P,
        cost=(P[:n, :m] * C).sum(),
        marginal_error=merr,
        n_iter=n_iter,
        converged=converged,
    )
