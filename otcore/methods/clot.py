r"""CLOT: closed-loop optimal transport for unsupervised action segmentation (on top of ASOT).

Three OT problems, all solved with ASOT's temporally consistent unbalanced fused-GW solver
(:func:`otcore.ot.fused_gw`, no gradient through the plans):

1. **Feature dispatching.** Encoder frames :math:`f_i` (unit norm) are pushed towards the actions
   they resemble, :math:`f'_i = \mathrm{norm}\big(f_i + \frac1K\sum_k \phi(A_k, f_i) A_k\big)` with the
   learnable gate :math:`\phi(A, f) = \sigma(\beta + \alpha\cos(A, f))`. OT₁ on frames → actions gives
   :math:`T`; loss :math:`\mathrm{CE}(\mathrm{softmax}(F' A^\top/\tau), T)`.
2. **Parallel decoder.** :math:`K' \le K` learnable queries attend to the frames (multi-head cross-
   and self-attention, one transformer decoder layer) → segment embeddings :math:`S \in \mathbb R^{K'\times d}`.
   OT₂ on frames → segments gives :math:`T_S`; loss :math:`\mathrm{CE}(\mathrm{softmax}(F' S^\top/\tau), T_S)`.
3. **Refinement.** :math:`F_R = \mathrm{norm}\big(F' + \mathrm{softmax}(F' S^\top / (\tau\sqrt d))\,S\big)`;
   OT₃ on refined frames → actions gives :math:`T_R`; loss :math:`\mathrm{CE}(\mathrm{softmax}(F_R A^\top/\tau), T_R)`.

Cost with the sliced-Wasserstein term: :math:`C_{ij} = 1 - \cos(x_i, a_j) + w\,\mathrm{SWD}(x_i, a_j)`
(:func:`otcore.ot.sliced_wasserstein_cost`, M random projections, p = 1), ``w = sw_weight``.

The authors' code (``elenabbbuenob/CLOT``) differs in kind in two places; both forms are offered
and the code's are the defaults (the methods as their authors wrote them; ``otstudio eval segment``
reports both, see the README's evaluation table):

* ``dispatch_form="code"`` (``FeatureDispatcher``): with :math:`s_{ik} = \sigma(\beta + \alpha\cos(A_k,
  f_i))` (α = 1, β = 0 at the start), every frame joins its most similar action only (a hard mask
  :math:`m_{ik}`); each action aggregates its frames,
  :math:`o_k = (\sum_i m_{ik}s_{ik}f_i + A_k) / (\sum_i m_{ik} + 1)`, and the aggregates are
  redistributed softly, :math:`f'_i = \mathrm{norm}(f_i + \sum_k s_{ik} o_k)`.
  ``"soft"`` (METHODS): :math:`f'_i = \mathrm{norm}(f_i + \frac1K\sum_k s_{ik}A_k)`.
* ``sw_form="code"`` (``SlicedWassersteinCostMatrix``): circular slices
  :math:`\pi_p(x) = \|x - 2\theta_p\|` on M unit directions, L2-normalised over the slices of
  each point, then *sorted over the frames* (and over the actions) slice by slice; the cost is the
  Euclidean distance between row i of the sorted frame slices and row j of the sorted action slices,
  so row i is the i-th order statistic of every slice, not frame i. ``"pointwise"`` (METHODS): the
  closed-form 1-D Wasserstein distance between the two points' projections. The code redraws its
  directions at every call; here they are fixed per model seed, so training and inference see
  the same cost.
Training minimises the sum of the three cross-entropies; inference takes the argmax of the OT₃
plan at the eval settings (OT₁'s when refinement is off). ``dispatch``, ``decoder``, ``refine``
and ``sw_weight = 0`` switch each part off for ablations (all off = ASOT).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from otcore.methods._unsup import OTSettings, seeded_init, solve_temporal_ot
from otcore.methods.asot import ASOT, ASOTConfig

__all__ = ["CLOTConfig", "CLOT", "clot_breakfast_config"]


@dataclass(frozen=True, kw_only=True)
class CLOTConfig(ASOTConfig):
    """:class:`ASOTConfig` plus CLOT's parts: ``n_queries`` K' (``None`` = K), attention heads,
    switches ``dispatch`` / ``decoder`` / ``refine``, the SW cost weight and its projections."""

    n_queries: int | None = None
    n_heads: int = 4
    dispatch: bool = True
    decoder: bool = True
    refine: bool = True
    sw_weight: float = 0.1
    sw_projections: int = 32
    dispatch_form: str = "code"
    sw_form: str = "code"

    def __post_init__(self) -> None:
        if self.dispatch_form not in ("soft", "code"):
            raise ValueError(f"dispatch_form must be soft or code, got {self.dispatch_form!r}")
        if self.sw_form not in ("pointwise", "code"):
            raise ValueError(f"sw_form must be pointwise or code, got {self.sw_form!r}")


def clot_breakfast_config(
    n_clusters: int = 7, radius: float | None = None, eval_tau_b: float | None = 0.01, **overrides: object
) -> CLOTConfig:
    """CLOT with ASOT's Breakfast OT settings (α_train 0.4, α_eval 0.7, training λ 0.1, evaluation
    λ 0.01, ρ 0.2; band radius ``None`` = :data:`otcore.methods.asot.RADIUS_RULE`)."""
    cfg = CLOTConfig(
        n_clusters=n_clusters,
        train_ot=OTSettings(eps=0.07, alpha=0.4, radius=radius, rho=0.2, tau_b=0.1),
        eval_ot=OTSettings(eps=0.04, alpha=0.7, radius=radius, rho=0.2, tau_b=eval_tau_b),
    )
    return replace(cfg, **overrides)  # type: ignore[arg-type]


class CLOT(ASOT):
    """CLOT model; :meth:`fit` / :meth:`predict` as in :class:`otcore.methods.asot.ASOT`."""

    config: CLOTConfig

    def __init__(self, in_dim: int, config: CLOTConfig = CLOTConfig()) -> None:
        super().__init__(in_dim, config)
        d = config.out_dim
        kq = config.n_queries or config.n_clusters
        code_gate = config.dispatch_form == "code"
        self.gate_alpha = nn.Parameter(torch.tensor(1.0 if code_gate else 5.0))
        self.gate_beta = nn.Parameter(torch.tensor(0.0 if code_gate else -2.5))
        heads = config.n_heads if d % config.n_heads == 0 else 1
        with seeded_init(config.seed + 1):
            self.queries = nn.Parameter(torch.randn(kq, d) * 0.5)
            self.seg_decoder = nn.TransformerDecoderLayer(
                d, heads, dim_feedforward=2 * d, dropout=0.0, batch_first=True
            )

    # --- pieces ----------------------------------------------------------------------------
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder output, then feature dispatching (if on)."""
        f: torch.Tensor = self.encoder(x)
        if not self.config.dispatch:
            return f
        a = self.action_embeddings()
        phi = torch.sigmoid(self.gate_beta + self.gate_alpha * (f @ a.T))  # [N, K]
        if self.config.dispatch_form == "soft":
            return nn.functional.normalize(f + phi @ a / a.shape[0], dim=-1)
        hard = nn.functional.one_hot(phi.argmax(-1), a.shape[0]).to(f.dtype)  # [N, K]
        agg = ((hard * phi).T @ f + a) / (hard.sum(0)[:, None] + 1.0)  # [K, d]
        return nn.functional.normalize(f + phi @ agg, dim=-1)

    def cost(self, f: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """``1 − cos`` plus ``sw_weight`` × sliced-Wasserstein distance between points."""
        c = 1.0 - f @ a.T
        cfg = self.config
        if cfg.sw_weight > 0:
            sw = _sw_sorted_cost if cfg.sw_form == "code" else _sw_cost
            c = c + cfg.sw_weight * sw(f, a, cfg.sw_projections, cfg.seed)
        return c

    def segments(self, f: torch.Tensor) -> torch.Tensor:
        """Segment embeddings ``[K', d]`` decoded from frames ``[N, d]`` by the learnable queries."""
        s = self.seg_decoder(self.queries[None], f[None])[0]
        return nn.functional.normalize(s, dim=-1)

    def refine(self, f: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """``F_R = norm(F + softmax(F Sᵀ / (τ√d)) S)``."""
        att = torch.softmax(f @ s.T / (self.config.tau * f.shape[-1] ** 0.5), dim=-1)
        return nn.functional.normalize(f + att @ s, dim=-1)

    def _ce(self, f: torch.Tensor, a: torch.Tensor, ot: OTSettings) -> tuple[torch.Tensor, torch.Tensor]:
        plan = solve_temporal_ot(self.cost(f, a), ot)
        logp = torch.log_softmax(f @ a.T / self.config.tau, dim=-1)
        return -(plan * logp).sum(-1).mean(), plan

    def step_loss(self, x: torch.Tensor) -> torch.Tensor:
        """Sum of the cross-entropies of OT₁ (frames→actions), OT₂ (frames→segments), OT₃ (refined→actions)."""
        cfg = self.config
        f = self.embed(x)
        a = self.action_embeddings()
        loss, _ = self._ce(f, a, cfg.train_ot)
        if cfg.decoder:
            s = self.segments(f)
            l2, _ = self._ce(f, s, cfg.train_ot)
            loss = loss + l2
            if cfg.refine:
                l3, _ = self._ce(self.refine(f, s), a, cfg.train_ot)
                loss = loss + l3
        return loss

    def frame_plan(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Eval plan: OT₃ on refined frames (OT₁ without refinement); OT₂'s plan as an extra."""
        cfg = self.config
        f = self.embed(x)
        a = self.action_embeddings()
        extra: dict[str, torch.Tensor] = {}
        if cfg.decoder:
            s = self.segments(f)
            extra["frames×segments"] = solve_temporal_ot(self.cost(f, s), cfg.eval_ot)
            if cfg.refine:
                f = self.refine(f, s)
        return solve_temporal_ot(self.cost(f, a), cfg.eval_ot), f @ a.T, extra


def _sw_cost(x: torch.Tensor, y: torch.Tensor, n_proj: int, seed: int) -> torch.Tensor:
    """Pairwise sliced-Wasserstein (p = 1) cost between rows of ``x`` and ``y`` via :func:`otcore.ot.sliced_wasserstein_cost`
    (fixed projections per model seed, so the cost is the same function during training and inference)."""
    from otcore.ot import sliced_wasserstein_cost

    return sliced_wasserstein_cost(x, y, n_proj=n_proj, seed=seed)


def _sw_sorted_cost(
    x: torch.Tensor, y: torch.Tensor, n_proj: int, seed: int, radius: float = 2.0
) -> torch.Tensor:
    """The code's sliced-Wasserstein cost ``[N, K]`` (see the module docstring, ``sw_form="code"``):
    circular slices ``‖x − radius·θ_p‖``, normalised over slices, sorted over frames, then pairwise
    Euclidean distances between the sorted rows."""
    g = torch.Generator().manual_seed(seed)
    theta = nn.functional.normalize(torch.randn(n_proj, x.shape[-1], generator=g), dim=-1)
    theta = theta.to(device=x.device, dtype=x.dtype)
    xs = nn.functional.normalize(torch.cdist(x, radius * theta), dim=-1)
    ys = nn.functional.normalize(torch.cdist(y, radius * theta), dim=-1)
    return torch.cdist(xs.sort(dim=0).values, ys.sort(dim=0).values)
