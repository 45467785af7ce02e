r"""CASE: clustering-assisted weakly supervised temporal action localization (video-level labels only).

Snippet features :math:`F \in \mathbb R^{T\times D}` of a video with video-level labels
:math:`y \in \{0,1\}^G`.

Baseline (two branches).
  * Classification branch: T-CAS :math:`P^V \in \mathbb R^{T\times G}` (logits); video score = mean of
    the top-:math:`k` logits per class (:math:`k=\lceil T/8\rceil`), :math:`L_V` = binary cross-entropy
    with :math:`y` (multi-label).
  * Attention branch: embeddings :math:`E` and foreground probability :math:`P^A \in [0,1]^T`, trained
    with pseudo-labels :math:`Q^A` (snippets in the top-:math:`k` of the T-CAS of a ground-truth class
    are positive) under the generalised BCE
    :math:`L_A = \frac1{|M|}\sum_{t\in M} Q^A_t\frac{1-(P^A_t)^\gamma}{\gamma} + (1-Q^A_t)\frac{1-(1-P^A_t)^\gamma}{\gamma}`
    over the confident snippets M: the positives and, as negatives, the k snippets whose best
    ground-truth-class T-CAS is lowest. (Departure: taking every non-positive snippet as negative
    collapsed :math:`P^A` to 0 on the short gym sequences; the other snippets carry no attention label.)

Snippet clustering (SCC). A linear head on :math:`E` gives :math:`P^S\in\mathbb R^{N\times K}` (N
snippets of the batch). Pseudo-labels :math:`Q^S` = a few (3) Sinkhorn iterations of
:class:`otcore.ot.LinearProblem` on :math:`-\log P^S` with equipartition (:math:`a = 1/N`,
:math:`b = 1/K`) and the Gaussian rank prior
:math:`\hat Q_{nk}\propto\exp(-(\mathrm{rank}_n/N - Q^C_{k,1})^2/2\sigma^2)` (snippets ranked by
:math:`P^A` ascending, :math:`Q^C_{k,1}` the foreground share of cluster k). :math:`L_S = \mathrm{CE}(P^S, Q^S)`.

Cluster classification (CCC). Prototypes :math:`\bar E^S_k` (:math:`Q^S`-weighted means of E),
foreground/background prototypes :math:`\bar E^A` (:math:`Q^A`- and :math:`(1-Q^A)`-weighted means),
:math:`P^C_{k,i} = \mathrm{softmax}_i(\rho\cos(\bar E^S_k,\bar E^A_i))`;
:math:`Q^C` = Sinkhorn on :math:`-\log P^C` with the non-uniform marginal
:math:`\beta^C = [\overline{Q^A}, 1-\overline{Q^A}]`; :math:`L_C = \mathrm{CE}(P^C, Q^C)`.
(Departure: cosines of prototypes minus the batch's mean embedding, see
:func:`cluster_class_logits`; with raw cosines every cluster's foreground share stayed near
:math:`\beta` on real features.)

Training :math:`L = L_V + L_A + \lambda_S L_S + \lambda_C L_C`; testing
:math:`P^T = P^S Q^C_{:,1}`, fused :math:`P^M = \tfrac12 P^A + \tfrac12 P^T`. With ``clustering=False``
the model is the attention-only baseline (:math:`P^M = P^A`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from otcore.methods._unsup import seeded_init
from otcore.types import Prediction, Segment

__all__ = ["CASEConfig", "CASE", "CASEOutput", "cluster_class_logits", "foreground_segments"]


@dataclass(frozen=True)
class CASEConfig:
    """Hyper-parameters of :class:`CASE` (K ≥ 16 clusters as the paper recommends).

    ``clustering = False`` is the attention-only baseline; ``cluster_grad = False`` trains the
    clustering heads on detached embeddings (an ablation: the clusters then cannot shape E)."""

    n_clusters: int = 16
    hidden: int = 128
    gamma: float = 0.7
    topk_ratio: float = 0.125
    sinkhorn_eps: float = 0.5
    sinkhorn_iters: int = 3
    sigma: float = 0.3
    rho: float = 10.0
    lambda_s: float = 1.0
    lambda_c: float = 1.0
    clustering: bool = True
    cluster_grad: bool = True
    epochs: int = 20
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    dropout: float = 0.5
    seed: int = 0


@dataclass(frozen=True)
class CASEOutput:
    """Per-snippet outputs of one video: T-CAS logits ``[T, G]``, video scores ``[G]`` (probabilities),
    ``p_att``, ``p_clu``, fused ``p_fg`` (each ``[T]``) and cluster probabilities ``[T, K]``."""

    cas: torch.Tensor
    video_scores: torch.Tensor
    p_att: torch.Tensor
    p_clu: torch.Tensor
    p_fg: torch.Tensor
    p_clusters: torch.Tensor


class CASE(nn.Module):
    """The CASE model (classification + attention branches, snippet clustering, cluster classification)."""

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
        self.clu_head = nn.Linear(h, config.n_clusters)

    def _branches(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x [B, T, D]`` → (CAS logits [B, T, G], attention logits [B, T], embeddings E [B, T, h])."""
        xc = x.transpose(1, 2)
        cas = self.cls_head(self.cls_body(xc)).transpose(1, 2)
        e = self.att_body(xc)
        att = self.att_head(e)[:, 0]
        return cas, att, e.transpose(1, 2)

    def _k(self, t: int) -> int:
        return max(1, int(math.ceil(t * self.config.topk_ratio)))

    # ------------------------------------------------------------------------------------------
    def _losses(self, x: torch.Tensor, mask: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:

        cfg = self.config
        cas, att_logit, e = self._branches(x)
        b, t, g = cas.shape
        neg = torch.finfo(cas.dtype).min / 4
        cas_m = cas.masked_fill(~mask[..., None], neg)
        lengths = mask.sum(1)
        vid_logits = []
        qa = torch.zeros(b, t, device=x.device)
        qmask = torch.zeros(b, t, dtype=torch.bool, device=x.device)
        for i in range(b):
            k = self._k(int(lengths[i]))
            top = cas_m[i].topk(k, dim=0)
            vid_logits.append(top.values.mean(0))
            gt = torch.nonzero(y[i] > 0).flatten()
            for c in gt.tolist():
                qa[i, top.indices[:, c]] = 1.0
                qmask[i, top.indices[:, c]] = True
            # confident negatives: the k snippets least like any ground-truth class
            if len(gt):
                low = cas[i, :, gt].detach().max(-1).values.masked_fill(~mask[i], float("inf"))
                qmask[i, low.topk(min(k, int(lengths[i])), largest=False).indices] = True
        vid_logits_t = torch.stack(vid_logits)
        l_v = nn.functional.binary_cross_entropy_with_logits(vid_logits_t, y)
        pa = torch.sigmoid(att_logit).clamp(1e-6, 1 - 1e-6)
        gam = cfg.gamma
        gce = qa * (1 - pa**gam) / gam + (1 - qa) * (1 - (1 - pa) ** gam) / gam
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
        n = en.shape[0]
        logits_s = self.clu_head(en)
        ps = torch.softmax(logits_s, -1)
        rank = torch.empty(n, device=x.device)
        rank[pa_n.argsort()] = torch.arange(n, device=x.device, dtype=rank.dtype)
        rel = rank / max(1, n - 1)
        prior = torch.exp(-((rel[:, None] - self.cluster_fg[None]) ** 2) / (2 * cfg.sigma**2))
        prior = prior / prior.sum()
        qs = self._self_label(ps, prior=prior)
        l_s = -(qs * torch.log_softmax(logits_s, -1)).sum(-1).mean()
        # cluster classification with the empirical foreground marginal
        logits_c = cluster_class_logits(en, qs, qa_n, cfg.rho)
        pc = torch.softmax(logits_c, -1)
        beta = float(qa_n.mean().clamp(0.02, 0.98))
        qc = self._self_label(pc, b=torch.tensor([1 - beta, beta], device=x.device, dtype=pc.dtype))
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
                loss = sum(losses.values())
                opt.zero_grad()
                loss.backward()  # type: ignore[union-attr]
                opt.step()
                tot += float(loss.detach())  # type: ignore[union-attr]
            if progress is not None:
                progress((ep + 1) / cfg.epochs, f"epoch {ep + 1}/{cfg.epochs} loss {tot:.3f}")
        self.eval()
        return self

    @torch.no_grad()
    def infer(self, video: np.ndarray | torch.Tensor) -> CASEOutput:
        """Per-snippet outputs of one video (see :class:`CASEOutput`)."""
        self.eval()
        x = torch.as_tensor(np.asarray(video), dtype=torch.float32, device=self.cluster_fg.device)[None]
        cas, att_logit, e = self._branches(x)
        cas, pa, e = cas[0], torch.sigmoid(att_logit[0]), e[0]
        k = self._k(cas.shape[0])
        vs = torch.sigmoid(cas.topk(k, dim=0).values.mean(0))
        ps = torch.softmax(self.clu_head(e), -1)
        pt = ps @ self.cluster_fg
        pm = 0.5 * pa + 0.5 * pt if self.config.clustering else pa
        return CASEOutput(cas, vs, pa, pt, pm, ps)

    @torch.no_grad()
    def predict(
        self,
        video: np.ndarray | torch.Tensor,
        class_names: list[str],
        fps: float = 1.0,
        thresholds: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7),
        video_threshold: float = 0.5,
    ) -> Prediction:
        """Detections (classes whose video score passes ``video_threshold``, or the top class) from the
        fused foreground probability; ``frame_scores`` = ``[T, 1]`` foreground probability."""
        out = self.infer(video)
        segs = foreground_segments(out, class_names, fps, thresholds, video_threshold)
        return Prediction(
            segments=segs,
            frame_scores=out.p_fg[:, None],
            plans={"snippets×clusters": out.p_clusters},
            clusters=out.p_clusters.argmax(-1),
        )


def cluster_class_logits(
    emb: torch.Tensor, q_clusters: torch.Tensor, q_fg: torch.Tensor, rho: float
) -> torch.Tensor:
    r"""CCC logits ``[K, 2]`` (column 0 background, 1 foreground): :math:`\rho\cos(\bar E^S_k, \bar E^A_i)`.

    ``emb [N, h]`` snippet embeddings, ``q_clusters [N, K]`` soft cluster assignments (rows sum to 1),
    ``q_fg [N]`` attention pseudo-labels. Cluster prototypes are the ``q_clusters``-weighted means,
    the foreground/background prototypes the ``q_fg``- and ``(1 − q_fg)``-weighted means; all are taken
    relative to the mean embedding. E is post-ReLU, so raw cosines of any two prototypes sit near 1 and
    ρ·cos could not tell foreground from background clusters.
    """
    proto_s = (q_clusters.T @ emb) / q_clusters.sum(0)[:, None].clamp_min(1e-8)
    w_fg = q_fg / q_fg.sum().clamp_min(1e-8)
    w_bg = (1 - q_fg) / (1 - q_fg).sum().clamp_min(1e-8)
    proto_a = torch.stack([w_bg @ emb, w_fg @ emb])
    centre = emb.mean(0, keepdim=True)
    cos = (
        nn.functional.normalize(proto_s - centre, dim=-1)
        @ nn.functional.normalize(proto_a - centre, dim=-1).T
    )
    return rho * cos


def foreground_segments(
    out: CASEOutput,
    class_names: list[str],
    fps: float = 1.0,
    thresholds: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7),
    video_threshold: float = 0.5,
    nms_iou: float = 0.5,
) -> list[Segment]:
    """Multi-threshold proposals on the foreground curve, per predicted class, NMS'd.

    Score of a proposal ``[s, e)`` for class ``c``: mean foreground probability inside × sigmoid of
    the mean T-CAS of ``c`` inside × the video score of ``c``.
    """
    from otcore.metrics import nms

    vs = out.video_scores
    classes = torch.nonzero(vs >= video_threshold).flatten().tolist() or [int(vs.argmax())]
    fg = out.p_fg.cpu().numpy()
    cas = torch.sigmoid(out.cas).cpu().numpy()
    segs: list[Segment] = []
    for c in classes:
        props: list[tuple[int, int]] = []
        for th in thresholds:
            on = fg >= th
            t = 0
            while t < len(on):
                if on[t]:
                    s = t
                    while t < len(on) and on[t]:
                        t += 1
                    props.append((s, t))
                else:
                    t += 1
        props = sorted(set(props))
        if not props:
            continue
        scores = np.asarray([fg[s:e].mean() * cas[s:e, c].mean() * float(vs[c]) for s, e in props])
        keep = nms(np.asarray(props, dtype=np.float64), scores, nms_iou)
        for i in keep:
            s, e = props[int(i)]
            segs.append(Segment(class_names[c], s / fps, e / fps, float(scores[int(i)])))
    return sorted(segs, key=lambda s: (s.start, s.end))
