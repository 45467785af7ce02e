"""PLOT-TAL's training targets and losses, each a named function (the training loop in
:func:`otcore.methods.plot_tal.fit` calls them in order).

- :func:`build_targets`: ActionFormer centre assignment per pyramid level;
- :func:`sigmoid_focal_loss`, :func:`giou_loss_1d`: the element-wise detection losses, combined by
  :func:`detection_loss` over the valid / positive positions;
- :func:`ot_term_loss`: PLOT's OT term ``CE(softmax_c(−d_OT/τ), y)`` over the marked segments, one
  batched Sinkhorn problem per pyramid level (:func:`crop_pyramid` pools each segment's own pyramid).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from otcore.methods.plot_tal_model import DetectorOutput, PlotTALConfig, masked_pyramid, ot_align

__all__ = [
    "Targets",
    "regression_ranges",
    "build_targets",
    "sigmoid_focal_loss",
    "giou_loss_1d",
    "detection_loss",
    "crop_pyramid",
    "ot_term_loss",
    "pad_batch",
]


def regression_ranges(levels: int) -> list[tuple[float, float]]:
    """Segment-length ranges (rows) per level: ``[0, 4), [4, 8), [8, 16), ...``, the last up to ∞."""
    bounds = [0.0] + [float(2 ** (l + 2)) for l in range(levels - 1)] + [math.inf]
    return [(bounds[l], bounds[l + 1]) for l in range(levels)]


def build_targets(
    segments: list[list[tuple[float, float, int]]], T0: int, levels: int, n_classes: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Centre-assignment targets for a batch. ``segments[b]`` = ``(start_row, end_row, class)``.

    Returns ``cls [B, L, T0, C]`` (0/1), ``reg [B, L, T0, 2]`` (distances in level units),
    ``pos [B, L, T0]`` (bool).
    """
    B = len(segments)
    cls = torch.zeros(B, levels, T0, n_classes)
    reg = torch.zeros(B, levels, T0, 2)
    pos = torch.zeros(B, levels, T0, dtype=torch.bool)
    best_len = torch.full((B, levels, T0), math.inf)
    ranges = regression_ranges(levels)
    for b, segs in enumerate(segments):
        for s, e, c in segs:
            length = e - s
            l = next(i for i, (lo, hi) in enumerate(ranges) if lo <= length < hi)
            stride = 2**l
            n_l = math.ceil(T0 / stride)
            centres = (np.arange(n_l) + 0.5) * stride
            idx = np.nonzero((centres >= s) & (centres < e))[0]
            if idx.size == 0:
                idx = np.array([min(int(((s + e) / 2) // stride), n_l - 1)])
            for t in idx:
                cls[b, l, t, c] = 1.0
                if length < best_len[b, l, t]:
                    best_len[b, l, t] = length
                    reg[b, l, t, 0] = (centres[t] - s) / stride
                    reg[b, l, t, 1] = (e - centres[t]) / stride
                    pos[b, l, t] = True
    return cls, reg, pos


def sigmoid_focal_loss(
    logits: torch.Tensor, target: torch.Tensor, alpha: float, gamma: float
) -> torch.Tensor:
    """Element-wise focal loss ``−α_t (1 − p_t)^γ log p_t`` (Lin et al. 2017)."""
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    a_t = alpha * target + (1 - alpha) * (1 - target)
    return a_t * (1 - p_t) ** gamma * ce


def giou_loss_1d(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 − GIoU`` of 1-D segments given as (distance to start, distance to end) from a common centre."""
    ps, pe = pred[..., 0], pred[..., 1]
    ts, te = target[..., 0], target[..., 1]
    inter = torch.minimum(ps, ts) + torch.minimum(pe, te)
    union = ps + pe + ts + te - inter
    iou = inter / union.clamp_min(1e-6)
    enclose = torch.maximum(ps, ts) + torch.maximum(pe, te)
    return 1 - (iou - (enclose - union) / enclose.clamp_min(1e-6))


@dataclass(frozen=True)
class Targets:
    """Detection targets of a padded batch (see :func:`build_targets`) and the segment crops of the OT term.

    Attributes:
        cls: ``[B, L, T0, C]``; reg: ``[B, L, T0, 2]``; pos: ``[B, L, T0]``;
        crops: ``(video, start_row, end_row)`` of every marked segment; crop_labels: ``[S]`` their classes.
    """

    cls: torch.Tensor
    reg: torch.Tensor
    pos: torch.Tensor
    crops: list[tuple[int, int, int]]
    crop_labels: torch.Tensor

    @property
    def n_pos(self) -> float:
        """Number of positive positions (at least 1: the focal-loss normaliser)."""
        return max(1.0, float(self.pos.sum()))


def detection_loss(
    out: DetectorOutput, targets: Targets, config: PlotTALConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(L_focal, L_GIoU)``: focal loss summed over valid positions / number of positives, and the mean
    1-D GIoU loss on positive positions (0, with a gradient path, when there is none)."""
    valid = out.mask[..., None].float()
    focal = (
        sigmoid_focal_loss(out.logits, targets.cls, config.focal_alpha, config.focal_gamma) * valid
    ).sum() / targets.n_pos
    if bool(targets.pos.any()):
        iou = giou_loss_1d(out.reg[targets.pos], targets.reg[targets.pos]).mean()
    else:
        iou = out.reg.sum() * 0.0
    return focal, iou


def crop_pyramid(
    embed: torch.Tensor, crops: Sequence[tuple[int, int, int]], levels: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Gather segment crops ``(video, start_row, end_row)`` of ``embed [B, T, E]`` and pool each into
    its own pyramid: per level ``(F_l [S, Lc_l, E], m_l [S, Lc_l])`` (crops padded to the longest)."""
    lengths = [max(1, e - s) for _, s, e in crops]
    lmax = max(lengths)
    dev = embed.device
    b_idx = torch.tensor([b for b, _, _ in crops], device=dev)
    starts = torch.tensor([s for _, s, _ in crops], device=dev)
    offs = torch.arange(lmax, device=dev)
    rows = (starts[:, None] + offs[None]).clamp_max(embed.shape[1] - 1)
    mask = offs[None] < torch.tensor(lengths, device=dev)[:, None]
    x = embed[b_idx[:, None], rows] * mask[..., None]
    return masked_pyramid(x, mask, levels)


def ot_term_loss(out: DetectorOutput, targets: Targets, config: PlotTALConfig) -> torch.Tensor:
    """PLOT's OT term: for every marked segment its own pyramid of adapter features ``F^i_l`` and
    ``d_OT(i, l, c) = <T*, 1 − F^i_l G_cᵀ>`` for all classes (one batched Sinkhorn call per level);
    ``L_OT = CE(softmax_c(−d_OT(i, l, ·)/τ), y_i)`` averaged over segments and levels."""
    losses = []
    for f, m in crop_pyramid(out.embed, targets.crops, config.levels):
        sim = torch.einsum("ste,cne->sctn", f, out.prompts)  # [S, C, Lc_l, N]
        _, d_ot, _ = ot_align(
            sim, m[:, None, :].expand(sim.shape[:-1]), config.eps, config.ot_iters, config.ot_tol
        )
        losses.append(F.cross_entropy(-d_ot / config.ot_temperature, targets.crop_labels))
    return torch.stack(losses).mean()


def pad_batch(feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad ``[T_i, D]`` feature tensors to ``x [B, T0, D]`` (float32) with validity ``mask [B, T0]``."""
    T0 = max(int(f.shape[0]) for f in feats)
    x = torch.zeros(len(feats), T0, int(feats[0].shape[1]), dtype=torch.float32, device=feats[0].device)
    mask = torch.zeros(len(feats), T0, dtype=torch.bool, device=feats[0].device)
    for i, f in enumerate(feats):
        x[i, : f.shape[0]] = f.float()
        mask[i, : f.shape[0]] = True
    return x, mask
