"""Problems: a cost plus marginals (and prior, relaxation, temporal structure). Frozen, validated."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["LinearProblem", "TemporalFGWProblem"]


def _check_marginal(m: torch.Tensor | None, n: int, name: str) -> None:
    if m is not None and m.shape[-1] != n:
        raise ValueError(f"{name} has size {m.shape[-1]} on its last dim, expected {n}")


def _check_tau(tau: float | None, name: str) -> None:
    if tau is not None and not tau > 0:
        raise ValueError(f"{name} must be positive or None (hard constraint), got {tau}")


@dataclass(frozen=True)
class LinearProblem:
    r"""Entropic (unbalanced) linear OT problem.

    .. math::
        \min_{T \ge 0} \ \langle C, T \rangle + \varepsilon\,\mathrm{KL}(T \,\|\, \hat Q)
        + \tau_a \mathrm{KL}(T\mathbf 1 \,\|\, a) + \tau_b \mathrm{KL}(T^\top \mathbf 1 \,\|\, b)

    with ``KL(x||y) = Σ x log(x/y) - x + y``; a ``None`` tau is the hard constraint ``T1 = a``
    (``Tᵀ1 = b``). This is POT's ``sinkhorn_unbalanced(a, b, C, reg=ε, reg_m=(τ_a, τ_b),
    reg_type='kl', c=Q̂)``, and with both sides hard it is POT's ``sinkhorn(a, b, C - ε log Q̂, ε)``.

    Attributes:
        cost: ``[..., N, K]`` cost ``C`` (may require grad).
        a: ``[..., N]`` or ``[N]`` frame/source masses; default uniform ``1/N``.
        b: ``[..., K]`` or ``[K]`` target masses; default uniform ``1/K``.
        prior: ``[..., N, K]`` positive reference measure ``Q̂`` of the entropy term; default ``a ⊗ b``.
        tau_a, tau_b: KL weight of the marginal penalty (POT's ``reg_m``); ``None`` = hard.
    """

    cost: torch.Tensor
    a: torch.Tensor | None = None
    b: torch.Tensor | None = None
    prior: torch.Tensor | None = None
    tau_a: float | None = None
    tau_b: float | None = None

    def __post_init__(self) -> None:
        if self.cost.ndim < 2:
            raise ValueError(f"cost must be [..., N, K], got shape {tuple(self.cost.shape)}")
        n, k = self.cost.shape[-2:]
        _check_marginal(self.a, n, "a")
        _check_marginal(self.b, k, "b")
        if self.prior is not None and self.prior.shape[-2:] != self.cost.shape[-2:]:
            raise ValueError("prior must have the cost's last two dims")
        _check_tau(self.tau_a, "tau_a")
        _check_tau(self.tau_b, "tau_b")

    @property
    def shape(self) -> tuple[int, int]:
        """``(N, K)``."""
        return int(self.cost.shape[-2]), int(self.cost.shape[-1])


@dataclass(frozen=True)
class TemporalFGWProblem:
    r"""ASOT's temporally consistent fused Gromov-Wasserstein problem between N frames and K actions.

    .. math::
        \min_{T \ge 0,\ T\mathbf 1 = a} \ \frac{\alpha}{2}\langle C_v T C_k, T\rangle
        + (1-\alpha)\langle C + \rho R, T\rangle
        + \tau_b\,\mathrm{KL}(T^\top\mathbf 1 \,\|\, b) - \varepsilon H(T)

    ``C_v[i, j] = 1/radius`` for ``0 < |i - j| <= int(radius·N)`` (frames close in time), ``C_k = 1 - I``
    (different actions), ``R[i, k] = |i/N - k/K|``, ``H(T) = -Σ T log T + T``. ``tau_b = None`` makes
    the action side a hard constraint ``Tᵀ1 = b`` (the balanced variant).

    Attributes:
        cost: ``[..., N, K]``; radius: band half-width as a fraction of N; alpha: GW weight in [0, 1];
        rho: temporal-prior weight; a: ``[..., N]`` (default ``1/N``); b: ``[..., K]`` (default ``1/K``);
        tau_b: action-marginal KL weight (ASOT's λ), ``None`` = balanced.
    """

    cost: torch.Tensor
    radius: float
    alpha: float
    rho: float = 0.0
    a: torch.Tensor | None = None
    b: torch.Tensor | None = None
    tau_b: float | None = None

    def __post_init__(self) -> None:
        if self.cost.ndim < 2:
            raise ValueError(f"cost must be [..., N, K], got shape {tuple(self.cost.shape)}")
        n, k = self.cost.shape[-2:]
        _check_marginal(self.a, n, "a")
        _check_marginal(self.b, k, "b")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        if not self.radius > 0:
            raise ValueError(f"radius must be positive, got {self.radius}")
        _check_tau(self.tau_b, "tau_b")

    @property
    def shape(self) -> tuple[int, int]:
        """``(N, K)``."""
        return int(self.cost.shape[-2]), int(self.cost.shape[-1])
