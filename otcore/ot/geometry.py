"""Geometry: cost matrices between feature sets and the implicit banded temporal structure.

Everything here is batched over leading dimensions and follows the device and dtype of its inputs.
The temporal structure ``C_v`` (``C_v[i, j] = 1/r`` for ``0 < |i - j| <= R``) is never materialised:
:func:`band_sum` applies the box filter along the time axis with prefix sums in ``O(N·K)``.
"""

from __future__ import annotations

import torch

__all__ = [
    "cosine_cost",
    "sq_euclidean_cost",
    "sliced_wasserstein_cost",
    "temporal_prior",
    "band_sum",
    "band_radius",
]


def cosine_cost(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cosine cost ``C[..., i, j] = 1 - <x_i, y_j> / (|x_i| |y_j|)``, values in ``[0, 2]``.

    Args:
        x: ``[..., N, D]``; y: ``[..., K, D]`` (leading dims broadcast).
    Returns:
        ``[..., N, K]``, differentiable with respect to ``x`` and ``y``.

    Example:
        >>> cosine_cost(torch.eye(2), torch.eye(2))
        tensor([[0., 1.],
                [1., 0.]])
    """
    xn = torch.nn.functional.normalize(x, dim=-1, eps=1e-12)
    yn = torch.nn.functional.normalize(y, dim=-1, eps=1e-12)
    return 1.0 - xn @ yn.transpose(-1, -2)


def sq_euclidean_cost(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean cost ``C[..., i, j] = |x_i - y_j|^2`` (clamped at 0 against round-off).

    Args:
        x: ``[..., N, D]``; y: ``[..., K, D]``.
    Returns:
        ``[..., N, K]``, differentiable.
    """
    x2 = (x * x).sum(-1, keepdim=True)
    y2 = (y * y).sum(-1).unsqueeze(-2)
    return (x2 + y2 - 2.0 * (x @ y.transpose(-1, -2))).clamp_min(0.0)


def sliced_wasserstein_cost(
    x: torch.Tensor, y: torch.Tensor, n_proj: int = 64, seed: int = 0, chunk: int = 2048
) -> torch.Tensor:
    r"""Sliced-Wasserstein (p = 1) cost between feature vectors, as CLOT's ``C^{sw}`` uses it.

    Each feature vector ``x_i ∈ R^D`` is projected on ``n_proj`` random unit directions
    ``θ_1..θ_M`` (drawn from a generator seeded with ``seed``, so the same directions are used
    for ``x`` and ``y``); the ``M`` projected values ``{<x_i, θ_m>}_m`` are treated as a 1-D
    empirical distribution with uniform weights. The W1 distance between two such 1-D empirical
    distributions of equal size has the closed form on sorted values:

    .. math::
        C_{ij} = \frac{1}{M} \sum_{m=1}^{M} \left| \mathrm{sort}(x_i Θ)_m - \mathrm{sort}(y_j Θ)_m \right|

    Sorting is differentiable (a permutation), so ``C`` has gradients with respect to ``x``
    and ``y``. Memory ``O(chunk · K · M)``: rows of ``x`` are processed in chunks.

    Args:
        x: ``[..., N, D]``; y: ``[..., K, D]``; n_proj: number of projections M; seed: RNG seed.
    Returns:
        ``[..., N, K]``.
    """
    d = x.shape[-1]
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    theta = torch.randn(d, n_proj, generator=gen, dtype=torch.float64)
    theta = (theta / theta.norm(dim=0, keepdim=True)).to(device=x.device, dtype=x.dtype)
    px = torch.sort(x @ theta, dim=-1).values  # [..., N, M]
    py = torch.sort(y @ theta, dim=-1).values  # [..., K, M]
    n = px.shape[-2]
    out = []
    for s in range(0, max(n, 1), chunk):
        blk = px[..., s : s + chunk, :]
        out.append((blk.unsqueeze(-2) - py.unsqueeze(-3)).abs().mean(-1))
    return torch.cat(out, dim=-2)


def temporal_prior(
    n: int, k: int, *, device: torch.device | None = None, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """ASOT's temporal prior ``R[i, k] = |i/N - k/K|`` (a frame's relative position vs an action's).

    Returns:
        ``[N, K]``.
    """
    dtype = dtype or torch.get_default_dtype()
    i = torch.arange(n, device=device, dtype=dtype) / max(n, 1)
    j = torch.arange(k, device=device, dtype=dtype) / max(k, 1)
    return (i[:, None] - j[None, :]).abs()


def band_radius(n: int, radius: float) -> int:
    """Half-width in frames of the temporal band: ``int(n * radius)`` (ASOT's convention)."""
    return int(n * radius)


def band_sum(x: torch.Tensor, half_width: int, dim: int = -2) -> torch.Tensor:
    """``Y_i = sum_{0 < |i - j| <= half_width} X_j`` along ``dim`` (zero outside the sequence).

    This is ``B @ X`` for the banded 0/1 matrix ``B`` with an empty diagonal, computed with
    prefix sums in ``O(numel)`` time. Low-precision inputs are accumulated in float64 (so that long
    sequences in float32 do not lose the small window sums to cancellation), one slab of about
    ``2^20`` elements at a time: the float64 temporaries never hold more than that slab, the result
    is written in ``x``'s dtype.
    """
    if half_width <= 0:
        return torch.zeros_like(x)
    dim = dim % x.ndim
    low = x.dtype in (torch.float32, torch.float16, torch.bfloat16)
    acc = torch.float64 if low and x.device.type != "mps" else x.dtype
    if acc == x.dtype or x.ndim < 2:
        return _band_sum_exact(x, half_width, dim, acc)
    # slabs along the largest other dimension
    other = max((d for d in range(x.ndim) if d != dim), key=lambda d: x.shape[d])
    per = max(1, x.numel() // max(1, x.shape[other]))
    step = max(1, (1 << 20) // per)
    if step >= x.shape[other]:
        return _band_sum_exact(x, half_width, dim, acc)
    out = torch.empty_like(x)
    for s in range(0, x.shape[other], step):
        part = x.narrow(other, s, min(step, x.shape[other] - s))
        out.narrow(other, s, part.shape[other]).copy_(_band_sum_exact(part, half_width, dim, acc))
    return out


def _band_sum_exact(x: torch.Tensor, half_width: int, dim: int, acc: torch.dtype) -> torch.Tensor:
    """:func:`band_sum` on the whole of ``x`` with prefix sums accumulated in ``acc``."""
    n = x.shape[dim]
    xs = x.to(acc)
    pad_shape = list(xs.shape)
    pad_shape[dim] = 1
    s = torch.cat([torch.zeros(pad_shape, dtype=acc, device=x.device), torch.cumsum(xs, dim=dim)], dim=dim)
    idx = torch.arange(n, device=x.device)
    hi = (idx + half_width + 1).clamp(max=n)
    lo = (idx - half_width).clamp(min=0)
    window = s.index_select(dim, hi) - s.index_select(dim, lo)
    return (window - xs).to(x.dtype)
