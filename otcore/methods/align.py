r"""VAOT: frame↔frame alignment of two videos by fused Gromov-Wasserstein OT with a dummy frame.

Given frame features :math:`X \in \mathbb R^{N\times D}` and :math:`Y \in \mathbb R^{M\times D}`,
:func:`otcore.ot.align` solves the balanced problem

.. math::
    \min_{T\mathbf 1 = \mathbf 1/N,\ T^\top\mathbf 1 = \mathbf 1/M}
    \alpha F(T) + (1-\alpha)\langle C + \rho R, T\rangle - \varepsilon H(T),\qquad C_{ij} = 1-\cos(x_i, y_j),

where the structure term :math:`F` charges :math:`1/r` for mapping two frames within radius
:math:`r` of each other in one video to distant frames of the other, and :math:`R_{ij}=|i/N-j/M|`.
Frames whose best-match probability :math:`\max_j T_{ij}/a_i` is below ζ go to a dummy frame
(background). Each frame of X takes as partner the argmax of its plan row (``-1`` = dummy); with
ζ = 0 the dummy is not used for matching (argmax over the real frames only), because the solver's
dummy still absorbs mass. The temporal prior ρR (ρ = 0.1) is also used at inference: without it the
GW structure term cannot tell an order-preserving match from a locally reversed one inside a phase.

Two ways to get features:

* **fixed features** (:func:`align_videos`): per-video standardised input features;
* **self-supervised** (:class:`VAOTEncoder`, :func:`train_alignment`), as VAOT trains: an MLP
  encoder; for a random pair of videos the plan :math:`T^\star` of the problem above on the
  embeddings with the temporal prior ρR is the pseudo-label (no gradient); the loss is the
  cross-entropy of :math:`P = \mathrm{softmax}(F_X F_Y^\top/\tau)` rows to the row-normalised
  :math:`T^\star`, frames sent to the dummy left out.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from otcore.methods._unsup import MLPEncoder, sample_sorted, standardise
from otcore.ot.fgw import FGWSettings

__all__ = [
    "AlignSettings",
    "Alignment",
    "align_videos",
    "VAOTEncoder",
    "train_alignment",
    "dtw_align",
    "linear_align",
]


@dataclass(frozen=True, kw_only=True)
class AlignSettings(FGWSettings):
    """Settings of the alignment OT: the fused-GW settings (ε, α, radius r, ρ, iterations; alignment is
    balanced, so ``tau_b`` must stay ``None``) plus ζ (dummy threshold), whether to standardise each
    video's features first, and ``n_segments``, the expected number of segments per video that sets
    the radius when ``radius`` is ``None``: r = 1/(2·n_segments)
    (:func:`otcore.ot.fgw.segment_radius`; the band spans one average segment)."""

    tau_b: float | None = None
    zeta: float = 0.0
    standardise: bool = True
    n_segments: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.tau_b is not None:
            raise ValueError("alignment is balanced: tau_b must be None")
        if self.n_segments < 1:
            raise ValueError(f"n_segments must be >= 1, got {self.n_segments}")


@dataclass(frozen=True)
class Alignment:
    """Result: ``plan [N+1, M+1]`` (last row/column = dummy), ``match [N]`` partner in Y (``-1`` = dummy),
    ``match_back [M]`` partner in X of every frame of Y."""

    plan: torch.Tensor
    match: torch.Tensor
    match_back: torch.Tensor


def _matches(plan: torch.Tensor, use_dummy: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    n, m = plan.shape[0] - 1, plan.shape[1] - 1
    if not use_dummy:
        return plan[:n, :m].argmax(-1), plan[:n, :m].argmax(0)
    fwd = plan[:n].argmax(-1)
    fwd = torch.where(fwd == m, torch.full_like(fwd, -1), fwd)
    back = plan[:, :m].argmax(0)
    back = torch.where(back == n, torch.full_like(back, -1), back)
    return fwd, back


def _solve(x: torch.Tensor, y: torch.Tensor, settings: AlignSettings) -> torch.Tensor:
    """The plan ``[N+1, M+1]`` of :func:`otcore.ot.align` with ``settings`` (no gradient)."""
    from otcore.ot import align

    with torch.no_grad():
        return align(
            x,
            y,
            eps=settings.eps,
            alpha=settings.alpha,
            r=settings.radius_for(settings.n_segments),
            zeta=settings.zeta,
            rho=settings.rho,
            max_iter=settings.max_iter,
        ).plan


def align_videos(
    x: torch.Tensor | np.ndarray,
    y: torch.Tensor | np.ndarray,
    settings: AlignSettings = AlignSettings(),
    encoder: nn.Module | None = None,
) -> Alignment:
    """Align two videos' frames with :func:`otcore.ot.align` on fixed (or ``encoder``-embedded) features."""
    xt = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x, dtype=torch.float32)
    yt = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y, dtype=torch.float32)
    if settings.standardise:
        xt, yt = standardise(xt), standardise(yt)
    with torch.no_grad():
        if encoder is not None:
            dev = next(encoder.parameters()).device
            xt, yt = encoder(xt.to(dev)), encoder(yt.to(dev))
        plan = _solve(xt, yt, settings)
    fwd, back = _matches(plan, use_dummy=settings.zeta > 0)
    return Alignment(plan, fwd, back)


class VAOTEncoder(nn.Module):
    """The encoder VAOT trains: ``norm(x + MLP(x))`` with the MLP's last layer zero-initialised, so
    training starts from the (standardised) input features and moves away from them only as far as the
    alignment pseudo-labels ask. A plain MLP from random initialisation (ASOT's shape) first throws
    away what a random projection loses; on the five Breakfast coffee videos of ``otstudio eval
    align`` it never won that back. ``residual=False`` gives the plain MLP."""

    def __init__(
        self, in_dim: int, hidden: tuple[int, ...] = (128,), out_dim: int = 40, residual: bool = True
    ) -> None:
        super().__init__()
        self.residual = residual
        self.mlp = MLPEncoder(in_dim, hidden, in_dim if residual else out_dim)
        if residual:
            last = self.mlp.net[-1]
            assert isinstance(last, nn.Linear)
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., D] → [..., D]`` (residual) or ``[..., out_dim]`` unit-norm embeddings."""
        if not self.residual:
            out: torch.Tensor = self.mlp(x)
            return out
        return nn.functional.normalize(x + self.mlp.net(x), dim=-1)


def train_alignment(
    videos: list[torch.Tensor | np.ndarray],
    settings: AlignSettings = AlignSettings(rho=0.1),
    hidden: tuple[int, ...] = (128,),
    out_dim: int = 40,
    tau: float = 0.1,
    epochs: int = 30,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    frames: int = 256,
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
    residual: bool = True,
) -> VAOTEncoder:
    """Self-supervised VAOT training on unlabelled videos (see the module docstring); returns the encoder."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    xs = [
        torch.as_tensor(np.asarray(v) if not isinstance(v, torch.Tensor) else v, dtype=torch.float32)
        for v in videos
    ]
    if settings.standardise:
        xs = [standardise(x) for x in xs]
    enc = VAOTEncoder(xs[0].shape[1], hidden, out_dim, residual)
    opt = torch.optim.Adam(enc.parameters(), lr=lr, weight_decay=weight_decay)
    pairs = [(i, j) for i in range(len(xs)) for j in range(len(xs)) if i != j]
    for ep in range(epochs):
        rng.shuffle(pairs)
        tot = 0.0
        for i, j in pairs[: max(1, len(xs))]:
            xi = xs[i][sample_sorted(xs[i].shape[0], frames, g)]
            xj = xs[j][sample_sorted(xs[j].shape[0], frames, g)]
            fi, fj = enc(xi), enc(xj)
            with torch.no_grad():
                plan = _solve(fi.detach(), fj.detach(), settings)
            n, m = fi.shape[0], fj.shape[0]
            inner = plan[:n, :m]
            keep = inner.sum(-1) > 0.5 * plan[:n].sum(-1)  # rows not sent to the dummy
            target = inner / inner.sum(-1, keepdim=True).clamp_min(1e-30)
            logp = torch.log_softmax(fi @ fj.T / tau, dim=-1)
            loss = -(target * logp).sum(-1)[keep].mean() if bool(keep.any()) else logp.sum() * 0.0
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            tot += float(loss.detach())
        if progress is not None:
            progress((ep + 1) / epochs, f"epoch {ep + 1}/{epochs} loss {tot:.3f}")
    enc.eval()
    return enc


def dtw_align(
    x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray, standardise_features: bool = True
) -> torch.Tensor:
    """Baseline: dynamic time warping on the cosine cost; each frame of X takes the first frame of Y on
    its optimal warping path. Returns ``match [N]``. O(N·M) time and memory."""
    xt = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    yt = torch.as_tensor(np.asarray(y), dtype=torch.float64)
    if standardise_features:
        xt, yt = standardise(xt), standardise(yt)
    c = (1.0 - nn.functional.normalize(xt, dim=-1) @ nn.functional.normalize(yt, dim=-1).T).numpy()
    n, m = c.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        row = acc[i]
        prev = acc[i - 1]
        ci = c[i - 1]
        # acc[i, j] = c_ij + min(acc[i-1, j-1], acc[i-1, j], acc[i, j-1]); the horizontal term makes the row
        # a min-plus prefix scan: acc[i, j] = S_j + min_{k<=j}(v_k - S_k) with v_k = c_ik + min(up, diag), S prefix sums of c_i.
        v = np.minimum(prev[:-1], prev[1:]) + ci
        s_cum = np.concatenate([[0.0], np.cumsum(ci)])
        row[1:] = s_cum[1:] + np.minimum.accumulate(v - s_cum[1:])
    i, j = n, m
    match = np.full(n, -1, dtype=np.int64)
    while i > 0 and j > 0:
        match[i - 1] = j - 1
        steps = (acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
        k = int(np.argmin(steps))
        if k == 0:
            i, j = i - 1, j - 1
        elif k == 1:
            i -= 1
        else:
            j -= 1
    return torch.as_tensor(match)


def linear_align(n: int, m: int) -> torch.Tensor:
    """Baseline: linear time stretch, frame ``i`` of X ↦ ``round(i (M−1)/(N−1))`` of Y."""
    if n <= 1:
        return torch.zeros(n, dtype=torch.long)
    return torch.round(torch.arange(n, dtype=torch.float64) * (m - 1) / (n - 1)).long()
