r"""PLOT-TAL: few-shot temporal action localization with prompts aligned to frames by optimal transport.

Model (:class:`~otcore.methods.plot_tal_model.FewShotTAL`), for a video with frozen features ``x_t``
(``[T, D]``, CLIP image or I3D):

0. Inputs: standardised with the training frames' per-dimension mean/std, then L2-normalised
   (``prepare``; CLIP/I3D features share a large common direction).
1. Adapter: ``f = normalize(h + Conv1d_3(h))`` with ``h = dropout(GELU(Linear_{D→E}(x)))`` (masked), in the
   text-embedding space (``E``).
2. Pyramid: ``F_0 = f``, ``F_l = avgpool_2(F_{l-1})`` (stride 2, ceil mode, masked so padding never mixes
   in), ``L`` levels (default 4). Level ``l`` position ``t`` covers rows ``[t·2^l, (t+1)·2^l)``.
3. Prompts: ``G_c ∈ R^{N×E}``, N learnable CoOp prompts per class through the frozen CLIP text encoder
   (``otcore.methods.prompts``), L2-normalised.
4. OT alignment, per level ``l`` and class ``c`` — one batched ``otcore.ot.sinkhorn`` call per pyramid
   level over all (video, class) pairs, so no level is padded to the length of level 0:
   ``S_{l,c} = F_l G_cᵀ`` (``[T_l, N]``, cosine), ``C_{l,c} = 1 − S_{l,c}``,
   ``T* = argmin ⟨T, C⟩ − ε H(T)`` s.t. ``T1 = a``, ``Tᵀ1 = 1/N`` with ``a`` uniform over the video's
   valid positions (the rows a shorter video is padded with get mass ``1e-6·``; ε default 0.1, at most
   ``ot_iters`` = 50 iterations to a marginal error of ``ot_tol`` = 1e-3), ``T*`` without gradient.
   Per-time OT-aligned similarity ``s_{l,t,c} = Σ_n (T*_{tn} / a_t) S_{l,c,tn}``.
5. Heads: classification ``logit_{l,t,c} = exp(κ) s_{l,t,c} + β_c`` (focal loss, sigmoid; ``β`` starts
   at ``−log((1−π)/π) − e^κ q_c`` with π = 0.01 and ``q_c`` the 0.9-quantile of the class's training
   similarities, so that initially only the top positions score above π); boundary regression
   ``(d^s, d^e) = softplus(Conv1d_3(ReLU(pool_l(Linear(f)))))·σ_l`` (the linear layer runs once on level 0
   and is pooled — it commutes with the masked mean — per-level scale ``σ_l``), distances from the
   position centre to the start/end in level units, trained with the 1-D GIoU loss on positive positions.
6. OT term (PLOT's objective): for every marked segment ``i`` (class ``y_i``) its own pyramid of adapter
   features ``F^i_l``, and ``d_OT(i, l, c) = ⟨T*, 1 − F^i_l G_cᵀ⟩`` for all classes (one batched call per
   level); ``L_OT = CE(softmax_c(−d_OT(i, l, ·)/τ), y_i)`` averaged over segments and levels (τ = 0.07).
   The gradient of ``d_OT`` reaches the adapter and the prompts through ``C`` only.

Loss: ``L = L_focal + λ_iou L_GIoU + λ_OT L_OT`` (defaults ``iou_weight`` = 1, ``ot_weight`` = 0.1); the
losses are named functions in :mod:`otcore.methods.plot_tal_losses`.

Positive positions (ActionFormer centre assignment): position ``t`` of level ``l`` is positive for a
segment ``[s, e)`` (rows) of class ``c`` if its centre ``(t + ½)·2^l`` lies inside and the segment length is
in the level's regression range ``[r_l, r_{l+1})`` with ``r = (0, 4, 8, 16, ..)`` rows (last level up to
∞); a segment with no centre inside gets the position holding its midpoint.

Decoding: ``score = sigmoid(logit)``, segment ``[(t+½)2^l − d^s 2^l, (t+½)2^l + d^e 2^l]`` (rows, clipped to
the video) → seconds (``/fps``); per class, Gaussian soft-NMS (``otcore.metrics.soft_nms``), at most
``max_segments`` per video.

Methods in the same code path (``PlotTALConfig.method``): ``"plot-tal"`` (N prompts, OT scoring + OT
term), ``"coop"`` (N = 1, plain cosine, no OT), ``"prototype"`` (class means of the marked, standardised
input frames, cosine, no adapter/prompts; see ``otcore.methods.baselines``). ``scoring="sot-glp"``
re-scores the detector's segments with SOT-GLP (``otcore.methods.sot_glp``).

Unmarked time in the training videos is treated as background (the few-shot assumption: every
instance of a chosen class in a training video is marked).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from otcore.methods.baselines import FixedPrompts
from otcore.methods.model_files import ModelFileError, load_plain, read_model_file, write_model_file
from otcore.methods.plot_tal_losses import (
    Targets,
    build_targets,
    detection_loss,
    giou_loss_1d,
    ot_term_loss,
    pad_batch,
    regression_ranges,
    sigmoid_focal_loss,
)
from otcore.methods.plot_tal_model import (
    METHODS,
    DetectorOutput,
    FewShotTAL,
    PlotTALConfig,
    TrainVideo,
    build_model,
    masked_pyramid,
    ot_align,
    prototypes,
    segments_rows,
)
from otcore.methods.prompts import TextTower
from otcore.metrics import soft_nms
from otcore.types import Prediction, Segment

__all__ = [
    "METHODS",
    "PlotTALConfig",
    "TrainVideo",
    "FewShotTAL",
    "DetectorOutput",
    "fit",
    "predict",
    "save_model",
    "load_model",
    "ProgressFn",
    "with_method",
    "masked_pyramid",
    "ot_align",
    "build_targets",
    "build_model",
    "regression_ranges",
    "sigmoid_focal_loss",
    "giou_loss_1d",
]

#: ``progress(step, n_steps, losses)``; may raise to cancel training.
ProgressFn = Callable[[int, int, dict[str, float]], None]

_pad_batch = pad_batch  # the name the tests and older callers use


def fit(
    videos: Sequence[TrainVideo],
    class_names: Sequence[str] | None = None,
    config: PlotTALConfig | None = None,
    tower: TextTower | None = None,
    progress: ProgressFn | None = None,
    *,
    descriptions: Mapping[str, str] | None = None,
) -> FewShotTAL:
    """Train a few-shot detector on the marked segments of ``videos``; the steps below run in order.

    1. classes = ``class_names`` or the sorted labels of the marked segments;
    2. the model (:func:`build_model`; the prompts encode a class's entry of ``descriptions``, class
       name → text, when it has one, else its name), the padded batch and its input statistics;
    3. targets per pyramid level (centre assignment, see module docstring) and the segment crops;
    4. full-batch AdamW for ``config.epochs`` steps with a cosine learning-rate decay, after the
       data-driven class bias; loss = focal + λ_iou·GIoU (+ λ_OT·L_OT for PLOT-TAL);
       ``progress(step, n, losses)`` each step;
    5. the prompt encoder is replaced by its output (``freeze_prompts``);
    6. with ``scoring="sot-glp"``, a SOT-GLP re-scorer is trained on the same marks (+ background).
    """
    config = config or PlotTALConfig()
    # 1. classes
    videos = [v for v in videos if int(v.features.shape[0]) > 0]
    if class_names is None:
        class_names = sorted({s.label for v in videos for s in v.segments})
    class_names = list(class_names)
    if not class_names or not videos:
        raise ValueError("need at least one video with a marked segment")
    index = {c: i for i, c in enumerate(class_names)}

    # 2. model and batch
    torch.manual_seed(config.seed)
    model = build_model(config, class_names, videos, tower, descriptions=descriptions)
    device = videos[0].features.device
    model.to(device)
    x, mask = pad_batch([v.features for v in videos])
    model.set_input_stats(x, mask)
    if config.method == "prototype":  # prototypes of the standardised frames
        model.prompts = FixedPrompts(prototypes(videos, index, model.in_mean, model.in_std))
    with torch.no_grad():
        x = model.prepare(x, mask)

    # 3. targets
    targets = _targets(videos, index, int(x.shape[1]), config, device)
    use_ot_term = config.method == "plot-tal" and config.ot_weight > 0 and bool(targets.crops)

    # 4. optimisation
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, config.epochs))
    _init_bias(model, x, mask)
    for step in range(config.epochs):
        model.train()
        out = model(x, mask, prepared=True)
        focal, iou = detection_loss(out, targets, config)
        loss = focal + config.iou_weight * iou
        losses = {"focal": float(focal.detach()), "iou": float(iou.detach())}
        if use_ot_term:
            ot_loss = ot_term_loss(out, targets, config)
            loss = loss + config.ot_weight * ot_loss
            losses["ot"] = float(ot_loss.detach())
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        sched.step()
        losses["loss"] = float(loss.detach())
        if progress is not None:
            progress(step + 1, config.epochs, losses)
    model.eval()

    # 5. self-contained model
    model.freeze_prompts()

    # 6. optional SOT-GLP re-scorer
    if config.scoring == "sot-glp":
        from otcore.methods.sot_glp import SotGlpConfig, fit_segment_scorer

        model.glp = fit_segment_scorer(
            videos,
            class_names,
            SotGlpConfig(seed=config.seed),
            tower=tower,
            text_model=config.text_model,
            descriptions=descriptions,
        )
    return model


def _targets(
    videos: Sequence[TrainVideo], index: dict[str, int], T0: int, config: PlotTALConfig, device: torch.device
) -> Targets:
    """Detection targets of the padded batch and the crops ``(video, start_row, end_row)`` of every
    marked segment (rounded outwards, at least one row) with their classes."""
    rows = [segments_rows(v, index) for v in videos]
    cls_t, reg_t, pos_t = (t.to(device) for t in build_targets(rows, T0, config.levels, len(index)))
    crops = [
        (b, int(math.floor(s)), max(int(math.ceil(e)), int(math.floor(s)) + 1), c)
        for b, segs in enumerate(rows)
        for s, e, c in segs
    ]
    return Targets(
        cls=cls_t,
        reg=reg_t,
        pos=pos_t,
        crops=[c[:3] for c in crops],
        crop_labels=torch.tensor([c[3] for c in crops], device=device, dtype=torch.long),
    )


@torch.no_grad()
def _init_bias(model: FewShotTAL, x: torch.Tensor, mask: torch.Tensor, quantile: float = 0.9) -> None:
    """Data-driven prior: ``β_c = −log((1−π)/π) − e^κ q_c`` with ``q_c`` the ``quantile`` of the class's
    similarity over the training positions, so that initially only the top positions score above π."""
    model.eval()
    out = model(x, mask, prepared=True)
    scale = model.log_scale.exp()
    s = (out.logits - model.bias) / scale  # [B, L, T0, C]
    valid = out.mask
    prior = -math.log((1 - model.config.prior_prob) / model.config.prior_prob)
    for c in range(s.shape[-1]):
        q = torch.quantile(s[..., c][valid].float(), quantile)
        model.bias[c] = prior - scale * q
    model.train()


@torch.no_grad()
def _decode(
    model: FewShotTAL, out: DetectorOutput, b: int, n_frames: int, fps: float
) -> list[tuple[str, float, float, float]]:
    """Candidates of every valid position and class with score ≥ ``min_score`` (level by level, positions
    in time order), per class the ``4·max_segments`` best (stable order), Gaussian soft-NMS, then the
    ``max_segments`` best over all classes. Vectorised per level (no loop over positions)."""
    cfg = model.config
    probs = torch.sigmoid(out.logits[b]).cpu()  # [L, T0, C]
    reg = out.reg[b].cpu()
    mask = out.mask[b].cpu()
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []  # per level: (cls, s, e, p)
    for l in range(cfg.levels):
        stride = 2**l
        valid = mask[l].nonzero().flatten()
        if valid.numel() == 0:
            continue
        p = probs[l, valid]  # [t, C]
        centre = (valid.double() + 0.5) * stride
        start = (centre - reg[l, valid, 0].double() * stride).clamp_min(0.0)
        end = (centre + reg[l, valid, 1].double() * stride).clamp_max(float(n_frames))
        keep = (p >= cfg.min_score) & (end > start)[:, None]  # [t, C]
        cls_idx, pos_idx = keep.t().nonzero(as_tuple=True)  # class-major, positions in time order
        parts.append(
            (
                cls_idx.numpy(),
                start[pos_idx].numpy(),
                end[pos_idx].numpy(),
                p[pos_idx, cls_idx].double().numpy(),
            )
        )
    if not parts:
        return []
    cls_all = np.concatenate([q[0] for q in parts])
    s_all = np.concatenate([q[1] for q in parts])
    e_all = np.concatenate([q[2] for q in parts])
    p_all = np.concatenate([q[3] for q in parts])
    # classes in the order they first have a candidate (level by level), as the detections' tie order
    order = np.argsort(cls_all, kind="stable")  # within a class: level, then position
    classes = list(dict.fromkeys(cls_all.tolist()))
    bounds = np.searchsorted(cls_all[order], np.arange(len(model.class_names) + 1))
    dets: list[tuple[str, float, float, float]] = []
    for c in classes:
        idx = order[bounds[c] : bounds[c + 1]]
        idx = idx[np.argsort(-p_all[idx], kind="stable")][: 4 * cfg.max_segments]
        segs = np.stack([s_all[idx], e_all[idx]], axis=1)
        scores = p_all[idx]
        kept, new_scores = soft_nms(
            segs, scores, sigma=cfg.nms_sigma, score_threshold=cfg.min_score, top_k=cfg.max_segments
        )
        for k, sc in zip(kept, new_scores):
            dets.append((model.class_names[c], float(segs[k, 0]) / fps, float(segs[k, 1]) / fps, float(sc)))
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
    if with_plans and out.plans is not None:
        for l, plan_l in enumerate(out.plans):  # [1, C, T_l, N]
            n_l = int(out.mask[0, l].sum())
            for c, name in enumerate(model.class_names):
                plans[f"level{l}/{name}"] = plan_l[0, c, :n_l].cpu() * n_l  # rows sum to 1
    frame_scores = torch.sigmoid(out.logits[0, 0, :n_frames]).cpu()
    return Prediction(segments=segments, frame_scores=frame_scores, plans=plans)


def _fixed(model: FewShotTAL) -> FixedPrompts:
    """The frozen prompts of a trained model."""
    if not isinstance(model.prompts, FixedPrompts):
        raise TypeError("the model's prompts are not frozen (call freeze_prompts)")
    return model.prompts


def save_model(model: FewShotTAL, path: str | Path, meta: dict[str, Any] | None = None) -> Path:
    """Save a trained (prompt-frozen) model: state dicts plus a JSON header, nothing pickled.

    Layout (:mod:`otcore.methods.model_files`): header ``{"kind": "plot-tal", "config", "class_names",
    "in_dim", "embed_dim", "prompt_shape", "glp": null | {config, class_names, in_dim, embed_dim,
    shapes}, "meta"}``; tensor groups ``state`` (the detector) and ``glp`` (the SOT-GLP re-scorer).
    """
    if not isinstance(model.prompts, FixedPrompts):
        model.freeze_prompts()
    header: dict[str, Any] = {
        "kind": "plot-tal",
        "config": asdict(model.config),
        "class_names": list(model.class_names),
        "in_dim": int(model.in_dim),
        "embed_dim": int(model.embed_dim),
        "prompt_shape": list(_fixed(model)().shape),
        "glp": None,
        "meta": meta or {},
    }
    tensors = {"state": {k: v for k, v in model.state_dict().items() if not k.startswith("glp.")}}
    if model.glp is not None:
        glp = model.glp.export()
        tensors["glp"] = dict(glp.pop("state"))
        header["glp"] = glp
    return write_model_file(path, header, tensors)


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> FewShotTAL:
    """Load a model saved by ``save_model`` (no text tower needed); never unpickles code.

    Files are read with ``torch.load(weights_only=True)``; a file holding anything other than tensors
    and plain data raises :class:`~otcore.methods.model_files.ModelFileError`. Files of the earlier
    single-dict layout load too when they hold only plain data (the same restricted reader).
    """
    blob = load_plain(path, map_location)
    if isinstance(blob, dict) and blob.get("format") is None and "state" in blob and "config" in blob:
        header = {k: v for k, v in blob.items() if k not in ("state", "glp")}
        glp_blob = blob.get("glp")
        header["glp"] = None if glp_blob is None else {k: v for k, v in glp_blob.items() if k != "state"}
        tensors = {"state": blob["state"]} | ({} if glp_blob is None else {"glp": glp_blob["state"]})
    else:
        header, tensors = read_model_file(path, map_location)
        if header.get("kind") != "plot-tal":
            raise ModelFileError(f"{path} is not a few-shot (PLOT-TAL) model file")
    try:
        config = PlotTALConfig(**header["config"])
        prompts = FixedPrompts(torch.zeros(header["prompt_shape"]))
        model = FewShotTAL(config, header["class_names"], header["in_dim"], header["embed_dim"], prompts)
        model.load_state_dict(tensors["state"])
        if header.get("glp") is not None:
            from otcore.methods.sot_glp import SegmentScorer

            model.glp = SegmentScorer.from_export(dict(header["glp"], state=tensors["glp"]))
    except (KeyError, TypeError, RuntimeError) as exc:
        raise ModelFileError(
            f"{path} does not match this version's model ({type(exc).__name__}: {exc})"
        ) from exc
    model.eval()
    return model


def with_method(config: PlotTALConfig, method: str, **changes: Any) -> PlotTALConfig:
    """A copy of ``config`` for another method name (``plot-tal``, ``coop``, ``prototype``, ``sot-glp``)."""
    if method == "sot-glp":
        return replace(config, method="plot-tal", scoring="sot-glp", **changes)
    return replace(config, method=method, scoring="detector", **changes)
