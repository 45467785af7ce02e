"""PLOT-TAL's detector: configuration, adapter, feature pyramid, OT-aligned scoring and heads.

The model's formulas are in :mod:`otcore.methods.plot_tal` (the module docstring); this module holds
the network (:class:`FewShotTAL`) and its building blocks, :mod:`otcore.methods.plot_tal_losses` the
targets and losses, :mod:`otcore.methods.plot_tal` training, decoding and persistence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from otcore.methods.baselines import FixedPrompts, class_prototypes, cosine_similarity_scores
from otcore.methods.class_text import class_texts
from otcore.methods.prompts import PromptEncoder, TextTower, load_text_tower
from otcore.ot import LinearProblem, sinkhorn
from otcore.types import Segment

if TYPE_CHECKING:
    from otcore.methods.sot_glp import SegmentScorer

__all__ = [
    "METHODS",
    "PlotTALConfig",
    "TrainVideo",
    "DetectorOutput",
    "FewShotTAL",
    "Adapter",
    "RegressionHead",
    "masked_pyramid",
    "ot_align",
    "build_model",
    "segments_rows",
    "prototypes",
]

METHODS = ("plot-tal", "coop", "prototype")

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
        """Prompts per class: 1 for CoOp, ``n_prompts`` otherwise."""
        return 1 if self.method == "coop" else self.n_prompts


@dataclass(frozen=True)
class TrainVideo:
    """A training video: features ``[T, D]`` at ``fps`` and its marked segments (seconds)."""

    features: torch.Tensor
    fps: float
    segments: list[Segment]
    name: str = ""


@dataclass(frozen=True)
class DetectorOutput:
    """What :meth:`FewShotTAL.forward` returns for a padded batch of ``B`` videos (``T0`` rows).

    Attributes:
        logits: ``[B, L, T0, C]`` class logits per pyramid position (level ``l`` valid on ``mask[:, l]``).
        reg: ``[B, L, T0, 2]`` distances (start, end) in level units.
        mask: ``[B, L, T0]`` valid positions.
        plans: PLOT-TAL only (else ``None``): per level ``l`` the plans ``[B, C, T_l, N]``.
        embed: ``[B, T0, E]`` level-0 frame embeddings; prompts: ``[C, N, E]``.
    """

    logits: torch.Tensor
    reg: torch.Tensor
    mask: torch.Tensor
    plans: list[torch.Tensor] | None
    embed: torch.Tensor
    prompts: torch.Tensor


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
    """The PLOT-TAL / CoOp / prototype detector (see :mod:`otcore.methods.plot_tal`)."""

    in_mean: torch.Tensor  # buffers (register_buffer)
    in_std: torch.Tensor
    glp: SegmentScorer | None

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
        self.glp = None
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
        out: torch.Tensor = self.adapter(x, mask)
        return out

    def forward(self, x: torch.Tensor, mask: torch.Tensor, prepared: bool = False) -> DetectorOutput:
        """Run the detector on a padded batch ``x [B, T, D]``, ``mask [B, T]`` (``prepared=True`` when
        ``x`` is already ``self.prepare(x, mask)``). See :class:`DetectorOutput`."""
        cfg = self.config
        if not prepared:
            x = self.prepare(x, mask)
        f0 = self.embed(x, mask)
        levels = masked_pyramid(f0, mask, cfg.levels)
        feats, masks = _stack_levels(levels)  # [B, L, T0, E], [B, L, T0]
        G: torch.Tensor = self.prompts()  # [C, N, E]
        plans: list[torch.Tensor] | None = None
        if cfg.method == "plot-tal":
            s, plans = self._ot_scores(levels, G, int(feats.shape[2]))
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
        return DetectorOutput(logits=logits, reg=reg, mask=masks, plans=plans, embed=f0, prompts=G)

    def _ot_scores(
        self, levels: list[tuple[torch.Tensor, torch.Tensor]], G: torch.Tensor, T0: int
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """OT-aligned similarities ``[B, L, T0, C]`` (padded to ``T0`` for the heads) and the plans
        ``[B, C, T_l, N]`` per level: each pyramid level is its own batched Sinkhorn problem over
        (video, class), so no level is padded to the length of level 0."""
        cfg = self.config
        scores, plans = [], []
        for f, m in levels:
            sim = torch.einsum("bte,cne->bctn", F.normalize(f, dim=-1), G)  # [B, C, T_l, N]
            aligned, _, plan = ot_align(
                sim, m[:, None, :].expand(sim.shape[:-1]), cfg.eps, cfg.ot_iters, cfg.ot_tol
            )
            scores.append(F.pad(aligned.transpose(1, 2), (0, 0, 0, T0 - f.shape[1])))  # [B, T0, C]
            plans.append(plan)
        return torch.stack(scores, 1), plans

    def freeze_prompts(self) -> None:
        """Replace the prompt encoder by its current output (a buffer): inference no longer needs the
        text tower, and the saved model is self-contained."""
        with torch.no_grad():
            G = self.prompts().detach().clone()
        self.prompts = FixedPrompts(G)


def segments_rows(video: TrainVideo, class_index: dict[str, int]) -> list[tuple[float, float, int]]:
    """The video's marked segments of known classes as ``(start_row, end_row, class)``, clipped to
    the video (rows = seconds · fps; empty segments dropped)."""
    out: list[tuple[float, float, int]] = []
    T = int(video.features.shape[0])
    for seg in video.segments:
        if seg.label not in class_index:
            continue
        s, e = max(0.0, seg.start * video.fps), min(float(T), seg.end * video.fps)
        if e > s:
            out.append((s, e, class_index[seg.label]))
    return out


def prototypes(
    videos: Sequence[TrainVideo], index: dict[str, int], mean: torch.Tensor | float, std: torch.Tensor | float
) -> torch.Tensor:
    """Class means ``[C, 1, D]`` of the marked input frames, standardised with ``mean``/``std``."""
    feats, masks = [], []
    for v in videos:
        m = torch.zeros(int(v.features.shape[0]), len(index))
        for s, e, c in segments_rows(v, index):
            m[int(math.floor(s)) : max(int(math.ceil(e)), int(math.floor(s)) + 1), c] = 1.0
        feats.append((v.features.float() - mean) / std)
        masks.append(m.to(v.features.device))
    return class_prototypes(feats, masks, len(index))


def build_model(
    config: PlotTALConfig,
    class_names: list[str],
    videos: Sequence[TrainVideo],
    tower: TextTower | None = None,
    descriptions: Mapping[str, str] | None = None,
) -> FewShotTAL:
    """Construct the detector for ``config.method`` (text tower loaded from the config if not given).
    The prompts encode each class's description in ``descriptions`` (class name → text) when it has
    one, else its name (:func:`otcore.methods.class_text.class_texts`: PLOT-TAL's verbose class text);
    the model's class names stay the names."""
    in_dim = int(videos[0].features.shape[1])
    gen = torch.Generator().manual_seed(config.seed)
    if config.method == "prototype":
        index = {c: i for i, c in enumerate(class_names)}
        prompts: nn.Module = FixedPrompts(prototypes(videos, index, 0.0, 1.0))
        return FewShotTAL(config, class_names, in_dim, in_dim, prompts)
    if tower is None:
        tower = load_text_tower(config.text_model, config.text_pretrained, config.text_weights_file, seed=0)
    prompts = PromptEncoder.from_tower(
        tower,
        class_texts(class_names, descriptions),
        n_prompts=config.prompts_per_class,
        n_ctx=config.n_ctx,
        generator=gen,
        init_text=config.ctx_init or None,
    )
    return FewShotTAL(config, class_names, in_dim, tower.embed_dim, prompts)
