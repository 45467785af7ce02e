r"""PLOT-TAL: few-shot temporal action localization with prompts aligned to frames by optimal transport.

Model (``FewShotTAL``), for a video with frozen features ``x_t`` (``[T, D]``, CLIP image or I3D):

1. Adapter: ``f = Conv1d_1(GELU(Conv1d_3(x / |x|)))`` into the text-embedding space (``E``), then
   L2-normalised.
2. Pyramid: ``F_0 = f``, ``F_l = avgpool_2(F_{l-1})`` (stride 2, masked so padding never mixes in),
   ``L`` levels (default 4). Level ``l`` position ``t`` covers rows ``[t·2^l, (t+1)·2^l)``.
3. Prompts: ``G_c ∈ R^{N×E}``, N learnable CoOp prompts per class through the frozen CLIP text encoder
   (``otcore.methods.prompts``), L2-normalised.
4. OT alignment, per level ``l`` and class ``c`` — all ``(video, level, class)`` problems in ONE batched
   ``otcore.ot.sinkhorn`` call: ``S_{l,c} = F_l G_cᵀ`` (``[T_l, N]``), ``C_{l,c} = 1 − S_{l,c}``,
   ``T* = argmin ⟨T, C⟩ − ε H(T)`` s.t. ``T1 = 1/T_l``, ``Tᵀ1 = 1/N`` (ε default 0.1), ``T*`` without
   gradient. Per-time OT-aligned similarity ``s_{l,t,c} = Σ_n (T*_{tn} / a_t) S_{l,c,tn}`` (the row of the
   plan, normalised, weights the prompts).
5. Heads: classification ``logit_{l,t,c} = exp(κ) s_{l,t,c} + β_c`` (focal loss, sigmoid, ActionFormer
   prior ``β = −log((1−π)/π)``, π = 0.01); boundary regression ``(d^s, d^e) = softplus(h(F_l))·σ_l`` (a
   shared 2-layer Conv1d on the level features, per-level scale ``σ_l``), distances from the position
   centre to the start/end in level units, trained with the 1-D GIoU loss on positive positions.
6. OT term (PLOT's objective): for every marked segment ``i`` (class ``y_i``) its own pyramid of adapter
   features ``F^i_l``, and ``d_OT(i, l, c) = ⟨T*, 1 − F^i_l G_cᵀ⟩`` for all classes (second batched call);
   ``L_OT = CE(softmax_c(−d_OT(i, l, ·)/τ), y_i)`` averaged over segments and levels (τ = 0.07).
   The gradient of ``d_OT`` reaches the adapter and the prompts through ``C`` only.

Loss: ``L = L_focal + λ_iou L_GIoU + λ_OT L_OT`` (defaults 1, 0.1).

Positive positions (ActionFormer centre assignment): position ``t`` of level ``l`` is positive for a
segment ``[s, e)`` (rows) of class ``c`` if its centre ``(t + ½)·2^l`` lies inside and the segment length is
in the level's regression range ``[r_l, r_{l+1})`` with ``r = (0, 4, 8, 16, ..)`` rows (last level up to
∞); a segment with no centre inside gets the position holding its midpoint.

Decoding: ``score = sigmoid(logit)``, segment ``[(t+½)2^l − d^s 2^l, (t+½)2^l + d^e 2^l]`` (rows, clipped to
the video) → seconds (``/fps``); per class, Gaussian soft-NMS (``otcore.metrics.soft_nms``), at most
``max_segments`` per video.

Methods in the same code path (``PlotTALConfig.method``): ``"plot-tal"`` (N prompts, OT scoring + OT
term), ``"coop"`` (N = 1, plain cosine, no OT), ``"prototype"`` (class means of the marked input
frames, cosine, no adapter/prompts; see ``otcore.methods.baselines``). ``scoring="sot-glp"`` re-scores
the detector's segments with SOT-GLP (``otcore.methods.sot_glp``).

Unmarked time in the training videos is treated as background (the few-shot assumption: every
instance of a chosen class in a training video is marked).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from otcore.methods.baselines import FixedPrompts, class_prototypes, cosine_similarity_scores
from otcore.methods.prompts import PromptEncoder, TextTower, load_text_tower
from otcore.metrics import soft_nms
from otcore.ot import LinearProblem, sinkhorn
from otcore.types import Prediction, Segment

__all__ = [
    "METHODS",
    "PlotTALConfig",
    "TrainVideo",
    "FewShotTAL",
    "fit",
    "predict",
    "save_model",
    "load_model",
    "ProgressFn",
]

METHODS = ("plot-tal", "coop", "prototype")

#: ``progress(step, n_steps, losses)``; may raise to cancel training.
ProgressFn = Callable[[int, int, dict[str, float]], None]

_MASS_FLOOR = 1e-6  # padded rows get a negligible mass (Sinkhorn needs a > 0)


@dataclass(frozen=True)
class PlotTALConfig:
    """Hyper-parameters (defaults from the paper/reference code where it states them)."""

    method: str = "plot-tal"
    n_prompts: int = 4
    n_ctx: int = 4
    levels: int = 4
    eps: float = 0.1
    ot_iters: int = 50
    ot_tol: float = 1e-3
    ot_weight: float = 0.1
    ot_temperature: float = 0.07
    iou_weight: float = 1.0
    epochs: int = 100
    lr: float = 1e-2
    weight_decay: float = 1e-4
    dropout: float = 0.3
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    prior_prob: float = 0.01
    nms_sigma: float = 0.5
    min_score: float = 1e-3
    max_segments: int = 100
    scoring: str = "detector"  # "detector" | "sot-glp"
    glp_weight: float = 0.5
    seed: int = 0
    text_model: str = "otstudio-tiny"
    text_pretrained: str | None = None
    text_weights_file: str | None = None
    ctx_init: str = ""  # "" random contexts; else a template ("a photo of a") they start from

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.scoring not in ("detector", "sot-glp"):
            raise ValueError(f"scoring must be 'detector' or 'sot-glp', got {self.scoring!r}")
        if self.levels < 1 or self.n_prompts < 1 or self.eps <= 0:
            raise ValueError("levels and n_prompts must be >= 1 and eps > 0")

    @property
    def prompts_per_class(self) -> int:
        return 1 if self.method == "coop" else self.n_prompts


@dataclass(frozen=True)
class TrainVideo:
    """A training video: features ``[T, D]`` at ``fps`` and its marked segments (seconds)."""

    features: torch.Tensor
    fps: float
    segments: list[Segment]
    name: str = ""


# ----------------------------------------------------------------------------------------------
# building blocks


def masked_pyramid(
    x: torch.Tensor, mask: torch.Tensor, levels: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Average-pooling pyramid of ``x [B, T, E]`` with validity ``mask [B, T]``; stride 2 per level
    (ceil mode). Returns ``[(F_l [B, T_l, E], m_l [B, T_l])]``; padded rows are excluded from means."""
    out = [(x, mask)]
    for _ in range(1, levels):
        x, mask = out[-1]
        w = mask.float()
        num = F.avg_pool1d((x * w[..., None]).transpose(1, 2), 2, 2, ceil_mode=True).transpose(1, 2)
        den = F.avg_pool1d(w[:, None], 2, 2, ceil_mode=True)[:, 0]
        out.append((num / den.clamp_min(1e-6)[..., None], den > 0))
    return out


def _stack_levels(levels: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad every level to ``T_0`` and stack: ``[B, L, T_0, E]`` and mask ``[B, L, T_0]``."""
    T0 = levels[0][0].shape[1]
    feats, masks = [], []
    for f, m in levels:
        pad = T0 - f.shape[1]
        feats.append(F.pad(f, (0, 0, 0, pad)))
        masks.append(F.pad(m, (0, pad), value=False))
    return torch.stack(feats, 1), torch.stack(masks, 1)


def ot_align(
    sim: torch.Tensor, mask: torch.Tensor, eps: float, max_iter: int, tol: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Entropic OT between frames and prompts for a whole batch of problems in one Sinkhorn call.

    ``sim [..., T, N]`` (cosine, with gradient), ``mask [..., T]`` (valid frames). Cost ``1 − sim``,
    marginals uniform over valid frames (padded rows get mass ``1e-6·`` so the solver stays finite)
    and uniform over prompts. Returns ``(aligned [..., T], d_ot [...], plan [..., T, N])``:
    ``aligned_t = Σ_n (T*_{tn}/a_t) sim_{tn}`` and ``d_ot = ⟨T*, 1 − sim⟩`` (gradient through ``sim``).
    """
    cost = 1.0 - sim
    w = mask.to(sim.dtype) + _MASS_FLOOR
    a = (w / w.sum(-1, keepdim=True)).expand(cost.shape[:-1])
    cost_solver = torch.where(mask[..., None], cost.detach(), torch.ones_like(cost.detach()))
    res = sinkhorn(LinearProblem(cost_solver, a=a), eps=eps, max_iter=max_iter, tol=tol)
    plan = res.plan.to(sim.dtype)
    rows = plan / a[..., None]
    aligned = (rows * sim).sum(-1)
    d_ot = (plan * cost * mask[..., None]).sum((-2, -1))
    return aligned, d_ot, plan


class Adapter(nn.Module):
    """``Linear(D→E) → GELU → dropout → (+ Conv1d(E→E, k=3))`` on prepared (standardised, L2-normalised)
    inputs, masked, output normalised (the projection first, so the temporal convolution is cheap)."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.proj = nn.Linear(in_dim, out_dim)
        self.conv = nn.Conv1d(out_dim, out_dim, 3, padding=1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x [B, T, D]``, ``mask [B, T]`` → ``[B, T, E]`` unit rows (zeros on padding)."""
        m = mask[..., None].to(x.dtype)
        h = self.drop(F.gelu(self.proj(x))) * m
        h = h + self.conv(h.transpose(1, 2)).transpose(1, 2)
        return F.normalize(h, dim=-1) * m


class RegressionHead(nn.Module):
    """Shared boundary head: ``Linear → (pyramid) → ReLU → Conv1d_3 → softplus · σ_l`` → ``[B, T_l, 2]``.

    The first layer is linear, so it commutes with the (masked, weights summing to one) average pooling:
    it runs once on level 0 and its output is pooled, instead of running on every level.
    """

    def __init__(self, dim: int, hidden: int, levels: int) -> None:
        super().__init__()
        self.lin = nn.Linear(dim, hidden)
        self.conv2 = nn.Conv1d(hidden, 2, 3, padding=1)
        self.scale = nn.Parameter(torch.ones(levels))

    def forward(self, h: torch.Tensor, level: int) -> torch.Tensor:
        """Distances (start, end) in level units from the pooled hidden features ``[B, T_l, hidden]``."""
        out = self.conv2(F.relu(h).transpose(1, 2)).transpose(1, 2)
        return F.softplus(out) * self.scale[level]


class FewShotTAL(nn.Module):
    """The PLOT-TAL / CoOp / prototype detector (see the module docstring)."""

    def __init__(
        self, config: PlotTALConfig, class_names: list[str], in_dim: int, embed_dim: int, prompts: nn.Module
    ) -> None:
        super().__init__()
        self.config = config
        self.class_names = list(class_names)
        self.in_dim = int(in_dim)
        self.embed_dim = int(embed_dim)
        self.prompts = prompts
        use_adapter = config.method != "prototype"
        self.adapter = Adapter(in_dim, embed_dim, config.dropout) if use_adapter else None
        feat_dim = embed_dim if use_adapter else in_dim
        self.reg_head = RegressionHead(feat_dim, 64, config.levels)
        self.log_scale = nn.Parameter(torch.tensor(math.log(10.0)))
        prior = -math.log((1 - config.prior_prob) / config.prior_prob)
        self.bias = nn.Parameter(torch.full((len(class_names),), prior))
        self.glp: nn.Module | None = None
        self._fixed_levels: tuple[torch.Tensor, Any] | None = None
        self.register_buffer("in_mean", torch.zeros(in_dim))
        self.register_buffer("in_std", torch.ones(in_dim))

    def set_input_stats(self, x: torch.Tensor, mask: torch.Tensor) -> None:
        """Standardise inputs with the per-dimension mean/std of the training frames (I3D/CLIP features
        share a large common direction; without centring every frame has nearly the same cosine)."""
        rows = x[mask].float()
        self.in_mean.copy_(rows.mean(0))
        self.in_std.copy_(rows.std(0).clamp_min(1e-3) if rows.shape[0] > 1 else torch.ones_like(self.in_std))

    # -- features ---------------------------------------------------------------------------
    def prepare(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Standardised, L2-normalised inputs (fixed during training: computed once per batch)."""
        return F.normalize((x - self.in_mean) / self.in_std, dim=-1) * mask[..., None].to(x.dtype)

    def embed(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Frame embeddings ``[B, T, E]`` of prepared inputs (adapter output; inputs for ``prototype``)."""
        if self.adapter is None:
            return x
        return self.adapter(x, mask)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, prepared: bool = False) -> dict[str, Any]:
        """Run the detector on a padded batch ``x [B, T, D]``, ``mask [B, T]`` (``prepared=True`` when
        ``x`` is already ``self.prepare(x, mask)``).

        Returns a dict: ``logits [B, L, T0, C]``, ``reg [B, L, T0, 2]``, ``mask [B, L, T0]``, ``plan``
        ``[B, L, C, T0, N]`` (PLOT-TAL only, else None), ``embed [B, T, E]``, ``prompts [C, N, E]``.
        """
        cfg = self.config
        if not prepared:
            x = self.prepare(x, mask)
        f0 = self.embed(x, mask)
        cached = self._fixed_levels if self.adapter is None else None
        if cached is not None and cached[0] is x:
            levels, feats, masks = cached[1]
        else:
            levels = masked_pyramid(f0, mask, cfg.levels)
            feats, masks = _stack_levels(levels)  # [B, L, T0, E], [B, L, T0]
            if self.adapter is None and prepared:  # inputs fixed: reuse the pyramid next step
                self._fixed_levels = (x, (levels, feats, masks))
        G = self.prompts()  # [C, N, E]
        plan = None
        if cfg.method == "plot-tal":
            sim = torch.einsum("blte,cne->blctn", F.normalize(feats, dim=-1), G)
            m = masks[:, :, None, :].expand(sim.shape[:-1])
            aligned, _, plan = ot_align(sim, m, cfg.eps, cfg.ot_iters, cfg.ot_tol)
            s = aligned.transpose(2, 3)  # [B, L, T0, C]
        else:
            s = cosine_similarity_scores(feats, G)
        logits = self.log_scale.exp() * s + self.bias
        hidden = masked_pyramid(self.reg_head.lin(f0), mask, cfg.levels)
        reg = torch.stack(
            [
                F.pad(self.reg_head(h, l), (0, 0, 0, feats.shape[2] - h.shape[1]))
                for l, (h, _) in enumerate(hidden)
            ],
            1,
        )
        return {"logits": logits, "reg": reg, "mask": masks, "plan": plan, "embed": f0, "prompts": G}

    def freeze_prompts(self) -> None:
        """Replace the prompt encoder by its current output (a buffer): inference no longer needs the
        text tower, and the saved model is self-contained."""
        with torch.no_grad():
            G = self.prompts().detach().clone()
        self.prompts = FixedPrompts(G)


# ----------------------------------------------------------------------------------------------
# targets and losses


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


def _crop_pyramid(
    embed: torch.Tensor, crops: list[tuple[int, int, int]], levels: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gather segment crops ``(video, start_row, end_row)`` of ``embed [B, T, E]`` and pool each into
    its own pyramid: ``[S, L, Lmax, E]``, mask ``[S, L, Lmax]``."""
    lengths = [max(1, e - s) for _, s, e in crops]
    lmax = max(lengths)
    dev = embed.device
    b_idx = torch.tensor([b for b, _, _ in crops], device=dev)
    starts = torch.tensor([s for _, s, _ in crops], device=dev)
    offs = torch.arange(lmax, device=dev)
    rows = (starts[:, None] + offs[None]).clamp_max(embed.shape[1] - 1)
    mask = offs[None] < torch.tensor(lengths, device=dev)[:, None]
    x = embed[b_idx[:, None], rows] * mask[..., None]
    return _stack_levels(masked_pyramid(x, mask, levels))


def _segments_rows(video: TrainVideo, class_index: dict[str, int]) -> list[tuple[float, float, int]]:
    out = []
    T = int(video.features.shape[0])
    for seg in video.segments:
        if seg.label not in class_index:
            continue
        s, e = max(0.0, seg.start * video.fps), min(float(T), seg.end * video.fps)
        if e > s:
            out.append((s, e, class_index[seg.label]))
    return out


def _pad_batch(feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    T0 = max(int(f.shape[0]) for f in feats)
    x = torch.zeros(len(feats), T0, int(feats[0].shape[1]), dtype=torch.float32, device=feats[0].device)
    mask = torch.zeros(len(feats), T0, dtype=torch.bool, device=feats[0].device)
    for i, f in enumerate(feats):
        x[i, : f.shape[0]] = f.float()
        mask[i, : f.shape[0]] = True
    return x, mask


# ----------------------------------------------------------------------------------------------
# training and inference


def _prototypes(
    videos: Sequence[TrainVideo], index: dict[str, int], mean: torch.Tensor | float, std: torch.Tensor | float
) -> torch.Tensor:
    feats, masks = [], []
    for v in videos:
        m = torch.zeros(int(v.features.shape[0]), len(index))
        for s, e, c in _segments_rows(v, index):
            m[int(math.floor(s)) : max(int(math.ceil(e)), int(math.floor(s)) + 1), c] = 1.0
        feats.append((v.features.float() - mean) / std)
        masks.append(m.to(v.features.device))
    return class_prototypes(feats, masks, len(index))


def build_model(
    config: PlotTALConfig,
    class_names: list[str],
    videos: Sequence[TrainVideo],
    tower: TextTower | None = None,
) -> FewShotTAL:
    """Construct the detector for ``config.method`` (text tower loaded from the config if not given)."""
    in_dim = int(videos[0].features.shape[1])
    gen = torch.Generator().manual_seed(config.seed)
    if config.method == "prototype":
        index = {c: i for i, c in enumerate(class_names)}
        prompts: nn.Module = FixedPrompts(_prototypes(videos, index, 0.0, 1.0))
        return FewShotTAL(config, class_names, in_dim, in_dim, prompts)
    if tower is None:
        tower = load_text_tower(config.text_model, config.text_pretrained, config.text_weights_file, seed=0)
    prompts = PromptEncoder.from_tower(
        tower,
        class_names,
        n_prompts=config.prompts_per_class,
        n_ctx=config.n_ctx,
        generator=gen,
        init_text=config.ctx_init or None,
    )
    return FewShotTAL(config, class_names, in_dim, tower.embed_dim, prompts)


def fit(
    videos: Sequence[TrainVideo],
    class_names: Sequence[str] | None = None,
    config: PlotTALConfig | None = None,
    tower: TextTower | None = None,
    progress: ProgressFn | None = None,
) -> FewShotTAL:
    """Train a few-shot detector on the marked segments of ``videos`` (steps numbered as they run).

    1. classes = ``class_names`` or the sorted labels of the marked segments;
    2. targets per pyramid level (centre assignment, see module docstring);
    3. full-batch AdamW for ``config.epochs`` steps with a cosine learning-rate decay;
       loss = focal + λ_iou·GIoU (+ λ_OT·L_OT for PLOT-TAL); ``progress(step, n, losses)`` each step;
    4. the prompt encoder is replaced by its output (``freeze_prompts``);
    5. with ``scoring="sot-glp"``, a SOT-GLP re-scorer is trained on the same marks (+ background).
    """
    config = config or PlotTALConfig()
    videos = [v for v in videos if int(v.features.shape[0]) > 0]
    if class_names is None:
        class_names = sorted({s.label for v in videos for s in v.segments})
    class_names = list(class_names)
    if not class_names or not videos:
        raise ValueError("need at least one video with a marked segment")
    index = {c: i for i, c in enumerate(class_names)}
    torch.manual_seed(config.seed)
    model = build_model(config, class_names, videos, tower)
    device = videos[0].features.device
    model.to(device)

    x, mask = _pad_batch([v.features for v in videos])
    model.set_input_stats(x, mask)
    if config.method == "prototype":  # prototypes of the standardised frames
        model.prompts = FixedPrompts(_prototypes(videos, index, model.in_mean, model.in_std))
    rows = [_segments_rows(v, index) for v in videos]
    cls_t, reg_t, pos_t = (
        t.to(device) for t in build_targets(rows, x.shape[1], config.levels, len(class_names))
    )
    crops = [
        (b, int(math.floor(s)), max(int(math.ceil(e)), int(math.floor(s)) + 1), c)
        for b, segs in enumerate(rows)
        for s, e, c in segs
    ]
    crop_labels = torch.tensor([c for *_, c in crops], device=device)
    use_ot_term = config.method == "plot-tal" and config.ot_weight > 0 and crops

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, config.epochs))
    n_pos = max(1.0, float(pos_t.sum()))
    with torch.no_grad():
        x = model.prepare(x, mask)
    _init_bias(model, x, mask)
    for step in range(config.epochs):
        model.train()
        out = model(x, mask, prepared=True)
        valid = out["mask"][..., None].float()
        focal = (
            sigmoid_focal_loss(out["logits"], cls_t, config.focal_alpha, config.focal_gamma) * valid
        ).sum() / n_pos
        if bool(pos_t.any()):
            iou = giou_loss_1d(out["reg"][pos_t], reg_t[pos_t]).mean()
        else:
            iou = out["reg"].sum() * 0.0
        loss = focal + config.iou_weight * iou
        losses = {"focal": float(focal.detach()), "iou": float(iou.detach())}
        if use_ot_term:
            cf, cm = _crop_pyramid(out["embed"], [c[:3] for c in crops], config.levels)  # [S, L, Lc, E]
            sim = torch.einsum("slte,cne->slctn", cf, out["prompts"])
            m = cm[:, :, None, :].expand(sim.shape[:-1])
            _, d_ot, _ = ot_align(sim, m, config.eps, config.ot_iters, config.ot_tol)  # [S, L, C]
            logits = (-d_ot / config.ot_temperature).flatten(0, 1)
            ot_loss = F.cross_entropy(logits, crop_labels.repeat_interleave(config.levels))
            loss = loss + config.ot_weight * ot_loss
            losses["ot"] = float(ot_loss.detach())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses["loss"] = float(loss.detach())
        if progress is not None:
            progress(step + 1, config.epochs, losses)
    model.eval()
    model._fixed_levels = None
    model.freeze_prompts()
    if config.scoring == "sot-glp":
        from otcore.methods.sot_glp import SotGlpConfig, fit_segment_scorer

        model.glp = fit_segment_scorer(
            videos, class_names, SotGlpConfig(seed=config.seed), tower=tower, text_model=config.text_model
        )
    return model


@torch.no_grad()
def _init_bias(model: FewShotTAL, x: torch.Tensor, mask: torch.Tensor, quantile: float = 0.9) -> None:
    """Data-driven prior: ``β_c = −log((1−π)/π) − e^κ q_c`` with ``q_c`` the ``quantile`` of the class's
    similarity over the training positions, so that initially only the top positions score above π."""
    model.eval()
    out = model(x, mask, prepared=True)
    scale = model.log_scale.exp()
    s = (out["logits"] - model.bias) / scale  # [B, L, T0, C]
    valid = out["mask"]
    prior = -math.log((1 - model.config.prior_prob) / model.config.prior_prob)
    for c in range(s.shape[-1]):
        q = torch.quantile(s[..., c][valid].float(), quantile)
        model.bias[c] = prior - scale * q
    model.train()


@torch.no_grad()
def _decode(
    model: FewShotTAL, out: dict[str, Any], b: int, n_frames: int, fps: float
) -> list[tuple[str, float, float, float]]:
    cfg = model.config
    probs = torch.sigmoid(out["logits"][b]).cpu()  # [L, T0, C]
    reg = out["reg"][b].cpu()
    mask = out["mask"][b].cpu()
    cand: dict[int, list[tuple[float, float, float]]] = {}
    for l in range(cfg.levels):
        stride = 2**l
        valid = mask[l].nonzero().flatten()
        if valid.numel() == 0:
            continue
        p = probs[l, valid]  # [t, C]
        centre = (valid.double() + 0.5) * stride
        start = (centre - reg[l, valid, 0].double() * stride).clamp_min(0.0)
        end = (centre + reg[l, valid, 1].double() * stride).clamp_max(float(n_frames))
        for c in range(p.shape[1]):
            keep = (p[:, c] >= cfg.min_score) & (end > start)
            for i in keep.nonzero().flatten().tolist():
                cand.setdefault(c, []).append((float(start[i]), float(end[i]), float(p[i, c])))
    dets: list[tuple[str, float, float, float]] = []
    for c, items in cand.items():
        items = sorted(items, key=lambda r: -r[2])[: 4 * cfg.max_segments]
        segs = np.array([[s, e] for s, e, _ in items])
        scores = np.array([sc for *_, sc in items])
        keep, new_scores = soft_nms(
            segs, scores, sigma=cfg.nms_sigma, score_threshold=cfg.min_score, top_k=cfg.max_segments
        )
        for k, sc in zip(keep, new_scores):
            dets.append((model.class_names[c], segs[k, 0] / fps, segs[k, 1] / fps, float(sc)))
    dets.sort(key=lambda r: -r[3])
    return dets[: cfg.max_segments]


@torch.no_grad()
def predict(model: FewShotTAL, features: torch.Tensor, fps: float, with_plans: bool = True) -> Prediction:
    """Detect segments in one video (``features [T, D]`` at ``fps``).

    Returns a ``Prediction`` with scored segments (seconds), ``frame_scores [T, C]`` (level-0 class
    probabilities) and, for PLOT-TAL, ``plans["level{l}/{class}"] = T* [T_l, N]`` (no padding).
    """
    model.eval()
    dev = next(model.parameters()).device
    x = features.to(dev).float()[None]
    mask = torch.ones(1, x.shape[1], dtype=torch.bool, device=dev)
    out = model(x, mask)
    n_frames = int(x.shape[1])
    dets = _decode(model, out, 0, n_frames, fps)
    if model.glp is not None and dets:
        from otcore.methods.sot_glp import rescore_segments

        dets = rescore_segments(model.glp, features, fps, dets, weight=model.config.glp_weight)
    segments = [Segment(lbl, float(s), float(e), float(sc)) for lbl, s, e, sc in dets if e > s]
    plans: dict[str, torch.Tensor] = {}
    if with_plans and out["plan"] is not None:
        plan = out["plan"][0].cpu()  # [L, C, T0, N]
        for l in range(model.config.levels):
            n_l = int(out["mask"][0, l].sum())
            for c, name in enumerate(model.class_names):
                plans[f"level{l}/{name}"] = plan[l, c, :n_l] * n_l  # rows sum to 1
    frame_scores = torch.sigmoid(out["logits"][0, 0, :n_frames]).cpu()
    return Prediction(segments=segments, frame_scores=frame_scores, plans=plans)


def save_model(model: FewShotTAL, path: str | Path, meta: dict[str, Any] | None = None) -> Path:
    """Save a trained (prompt-frozen) model as a self-contained torch file."""
    if not isinstance(model.prompts, FixedPrompts):
        model.freeze_prompts()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "config": asdict(model.config),
        "class_names": model.class_names,
        "in_dim": model.in_dim,
        "embed_dim": model.embed_dim,
        "prompt_shape": list(model.prompts.features.shape),
        "state": {k: v for k, v in model.state_dict().items() if not k.startswith("glp.")},
        "glp": None if model.glp is None else model.glp.export(),
        "meta": meta or {},
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)
    return path


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> FewShotTAL:
    """Load a model saved by ``save_model`` (no text tower needed)."""
    blob = torch.load(Path(path), map_location=map_location, weights_only=False)
    config = PlotTALConfig(**blob["config"])
    prompts = FixedPrompts(torch.zeros(blob["prompt_shape"]))
    model = FewShotTAL(config, blob["class_names"], blob["in_dim"], blob["embed_dim"], prompts)
    model.load_state_dict(blob["state"])
    if blob.get("glp") is not None:
        from otcore.methods.sot_glp import SegmentScorer

        model.glp = SegmentScorer.from_export(blob["glp"])
    model.eval()
    return model


def with_method(config: PlotTALConfig, method: str, **changes: Any) -> PlotTALConfig:
    """A copy of ``config`` for another method name (``plot-tal``, ``coop``, ``prototype``, ``sot-glp``)."""
    if method == "sot-glp":
        return replace(config, method="plot-tal", scoring="sot-glp", **changes)
    return replace(config, method=method, scoring="detector", **changes)


__all__ += ["with_method", "masked_pyramid", "ot_align", "build_targets", "regression_ranges"]
