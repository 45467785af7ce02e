"""The vectorised PLOT-TAL decoder gives exactly the detections of the position-by-position reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import otcore.methods.plot_tal as pt
from otcore.methods.plot_tal_model import DetectorOutput
from otcore.metrics import soft_nms

pytestmark = pytest.mark.usefixtures("one_thread")


def _reference_decode(model, out, b, n_frames, fps):
    """The decoder as first written: one Python step per (level, class, kept position)."""
    cfg = model.config
    probs = torch.sigmoid(out.logits[b]).cpu()
    reg = out.reg[b].cpu()
    mask = out.mask[b].cpu()
    cand: dict[int, list[tuple[float, float, float]]] = {}
    for l in range(cfg.levels):
        stride = 2**l
        valid = mask[l].nonzero().flatten()
        if valid.numel() == 0:
            continue
        p = probs[l, valid]
        centre = (valid.double() + 0.5) * stride
        start = (centre - reg[l, valid, 0].double() * stride).clamp_min(0.0)
        end = (centre + reg[l, valid, 1].double() * stride).clamp_max(float(n_frames))
        for c in range(p.shape[1]):
            keep = (p[:, c] >= cfg.min_score) & (end > start)
            for i in keep.nonzero().flatten().tolist():
                cand.setdefault(c, []).append((float(start[i]), float(end[i]), float(p[i, c])))
    dets = []
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


class _Stub:
    def __init__(self, config, class_names):
        self.config = config
        self.class_names = class_names


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_decode_matches_the_reference(seed):
    gen = torch.Generator().manual_seed(seed)
    levels, T0, C = 4, 90, 5
    cfg = pt.PlotTALConfig(levels=levels, max_segments=12, min_score=0.2)
    logits = torch.randn(1, levels, T0, C, generator=gen) * 2 - 1
    logits[0, 0, :, 3] = -20.0  # class 3 has no candidate on level 0: it first appears on level 1
    logits[0, 2:, :, 4] = -20.0
    reg = torch.rand(1, levels, T0, 2, generator=gen) * 3
    reg[0, 1, 5, :] = 0.0  # an empty segment is dropped
    n_frames = 85
    mask = torch.zeros(1, levels, T0, dtype=torch.bool)
    for l in range(levels):
        mask[0, l, : -(-n_frames // 2**l)] = True
    out = DetectorOutput(
        logits=logits, reg=reg, mask=mask, plans=None, embed=torch.zeros(1), prompts=torch.zeros(1)
    )
    model = _Stub(cfg, [f"c{i}" for i in range(C)])
    got = pt._decode(model, out, 0, n_frames, 2.0)  # type: ignore[arg-type]
    want = _reference_decode(model, out, 0, n_frames, 2.0)
    assert len(want) == cfg.max_segments
    assert got == [(lbl, float(s), float(e), sc) for lbl, s, e, sc in want]


def test_decode_of_no_candidate_is_empty():
    cfg = pt.PlotTALConfig(levels=2, min_score=0.5)
    out = DetectorOutput(
        logits=torch.full((1, 2, 8, 2), -10.0),
        reg=torch.ones(1, 2, 8, 2),
        mask=torch.ones(1, 2, 8, dtype=torch.bool),
        plans=None,
        embed=torch.zeros(1),
        prompts=torch.zeros(1),
    )
    assert pt._decode(_Stub(cfg, ["a", "b"]), out, 0, 8, 2.0) == []  # type: ignore[arg-type]
