r"""CASE: clustering-assisted weakly supervised temporal action localization (video-level labels only).

Snippet features :math:`F \in \mathbb R^{T\times D}` of a video with video-level labels
:math:`y \in \{0,1\}^G`. The defaults follow the authors' code (``Qinying-Liu/CASE``) where the paper
and the code differ; each such choice is a field of :class:`CASEConfig`, so the paper's form stays
available. Two defaults are not the code's: the paper's rank prior and the ``"replace"`` fusion
(chosen on seeds 0-9 of ``otstudio eval weak``, see :mod:`otcore.bench.weak`).

Baseline (two branches).
  * Classification branch: T-CAS :math:`P^V \in \mathbb R^{T\times G}` (logits). MIL: per class the
    :math:`k = \lceil T/8\rceil` snippets of highest *selection score* :math:`s_{t,c}`; the video
    logit is the mean T-CAS over them. ``mil="attention"`` (code):
    :math:`s_{t,c} = (\mathrm{softmax}_c P^V_t + P^A_t)/2`; ``mil="cas"``: :math:`s = P^V`.
    ``video_loss="softmax"`` (code): cross-entropy of the softmax of the video logits to the
    normalised label vector :math:`y/\|y\|_1`; ``"bce"``: multi-label binary cross-entropy.
  * Attention branch: embeddings :math:`E` (post-ReLU) and foreground probability
    :math:`P^A \in [0,1]^T`, trained with pseudo-labels :math:`Q^A` (snippets selected by the MIL
    of a ground-truth class are positive) under the generalised BCE (GCE, :math:`\gamma` = 0.7).
    ``att_negatives="all"`` (code): every other snippet of the video is a negative and the two
    sums are normalised separately per video,
    :math:`L_A = \frac1B\sum_b \big[\frac{\sum_t Q^A_t\,\ell^+_t}{\sum_t Q^A_t}
    + \frac{\sum_t (1-Q^A_t)\,\ell^-_t}{\sum_t (1-Q^A_t)}\big]` with
    :math:`\ell^+ = (1-(P^A)^\gamma)/\gamma`, :math:`\ell^- = (1-(1-P^A)^\gamma)/\gamma`;
    ``"lowest"``: only the :math:`k` snippets least like any ground-truth class are negatives and
    all confident snippets share one mean.

Snippet clustering (SCC). A cluster head on :math:`E` gives logits :math:`P^S\in\mathbb R^{N\times K}`
(N snippets of the batch). ``cluster_head="cosine"`` (code): :math:`P^S = s\,\hat E W^\top` with
unit-norm embeddings :math:`\hat E`, unit-norm prototypes :math:`W` (renormalised every step), scale
:math:`s = 10` and no bias; ``"linear"``: an affine layer on :math:`E`. Pseudo-labels :math:`Q^S` =
3 Sinkhorn iterations of :class:`otcore.ot.LinearProblem` (SeLa-style early stop) on
:math:`-\log\mathrm{softmax}(P^S)` with ε = 0.5 (the code's ``exp(20 cos)`` kernel), equipartition
(:math:`a = 1/N`, :math:`b = 1/K`) and a rank prior :math:`\hat Q`:

  * ``rank_prior="paper"``: :math:`\hat Q_{nk}\propto\exp(-(r_n/N - Q^C_{k,1})^2/2\sigma^2)`,
    :math:`r_n` the rank of snippet n by :math:`P^A` ascending, σ = ``sigma`` (0.3);
  * ``rank_prior="code"``: :math:`\hat Q_{nk}\propto\exp(-((\pi_n+1)/N - (1-Q^C_{k,1}))^2/2\cdot 10^2)`
    with :math:`\pi = \mathrm{argsort}(-P^A)` (a permutation of snippet indices, not ranks) and
    σ = 10, which makes the prior almost flat.

:math:`L_S = \mathrm{CE}(P^S, Q^S)`.

Cluster classification (CCC). Prototypes :math:`\bar E^S_k` (:math:`Q^S`-weighted means of E),
foreground/background prototypes :math:`\bar E^A` (:math:`Q^A`- and :math:`(1-Q^A)`-weighted means),
:math:`P^C_{k,i} = \mathrm{softmax}_i(\rho\cos(\bar E^S_k,\bar E^A_i))`, ρ = 10;
:math:`Q^C` = Sinkhorn on :math:`-\log P^C` with the non-uniform marginal
:math:`\beta^C = [1-\overline{Q^A}, \overline{Q^A}]`; :math:`L_C = \mathrm{CE}(P^C, Q^C)`.
(Departure, ``ccc_centre=True``: cosines of prototypes minus the batch's mean embedding, see
:func:`cluster_class_logits`; E is post-ReLU and raw cosines of its prototypes all sit near 1.)
The foreground share :math:`Q^C_{:,1}` is kept as a running mean over batches (momentum 0.9; the
code keeps the last batch's).

Training :math:`L = L_V + L_A + \lambda_S L_S + \lambda_C L_C` (code: λ_S 1, λ_C 0.3), Adam
(code: lr 1e-4, weight decay 5e-4). Testing: :math:`P^T = \mathrm{softmax}(P^S)\,Q^C_{:,1}`.
``fusion="per_class"`` (code): the localisation curve of class c is
:math:`(\mathrm{softmax}_c P^V + P^A + P^T)/3` (baseline: :math:`(\mathrm{softmax}_c P^V + P^A)/2`),
and the test-time MIL selects with the same curve; ``"replace"`` (the paper's fusion inside the
code's curve): :math:`(\mathrm{softmax}_c P^V + P^M)/2` with :math:`P^M = \tfrac12 P^A + \tfrac12 P^T`
in place of the baseline's :math:`P^A`, so the class evidence keeps its weight ½ and the clusters
share the class-agnostic half with the attention; ``"agnostic"``: :math:`P^M = \tfrac12 P^A + \tfrac12
P^T` for every class (baseline :math:`P^A`). The class-agnostic foreground curve ``p_fg`` is the
highest curve over the predicted classes. With ``clustering=False`` the model is the attention-only
baseline.

Remaining departures from the code: one stream on the concatenated features (the code runs RGB and
flow as two streams and averages them), kernel-3 convolutions with 128 channels and dropout (code:
kernel 1, 512 channels), sequences at their full length (code: 750 sampled snippets, ×24 linear
upsampling before thresholding), hard NMS (code: soft NMS).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from otcore.methods._unsup import seeded_init
from otcore.methods.case_ops import CODE_THRESHOLDS, cluster_class_logits, foreground_segments, rank_prior
from otcore.types import Prediction

__all__ = [
    "CASEConfig",
    "CASE",
    "CASEOutput",
    "CODE_THRESHOLDS",
    "cluster_class_logits",
    "foreground_segments",
    "rank_prior",
]

_CHOICES: dict[str, tuple[str, ...]] = {
    "cluster_head": ("cosine", "linear"),
    "mil": ("attention", "cas"),
    "video_loss": ("softmax", "bce"),
    "att_negatives": ("all", "lowest"),
    "rank_prior": ("paper", "code"),
    "fusion": ("per_class", "replace", "agnostic"),
}


@dataclass(frozen=True, kw_only=True)
class CASEConfig:
    """Hyper-parameters of :class:`CASE`; the string fields choose between the code's form (default)
    and the paper's or an earlier form (see the module docstring). K ≥ 16 clusters as the paper
    recommends.

    ``clustering = False`` is the attention-only baseline; ``cluster_grad = False`` trains the
    clustering heads on detached embeddings (an ablation: the clusters then cannot shape E).
    ``class_threshold``: video score a class needs to be predicted (``None``: the code's 0.25 for
    softmax scores, 0.5 for sigmoid scores)."""

    n_clusters: int = 16
    hidden: int = 128
    gamma: float = 0.7
    topk_ratio: float = 0.125
    sinkhorn_eps: float = 0.5
    sinkhorn_iters: int = 3
    cluster_head: str = "cosine"
    head_scale: float = 10.0
    mil: str = "attention"
    video_loss: str = "softmax"
    att_negatives: str = "all"
    rank_prior: str = "paper"
    sigma: float = 0.3
    rho: float = 10.0
    ccc_centre: bool = True
    lambda_s: float = 1.0
    lambda_c: float = 0.3
    fusion: str = "replace"
    clustering: bool = True
    cluster_grad: bool = True
    class_threshold: float | None = None
    epochs: int = 50
    batch_size: int = 8
    lr: float = 1e-4
    weight_decay: float = 5e-4
    dropout: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"CASE {name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )
        if self.n_clusters < 2 or self.epochs < 0 or self.batch_size < 1:
            raise ValueError("CASE needs n_clusters >= 2, epochs >= 0 and batch_size >= 1")

    @property
    def video_threshold(self) -> float:
        """Video score a class needs to be predicted (see ``class_threshold``)."""
        if self.class_threshold is not None:
            return self.class_threshold
        return 0.25 if self.video_loss == "softmax" else 0.5


@dataclass(frozen=True)
class CASEOutput:
    """Per-snippet outputs of one video: T-CAS logits ``cas [T, G]``, video scores ``[G]``
    (probabilities), ``p_att``, ``p_clu`` (each ``[T]``), per-class localisation curves
    ``p_class [T, G]``, the predicted ``classes``, the class-agnostic foreground ``p_fg [T]`` (the
    highest curve over the predicted classes) and cluster probabilities ``p_clusters [T, K]``."""

    cas: torch.Tensor
    video_scores: torch.Tensor
    p_att: torch.Tensor
    p_clu: torch.Tensor
    p_fg: torch.Tensor
    p_clusters: torch.Tensor
    p_class: torch.Tensor
    classes: tuple[int, ...]


class _CosineHead(nn.Module):
    """``scale · cos(E, W)``: unit-norm inputs and unit-norm prototypes, no bias (the code's head)."""

    def __init__(self, dim: int, k: int, scale: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(nn.init.kaiming_uniform_(torch.empty(k, dim), a=math.sqrt(5)))
        self.out_features = k
        self.scale = scale

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        """``[N, dim] → [N, K]`` logits."""
        w = nn.functional.normalize(self.weight, dim=-1)
        return self.scale * nn.functional.normalize(e, dim=-1) @ w.T


class CASE(nn.Module):
    """The CASE model (classification + attention branches, snippet clustering, cluster classification)."""

    cluster_fg: torch.Tensor

    def __init__(self, in_dim: int, n_classes: int, config: CASEConfig = CASEConfig()) -> None:
        super().__init__()
        self.config = config
        # weights drawn from the config's seed, not the process's global RNG: same config, same model
        with seeded_init(config.seed):
            self._build(in_dim, n_classes)
        # foreground share of each cluster (Q^C_{:,1}); updated from every training batch
        self.register_buffer("cluster_fg", torch.full((config.n_clusters,), 0.5))

    def _build(self, in_dim: int, n_classes: int) -> None:
        config = self.config
        h = config.hidden
        self.cls_body = nn.Sequential(
            nn.Conv1d(in_dim, h, 3, padding=1), nn.ReLU(), nn.Dropout(config.dropout)
        )
        self.cls_head = nn.Conv1d(h, n_classes, 1)
        self.att_body = nn.Sequential(
            nn.Conv1d(in_dim, h, 3, padding=1), nn.ReLU(), nn.Dropout(config.dropout)
        )
        self.att_head = nn.Conv1d(h, 1, 1)
        self.clu_head: nn.Module = (
            _CosineHead(h, config.n_clusters, config.head_scale)
            if config.cluster_head == "cosine"
            else nn.Linear(h, config.n_clusters)
        )

    def _branches(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x [B, T, D]`` → (CAS logits [B, T, G], attention logits [B, T], embeddings E [B, T, h])."""
        xc = x.transpose(1, 2)
        cas = self.cls_head(self.cls_body(xc)).transpose(1, 2)
        e = self.att_body(xc)
        att = self.att_head(e)[:, 0]
        return cas, att, e.transpose(1, 2)

    def _k(self, t: int) -> int:
        return max(1, int(math.ceil(t * self.config.topk_ratio)))

    def _selection(self, cas: torch.Tensor, pa: torch.Tensor) -> torch.Tensor:
        """MIL selection scores ``[..., T, G]`` from CAS logits ``[..., T, G]`` and ``P^A [..., T]``."""
        if self.config.mil == "cas":
            return cas
        return 0.5 * (torch.softmax(cas, -1) + pa.unsqueeze(-1))

    def _video_loss(self, vid_logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.config.video_loss == "bce":
            return nn.functional.binary_cross_entropy_with_logits(vid_logits, y)
        target = y / y.sum(-1, keepdim=True).clamp_min(1e-8)
        return -(target * torch.log_softmax(vid_logits, -1)).sum(-1).mean()

    # ------------------------------------------------------------------------------------------
    def _losses(self, x: torch.Tensor, mask: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg = self.config
        cas, att_logit, e = self._branches(x)
        b, t, _ = cas.shape
        pa = torch.sigmoid(att_logit).clamp(1e-6, 1 - 1e-6)
        sel = self._selection(cas, pa).detach().masked_fill(~mask[..., None], -float("inf"))
        lengths = mask.sum(1)
        vid_logits = []
        qa = torch.zeros(b, t, device=x.device)
        qmask = torch.zeros(b, t, dtype=torch.bool, device=x.device)
        for i in range(b):
            k = self._k(int(lengths[i]))
            top = sel[i].topk(k, dim=0).indices  # [k, G]
            vid_logits.append(cas[i].gather(0, top).mean(0))
            gt = torch.nonzero(y[i] > 0).flatten()
            for c in gt.tolist():
                qa[i, top[:, c]] = 1.0
            if cfg.att_negatives == "lowest" and len(gt):
                # confident negatives: the k snippets least like any ground-truth class
                low = cas[i, :, gt].detach().max(-1).values.masked_fill(~mask[i], float("inf"))
                qmask[i, low.topk(min(k, int(lengths[i])), largest=False).indices] = True
                qmask[i] |= qa[i] > 0
        l_v = self._video_loss(torch.stack(vid_logits), y)
        gam = cfg.gamma
        pos_l = (1 - pa**gam) / gam
        neg_l = (1 - (1 - pa) ** gam) / gam
        if cfg.att_negatives == "all":
            pos, neg = qa * mask, (1 - qa) * mask
            l_a = (
                (pos_l * pos).sum(1) / pos.sum(1).clamp_min(1e-7)
                + (neg_l * neg).sum(1) / neg.sum(1).clamp_min(1e-7)
            ).mean()
        else:
            gce = qa * pos_l + (1 - qa) * neg_l
            l_a = (gce * qmask).sum() / qmask.sum().clamp_min(1)
        out = {"L_V": l_v, "L_A": l_a}
        if not cfg.clustering:
            return out
        # snippet clustering with the rank prior and equipartition
        m = mask.reshape(-1)
        en = e.reshape(b * t, -1)[m]
        if not cfg.cluster_grad:
            en = en.detach()
        pa_n = pa.reshape(-1)[m].detach()
        qa_n = qa.reshape(-1)[m]
        logits_s = self.clu_head(en)
        prior = rank_prior(pa_n, self.cluster_fg, form=cfg.rank_prior, sigma=cfg.sigma)
        qs = self._self_label(torch.softmax(logits_s, -1), prior=prior)
        l_s = -(qs * torch.log_softmax(logits_s, -1)).sum(-1).mean()
        # cluster classification with the empirical foreground marginal
        logits_c = cluster_class_logits(en, qs, qa_n, cfg.rho, centre=cfg.ccc_centre)
        beta = float(qa_n.mean().clamp(0.02, 0.98))
        qc = self._self_label(torch.softmax(logits_c, -1), b=torch.tensor([1 - beta, beta], device=x.device))
        with torch.no_grad():
            self.cluster_fg.mul_(0.9).add_(0.1 * qc[:, 1])
        l_c = -(qc * torch.log_softmax(logits_c, -1)).sum(-1).mean()
        out.update({"L_S": cfg.lambda_s * l_s, "L_C": cfg.lambda_c * l_c})
        return out

    def _self_label(
        self, probs: torch.Tensor, prior: torch.Tensor | None = None, b: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Pseudo-labels (rows sum to one, no gradient): a few Sinkhorn iterations on ``−log probs``
        (SeLa-style early stop) with the optional ``prior`` and column marginal ``b``."""
        from otcore.ot import LinearProblem, sinkhorn

        cfg = self.config
        with torch.no_grad():
            q = sinkhorn(
                LinearProblem(-torch.log(probs.detach() + 1e-8), b=b, prior=prior),
                eps=cfg.sinkhorn_eps,
                max_iter=cfg.sinkhorn_iters,
                tol=0.0,
            ).plan
            return q / q.sum(-1, keepdim=True).clamp_min(1e-30)

    def fit(
        self,
        videos: list[np.ndarray | torch.Tensor],
        labels: list[list[int]],
        progress: Callable[[float, str], None] | None = None,
    ) -> CASE:
        """Train on videos ``[T_v, D]`` with video-level label index lists."""
        cfg = self.config
        torch.manual_seed(cfg.seed)
        g = torch.Generator().manual_seed(cfg.seed)
        dev = self.cluster_fg.device
        xs = [torch.as_tensor(np.asarray(v), dtype=torch.float32) for v in videos]
        n_cls = self.cls_head.out_channels
        ys = []
        for lab in labels:
            yv = torch.zeros(n_cls)
            yv[list(lab)] = 1.0
            ys.append(yv)
        opt = torch.optim.Adam(self.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.train()
        for ep in range(cfg.epochs):
            order = torch.randperm(len(xs), generator=g).tolist()
            tot = 0.0
            for s in range(0, len(order), cfg.batch_size):
                idx = order[s : s + cfg.batch_size]
                tmax = max(xs[i].shape[0] for i in idx)
                xb = torch.zeros(len(idx), tmax, xs[0].shape[1])
                mb = torch.zeros(len(idx), tmax, dtype=torch.bool)
                for j, i in enumerate(idx):
                    xb[j, : xs[i].shape[0]] = xs[i]
                    mb[j, : xs[i].shape[0]] = True
                yb = torch.stack([ys[i] for i in idx])
                losses = self._losses(xb.to(dev), mb.to(dev), yb.to(dev))
                loss = torch.stack(list(losses.values())).sum()
                opt.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                opt.step()
                tot += float(loss.detach())
            if progress is not None:
                progress((ep + 1) / cfg.epochs, f"epoch {ep + 1}/{cfg.epochs} loss {tot:.3f}")
        self.eval()
        return self

    @torch.no_grad()
    def infer(self, video: np.ndarray | torch.Tensor) -> CASEOutput:
        """Per-snippet outputs of one video (see :class:`CASEOutput`)."""
        self.eval()
        cfg = self.config
        x = torch.as_tensor(np.asarray(video), dtype=torch.float32, device=self.cluster_fg.device)[None]
        cas_b, att_logit, e = self._branches(x)
        cas, pa, e0 = cas_b[0], torch.sigmoid(att_logit[0]), e[0]
        ps = torch.softmax(self.clu_head(e0), -1)
        pt = ps @ self.cluster_fg
        g = cas.shape[1]
        if cfg.fusion == "per_class":
            parts = [torch.softmax(cas, -1), pa[:, None]] + ([pt[:, None]] if cfg.clustering else [])
            curves = sum(parts[1:], parts[0]) / len(parts)
            sel = curves
        elif cfg.fusion == "replace":
            pm = 0.5 * pa + 0.5 * pt if cfg.clustering else pa
            curves = 0.5 * (torch.softmax(cas, -1) + pm[:, None])
            sel = curves
        else:
            fused = 0.5 * pa + 0.5 * pt if cfg.clustering else pa
            curves = fused[:, None].expand(-1, g)
            sel = self._selection(cas, pa)
        top = sel.topk(self._k(cas.shape[0]), dim=0).indices
        vid_logit = cas.gather(0, top).mean(0)
        vs = torch.softmax(vid_logit, -1) if cfg.video_loss == "softmax" else torch.sigmoid(vid_logit)
        classes = tuple(torch.nonzero(vs >= cfg.video_threshold).flatten().tolist()) or (int(vs.argmax()),)
        p_fg = curves[:, list(classes)].amax(-1)
        return CASEOutput(cas, vs, pa, pt, p_fg, ps, curves, classes)

    @torch.no_grad()
    def predict(
        self,
        video: np.ndarray | torch.Tensor,
        class_names: list[str],
        fps: float = 1.0,
        thresholds: tuple[float, ...] = CODE_THRESHOLDS,
    ) -> Prediction:
        """Detections of the predicted classes from their localisation curves (see
        :func:`foreground_segments`); ``frame_scores`` = ``[T, 1]`` foreground probability."""
        out = self.infer(video)
        segs = foreground_segments(out, class_names, fps, thresholds)
        return Prediction(
            segments=segs,
            frame_scores=out.p_fg[:, None],
            plans={"snippets×clusters": out.p_clusters},
            clusters=out.p_clusters.argmax(-1),
        )
