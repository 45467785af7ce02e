"""Shared pieces of the unsupervised methods (ASOT, CLOT, VAOT): the frame encoder, per-video
standardisation, k-means, the fused-GW solve with its settings, and label → segment conversion."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from otcore.ot.fgw import FGWSettings, solve_fgw
from otcore.types import Segment

__all__ = [
    "FGWSettings",
    "OTSettings",
    "MLPEncoder",
    "standardise",
    "kmeans",
    "solve_temporal_ot",
    "labels_to_segments",
    "sample_sorted",
    "seeded_init",
]


#: The settings of one fused-GW solve: :class:`otcore.ot.fgw.FGWSettings` (one frozen, keyword-only
#: object shared by the methods, the decoder and the alignment; ``radius=None`` is the band-radius
#: rule :func:`otcore.ot.fgw.segment_radius` of the problem's K actions).
OTSettings = FGWSettings


@contextmanager
def seeded_init(seed: int) -> Iterator[None]:
    """Parameters created inside draw from ``torch.manual_seed(seed)``; the global RNG state is
    restored afterwards, so a model is a function of its config (not of what ran before it)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def standardise(x: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance per feature dimension over the frames of one video."""
    return (x - x.mean(0, keepdim=True)) / (x.std(0, keepdim=True) + 1e-5)


class MLPEncoder(nn.Module):
    """``Linear → ReLU → … → Linear`` with L2-normalised output (ASOT: 64→128→40)."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...] = (128,), out_dim: int = 40) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = in_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU()]
            d = h
        layers.append(nn.Linear(d, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[..., D] → [..., out_dim]`` unit-norm embeddings."""
        return nn.functional.normalize(self.net(x), dim=-1)


def kmeans(
    x: torch.Tensor,
    k: int,
    n_iter: int = 50,
    generator: torch.Generator | None = None,
    n_init: int = 10,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means with k-means++ seeding, best of ``n_init`` restarts (lowest within-cluster sum
    of squares; a single k-means++ start lands in a merged-clusters local optimum now and then).
    Returns ``(centroids [k, D], labels [N])``."""
    best: tuple[float, torch.Tensor, torch.Tensor] | None = None
    for _ in range(max(1, n_init)):
        c, labels = _lloyd(x, k, n_iter, generator)
        inertia = float(((x - c[labels]) ** 2).sum())
        if best is None or inertia < best[0]:
            best = (inertia, c, labels)
    assert best is not None
    return best[1], best[2]


def _lloyd(
    x: torch.Tensor, k: int, n_iter: int, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One k-means++ seeding followed by Lloyd iterations."""
    n = x.shape[0]
    g = generator
    idx = [int(torch.randint(n, (1,), generator=g))]
    d2 = ((x - x[idx[0]]) ** 2).sum(-1)
    for _ in range(1, k):
        probs = d2 / d2.sum().clamp_min(1e-12)
        nxt = (
            int(torch.multinomial(probs.cpu(), 1, generator=g))
            if float(d2.sum()) > 0
            else int(torch.randint(n, (1,), generator=g))
        )
        idx.append(nxt)
        d2 = torch.minimum(d2, ((x - x[nxt]) ** 2).sum(-1))
    c = x[idx].clone()
    labels = torch.full((n,), -1, dtype=torch.long, device=x.device)
    for _ in range(n_iter):
        labels_new = torch.cdist(x, c).argmin(1)
        for j in range(k):
            m = labels_new == j
            if m.any():
                c[j] = x[m].mean(0)
        if torch.equal(labels_new, labels):
            break
        labels = labels_new
    return c, labels


def solve_temporal_ot(cost: torch.Tensor, settings: OTSettings) -> torch.Tensor:
    """The plan ``[..., N, K]`` of ASOT's temporally consistent (unbalanced) fused-GW problem on ``cost``
    (no gradient, :func:`otcore.ot.fgw.solve_fgw`), rows renormalised to sum to one."""
    with torch.no_grad():
        plan = solve_fgw(cost.detach(), settings).plan
        plan = torch.nan_to_num(plan, nan=0.0)
        return plan / plan.sum(-1, keepdim=True).clamp_min(1e-30)


def sample_sorted(n: int, m: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``min(n, m)`` distinct frame indices drawn uniformly, in time order."""
    if n <= m:
        return torch.arange(n)
    return torch.randperm(n, generator=generator)[:m].sort().values


def labels_to_segments(
    labels: torch.Tensor | np.ndarray,
    fps: float,
    names: list[str] | None = None,
    scores: torch.Tensor | None = None,
) -> list[Segment]:
    """Maximal runs of one label as :class:`Segment` s (seconds); label ``k`` is named ``names[k]``
    or ``"cluster k"``; the score is the run's mean of ``scores[t, k]`` when given."""
    lab = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).reshape(-1)
    out: list[Segment] = []
    start = 0
    for i in range(1, len(lab) + 1):
        if i == len(lab) or lab[i] != lab[start]:
            k = int(lab[start])
            name = names[k] if names is not None and k < len(names) else f"cluster {k}"
            sc = float(scores[start:i, k].mean()) if scores is not None else None
            out.append(Segment(name, start / fps, i / fps, sc))
            start = i
    return out
