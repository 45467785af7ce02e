r"""The plain functions of CASE (:mod:`otcore.methods.case`): the rank prior on cluster foreground
shares, the cluster-classification (CCC) logits, and turning the per-class localisation curves into
scored segments (multi-threshold proposals with the code's inner-minus-outer score, then NMS).

Every function takes tensors and returns tensors or segments; nothing here holds state.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from otcore.types import Segment

if TYPE_CHECKING:
    from otcore.methods.case import CASEOutput

__all__ = ["CODE_THRESHOLDS", "rank_prior", "cluster_class_logits", "foreground_segments"]

#: Thresholds of the multi-threshold proposals (the code's ``act_thresh``, 0.1 … 0.9).
CODE_THRESHOLDS: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(1, 10))


def rank_prior(
    p_att: torch.Tensor, cluster_fg: torch.Tensor, *, form: str = "paper", sigma: float = 0.3
) -> torch.Tensor:
    r"""The SCC prior :math:`\hat Q` ``[N, K]`` (sums to one) from attention ``[N]`` and cluster
    foreground shares ``[K]``; ``form`` ``"paper"`` or ``"code"`` (see the module docstring)."""
    n = p_att.shape[0]
    if form == "code":
        perm = torch.argsort(-p_att).to(p_att.dtype)
        d = ((perm + 1) / n)[:, None] - (1 - cluster_fg)[None]
        s = 10.0
    else:
        rank = torch.empty(n, device=p_att.device, dtype=p_att.dtype)
        rank[p_att.argsort()] = torch.arange(n, device=p_att.device, dtype=p_att.dtype)
        d = (rank / max(1, n - 1))[:, None] - cluster_fg[None]
        s = sigma
    prior = torch.exp(-(d**2) / (2 * s**2))
    return prior / prior.sum()


def cluster_class_logits(
    emb: torch.Tensor, q_clusters: torch.Tensor, q_fg: torch.Tensor, rho: float, *, centre: bool = True
) -> torch.Tensor:
    r"""CCC logits ``[K, 2]`` (column 0 background, 1 foreground): :math:`\rho\cos(\bar E^S_k, \bar E^A_i)`.

    ``emb [N, h]`` snippet embeddings, ``q_clusters [N, K]`` soft cluster assignments (rows sum to 1),
    ``q_fg [N]`` attention pseudo-labels. Cluster prototypes are the ``q_clusters``-weighted means,
    the foreground/background prototypes the ``q_fg``- and ``(1 − q_fg)``-weighted means. With
    ``centre`` all are taken relative to the mean embedding: E is post-ReLU, so raw cosines of any two
    prototypes sit near 1 and ρ·cos could not tell foreground from background clusters
    (``centre=False`` is the code's form).
    """
    proto_s = (q_clusters.T @ emb) / q_clusters.sum(0)[:, None].clamp_min(1e-8)
    w_fg = q_fg / q_fg.sum().clamp_min(1e-8)
    w_bg = (1 - q_fg) / (1 - q_fg).sum().clamp_min(1e-8)
    proto_a = torch.stack([w_bg @ emb, w_fg @ emb])
    if centre:
        centre_emb = emb.mean(0, keepdim=True)
        proto_s, proto_a = proto_s - centre_emb, proto_a - centre_emb
    cos = nn.functional.normalize(proto_s, dim=-1) @ nn.functional.normalize(proto_a, dim=-1).T
    return rho * cos


def foreground_segments(
    out: CASEOutput,
    class_names: list[str],
    fps: float = 1.0,
    thresholds: tuple[float, ...] = CODE_THRESHOLDS,
    nms_iou: float = 0.5,
    outer: float = 0.15,
    video_weight: float = 0.2,
) -> list[Segment]:
    r"""Multi-threshold proposals on each predicted class's localisation curve, NMS'd per class.

    A proposal ``[s, e)`` of class c (a maximal run of ``curve_c ≥ θ``) scores the code's
    outer-inner contrast :math:`\bar p_{[s,e)} - \bar p_{\text{outer}} + w\,v_c`: the mean curve
    inside minus the mean over ``⌈outer·(e − s)⌉`` snippets on each side, plus ``video_weight`` times
    the video score of c.
    """
    from otcore.metrics import nms

    vs = out.video_scores
    curves = out.p_class.cpu().numpy()
    segs: list[Segment] = []
    for c in out.classes:
        cur = curves[:, c]
        n = len(cur)
        props: set[tuple[int, int]] = set()
        for th in thresholds:
            on = np.concatenate([[False], cur >= th, [False]])
            d = np.flatnonzero(np.diff(on.astype(np.int8)))
            props.update(zip(d[0::2].tolist(), d[1::2].tolist()))
        if not props:
            continue
        plist = sorted(props)
        scores = []
        for s, e in plist:
            w = math.ceil(outer * (e - s))
            ring = np.concatenate([cur[max(0, s - w) : s], cur[e : min(n, e + w)]])
            out_mean = float(ring.mean()) if ring.size else 0.0
            scores.append(float(cur[s:e].mean()) - out_mean + video_weight * float(vs[c]))
        sc = np.asarray(scores)
        keep = nms(np.asarray(plist, dtype=np.float64), sc, nms_iou)
        for i in keep:
            s, e = plist[int(i)]
            segs.append(Segment(class_names[c], s / fps, e / fps, float(sc[int(i)])))
    return sorted(segs, key=lambda s: (s.start, s.end))
