r"""VASOT: joint self-supervised video alignment and action segmentation.

One model, :class:`VASOT`, holds ASOT's frame encoder :math:`f_\theta` (unit-norm embeddings
:math:`F`) and :math:`K` action embeddings :math:`A` (unit norm, k-means initialised); both OT
problems read the same :math:`F` and :math:`A`:

* **segmentation** (ASOT, frame ↔ action): the plan :math:`T^{seg}` of the temporally consistent
  unbalanced fused-GW problem of :mod:`otcore.methods.asot` (:func:`otcore.ot.fused_gw`) on
  :math:`C = 1 - F A^\top`; loss
  :math:`\mathcal L_{seg} = -\frac1N\sum_{i,k}\bar T^{seg}_{ik}\log\mathrm{softmax}_k(F A^\top/\tau)_{ik}`;
* **alignment** (VAOT, frame ↔ frame): for a second video :math:`Y` of the same activity, the plan
  :math:`T^{al}` of the balanced fused-GW alignment problem of :func:`otcore.ot.align` on
  :math:`C_{ij} = 1 - \cos(F^X_i, F^Y_j)` with the temporal prior :math:`\rho R`,
  :math:`R_{ij} = |i/N - j/M|`; loss the cross-entropy of both directions of the similarity,

  .. math::
      \mathcal L_{al} = -\tfrac12\Big(\tfrac1N\sum_{i,j}\bar T^{al}_{ij}\log\mathrm{softmax}_j(F^X F^{Y\top}/\tau)_{ij}
      + \tfrac1M\sum_{j,i}\bar T^{al\top}_{ji}\log\mathrm{softmax}_i(F^Y F^{X\top}/\tau)_{ji}\Big)

  (:math:`\bar T` the row-normalised plan; frames sent to the dummy, when ζ > 0, are left out).

Training minimises :math:`w_{seg}\mathcal L_{seg} + w_{al}\mathcal L_{al}`, :math:`w_{seg} = w_{al} = 1`;
both plans are pseudo-labels without gradient. One step per video per epoch (ASOT's schedule): the
video's sampled frames give :math:`\mathcal L_{seg}` and, with the sampled frames of a random other
video (seeded), :math:`\mathcal L_{al}`. Inference is ASOT's: the segmentation plan at the eval
settings, argmax per frame. With fewer than two videos the alignment term is absent and VASOT is
ASOT.

:func:`find_phases` is the method-level entry for "find phases" on two or more videos of a project.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from otcore.methods._unsup import OTSettings, sample_sorted, standardise
from otcore.methods.align import AlignSettings
from otcore.methods.asot import ASOT, ASOTConfig
from otcore.types import Prediction

__all__ = ["VASOTConfig", "VASOT", "vasot_breakfast_config", "alignment_plan", "find_phases"]


@dataclass(frozen=True)
class VASOTConfig(ASOTConfig):
    """:class:`ASOTConfig` plus the alignment part: loss weights ``w_seg`` / ``w_align`` (both 1 as in
    the paper), the alignment OT settings (VAOT's: ε 0.07, α 0.3, ρ 0.1, balanced, ζ = 0) and the
    temperature of the frame↔frame similarity."""

    w_seg: float = 1.0
    w_align: float = 1.0
    align_ot: AlignSettings = field(
        default_factory=lambda: AlignSettings(eps=0.07, alpha=0.3, radius=None, zeta=0.0, rho=0.1)
    )
    align_tau: float = 0.1


def vasot_breakfast_config(
    n_clusters: int = 7, radius: float | None = None, eval_tau_b: float | None = 0.01, **overrides: object
) -> VASOTConfig:
    """VASOT with ASOT's Breakfast settings (α_train 0.4, α_eval 0.7, training λ 0.1, evaluation λ
    0.01 as in ASOT's code, ρ 0.2) and the same band radius for the segmentation and the alignment
    OT: ``radius``, or when ``None`` ASOT's rule r = 1/(2K) (:func:`otcore.ot.fgw.segment_radius`),
    with the alignment's expected segment count set to K."""
    cfg = VASOTConfig(
        n_clusters=n_clusters,
        train_ot=OTSettings(eps=0.07, alpha=0.4, radius=radius, rho=0.2, tau_b=0.1),
        eval_ot=OTSettings(eps=0.04, alpha=0.7, radius=radius, rho=0.2, tau_b=eval_tau_b),
        align_ot=AlignSettings(eps=0.07, alpha=0.3, radius=radius, zeta=0.0, rho=0.1, n_segments=n_clusters),
    )
    return replace(cfg, **overrides)  # type: ignore[arg-type]


def alignment_plan(fx: torch.Tensor, fy: torch.Tensor, settings: AlignSettings) -> torch.Tensor:
    """The plan ``[N+1, M+1]`` (last row/column = dummy) of :func:`otcore.ot.align` on embeddings
    ``fx [N, d]``, ``fy [M, d]`` at ``settings``, without gradient."""
    from otcore.ot import align

    with torch.no_grad():
        return align(
            fx.detach(),
            fy.detach(),
            eps=settings.eps,
            alpha=settings.alpha,
            r=settings.radius_for(settings.n_segments),
            zeta=settings.zeta,
            rho=settings.rho,
            max_iter=settings.max_iter,
        ).plan


def _prep(x: torch.Tensor | np.ndarray, std: bool, device: torch.device) -> torch.Tensor:
    t = torch.as_tensor(x, dtype=torch.float32).to(device)
    return standardise(t) if std else t


def _plan_cross_entropy(logits: torch.Tensor, plan: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Mean over kept rows of the cross-entropy of ``softmax(logits)`` rows to the row-normalised plan."""
    if not bool(keep.any()):
        return logits.sum() * 0.0
    target = plan / plan.sum(-1, keepdim=True).clamp_min(1e-30)
    logp = torch.log_softmax(logits, dim=-1)
    return -(target * logp).sum(-1)[keep].mean()


class VASOT(ASOT):
    """VASOT model: ASOT's encoder and actions trained on both OT problems (see the module docstring);
    :meth:`fit` / :meth:`predict` as in :class:`otcore.methods.asot.ASOT`."""

    config: VASOTConfig

    def __init__(self, in_dim: int, config: VASOTConfig = VASOTConfig()) -> None:
        super().__init__(in_dim, config)

    def align_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """:math:`\\mathcal L_{al}` for two videos' prepared (sampled) frames ``x [N, D]``, ``y [M, D]``."""
        cfg = self.config
        fx, fy = self.embed(x), self.embed(y)
        plan = alignment_plan(fx, fy, cfg.align_ot)
        n, m = fx.shape[0], fy.shape[0]
        inner = plan[:n, :m]
        keep_x = inner.sum(-1) > 0.5 * plan[:n].sum(-1)  # rows not sent to the dummy
        keep_y = inner.sum(-2) > 0.5 * plan[:, :m].sum(-2)
        sim = fx @ fy.T / cfg.align_tau
        return 0.5 * (_plan_cross_entropy(sim, inner, keep_x) + _plan_cross_entropy(sim.T, inner.T, keep_y))

    def pair_loss(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """``w_seg · L_seg(x) + w_align · L_al(x, y)`` (the alignment term only when ``y`` is given)."""
        cfg = self.config
        loss = cfg.w_seg * self.step_loss(x)
        if y is not None and cfg.w_align > 0:
            loss = loss + cfg.w_align * self.align_loss(x, y)
        return loss

    def fit(
        self,
        videos: Sequence[torch.Tensor | np.ndarray],
        progress: Callable[[float, str], None] | None = None,
    ) -> VASOT:
        """Train on unlabelled videos (each ``[T_v, D]``): per epoch one step per video, its partner a
        random other video (with one video only the alignment term is absent)."""
        cfg = self.config
        device = self.actions.device
        g = torch.Generator().manual_seed(cfg.seed)
        xs = [_prep(v, cfg.standardise, device) for v in videos]
        self.init_actions(xs, g)
        self.actions.requires_grad_(cfg.learn_actions)
        params = [p for p in self.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.train()
        n_v = len(xs)
        for ep in range(cfg.epochs):
            order = torch.randperm(n_v, generator=g).tolist()
            tot = 0.0
            for vi in order:
                idx = sample_sorted(xs[vi].shape[0], cfg.frames_per_video, g).to(device)
                y: torch.Tensor | None = None
                if n_v > 1:
                    vj = int(torch.randint(n_v - 1, (1,), generator=g))
                    vj = vj + 1 if vj >= vi else vj
                    jdx = sample_sorted(xs[vj].shape[0], cfg.frames_per_video, g).to(device)
                    y = xs[vj][jdx]
                loss = self.pair_loss(xs[vi][idx], y)
                opt.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                opt.step()
                tot += float(loss.detach())
            if progress is not None:
                progress((ep + 1) / cfg.epochs, f"epoch {ep + 1}/{cfg.epochs} loss {tot / max(1, n_v):.4f}")
        self.eval()
        return self


def find_phases(
    videos: Sequence[torch.Tensor | np.ndarray],
    n_phases: int,
    *,
    fps: Sequence[float] | float = 1.0,
    names: list[str] | None = None,
    config: VASOTConfig | None = None,
    seed: int = 0,
    epochs: int | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> list[Prediction]:
    """Phases shared by two or more videos of one activity: train :class:`VASOT` with ``n_phases``
    actions on all of them and predict each (the transductive protocol).

    ``videos``: per-video features ``[T_v, D]`` (same ``D``); ``fps``: one rate for all or one per
    video; ``names``: phase names (default ``"cluster k"``); ``config``: defaults to
    :class:`VASOTConfig` with ``n_clusters = n_phases``. Raises ``ValueError`` on fewer than two
    videos (use ASOT for one) or mismatched feature sizes.
    """
    if len(videos) < 2:
        raise ValueError("VASOT needs at least two videos (with one video, use ASOT)")
    shapes = [tuple(v.shape) if isinstance(v, torch.Tensor) else np.asarray(v).shape for v in videos]
    if any(len(s) != 2 or s[0] < 1 for s in shapes):
        raise ValueError(f"each video's features must be [T, D] with T ≥ 1, got shapes {shapes}")
    dims = {int(s[1]) for s in shapes}
    if len(dims) != 1:
        raise ValueError(f"videos have different feature sizes {sorted(dims)}")
    if n_phases < 1:
        raise ValueError(f"n_phases must be ≥ 1, got {n_phases}")
    rates = [float(fps)] * len(videos) if isinstance(fps, (int, float)) else [float(f) for f in fps]
    if len(rates) != len(videos):
        raise ValueError(f"{len(rates)} frame rates for {len(videos)} videos")
    cfg = replace(config or VASOTConfig(), n_clusters=int(n_phases), seed=int(seed))
    if epochs is not None:
        cfg = replace(cfg, epochs=int(epochs))
    model = VASOT(dims.pop(), cfg).fit(list(videos), progress)
    return [model.predict(v, r, names) for v, r in zip(videos, rates)]
