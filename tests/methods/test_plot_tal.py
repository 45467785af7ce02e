"""PLOT-TAL and its baselines on small synthetic sequences with known segments."""

from __future__ import annotations

import pytest
import torch

import otcore.methods.plot_tal as pt
import otcore.methods.plot_tal_model as ptm
from otcore.methods.plot_tal import (
    PlotTALConfig,
    TrainVideo,
    build_targets,
    fit,
    load_model,
    predict,
    save_model,
    with_method,
)
from otcore.metrics import detection_map
from otcore.types import Segment

CLASSES = ["jump", "swing"]


pytestmark = pytest.mark.usefixtures("one_thread")


def _video(gen: torch.Generator, layout: list[tuple[str | None, int]], dim: int = 24, name: str = "v"):
    """Background noise with class directions added inside the segments (fps 2)."""
    centres = {"jump": torch.zeros(dim), "swing": torch.zeros(dim)}
    centres["jump"][:4] = 3.0
    centres["swing"][4:8] = 3.0
    rows, segs, t = [], [], 0
    for label, n in layout:
        x = torch.rand(n, dim, generator=gen)
        if label is not None:
            x = x + centres[label]
            segs.append(Segment(label, t / 2.0, (t + n) / 2.0))
        rows.append(x)
        t += n
    return TrainVideo(torch.cat(rows), 2.0, segs, name)


@pytest.fixture(scope="module")
def data():
    gen = torch.Generator().manual_seed(0)
    train = [
        _video(gen, [(None, 5), ("jump", 4), (None, 6), ("swing", 6), (None, 4)], name="a"),
        _video(gen, [(None, 3), ("swing", 5), (None, 5), ("jump", 3), (None, 6)], name="b"),
    ]
    test = [
        _video(
            gen,
            [(None, 4), ("jump", 5), (None, 7), ("swing", 4), (None, 3), ("jump", 3), (None, 4)],
            name="t",
        )
    ]
    return train, test


def _map(model, test) -> float:
    preds, gt = {}, {}
    for v in test:
        p = predict(model, v.features, v.fps, with_plans=False)
        preds[v.name] = [
            {"label": s.label, "segment": [s.start, s.end], "score": s.score} for s in p.segments
        ]
        gt[v.name] = [{"label": s.label, "segment": [s.start, s.end]} for s in v.segments]
    return detection_map(preds, gt, tious=(0.3, 0.5))["average"]


def test_targets_centre_assignment():
    cls, reg, pos = build_targets([[(2.0, 5.0, 1)]], T0=8, levels=2, n_classes=2)
    assert pos[0, 0].nonzero().flatten().tolist() == [2, 3, 4]
    assert cls[0, 0, 2:5, 1].tolist() == [1.0, 1.0, 1.0] and cls[0, 0, :, 0].sum() == 0
    assert torch.allclose(reg[0, 0, 3], torch.tensor([1.5, 1.5]))  # centre 3.5 → start 2, end 5
    assert not pos[0, 1].any()  # length 3 < 4: level 0 only


def test_ot_step_is_one_batched_call_per_level(data, monkeypatch):
    train, _ = data
    cfg = PlotTALConfig(epochs=1, levels=3, n_prompts=3)
    model = pt.build_model(cfg, CLASSES, train)
    calls = []
    real = ptm.sinkhorn

    def counting(problem, **kw):
        calls.append(tuple(problem.cost.shape))
        return real(problem, **kw)

    monkeypatch.setattr(ptm, "sinkhorn", counting)
    x, mask = pt._pad_batch([v.features for v in train])
    out = model(x, mask)
    B, T0 = x.shape[:2]
    # one problem batch per pyramid level (videos × classes), each at the level's own length (no padding
    # to T0)
    assert calls == [(B, len(CLASSES), -(-T0 // 2**l), 3) for l in range(3)]
    assert len(out.plans) == 3
    for l, plan in enumerate(out.plans):
        assert plan.shape == (B, len(CLASSES), -(-T0 // 2**l), 3)
        # prompt marginals 1/N, frame marginals uniform over each video's valid rows
        assert torch.allclose(plan.sum(-2), torch.full_like(plan.sum(-2), 1 / 3), atol=1e-2)
        T_l = plan.shape[2]
        n_valid = out.mask[:, l, :T_l].sum(-1).float()
        rows = plan.sum(-1)  # [B, C, T_l]
        valid = out.mask[:, l, :T_l][:, None, :].expand_as(rows)
        assert torch.allclose(rows[valid], (1 / n_valid)[:, None, None].expand_as(rows)[valid], rtol=0.05)


def test_per_level_scores_match_one_padded_problem_per_level(data):
    """Solving level by level gives the scores of the former all-levels-padded batch on valid rows."""
    train, _ = data
    cfg = PlotTALConfig(epochs=1, levels=3, n_prompts=3, ot_tol=1e-7, ot_iters=2000)
    model = pt.build_model(cfg, CLASSES, train).eval()
    x, mask = pt._pad_batch([v.features for v in train])
    with torch.no_grad():
        out = model(x, mask)
        xp = model.prepare(x, mask)
        levels = pt.masked_pyramid(model.embed(xp, mask), mask, 3)
        G = model.prompts()
        T0 = x.shape[1]
        for l, (f, m) in enumerate(levels):
            fp = torch.nn.functional.pad(f, (0, 0, 0, T0 - f.shape[1]))
            mp = torch.nn.functional.pad(m, (0, T0 - m.shape[1]), value=False)
            sim = torch.einsum("bte,cne->bctn", torch.nn.functional.normalize(fp, dim=-1), G)
            aligned, _, _ = pt.ot_align(sim, mp[:, None, :].expand(sim.shape[:-1]), cfg.eps, 2000, 1e-7)
            ref = model.log_scale.exp() * aligned.transpose(1, 2) + model.bias  # [B, T0, C]
            valid = out.mask[:, l]
            assert torch.allclose(out.logits[:, l][valid], ref[valid], atol=1e-3)


@pytest.mark.parametrize("method", ["plot-tal", "coop", "prototype"])
def test_methods_localise_synthetic_actions(data, method):
    train, test = data
    cfg = with_method(PlotTALConfig(epochs=60, levels=3, seed=0, lr=1e-2), method)
    losses = []
    model = fit(train, CLASSES, cfg, progress=lambda i, n, l: losses.append(l["loss"]))
    assert losses[-1] < losses[0]
    assert _map(model, test) > 0.5


def test_prediction_plans_and_save_load(data, tmp_path):
    train, test = data
    model = fit(train, CLASSES, PlotTALConfig(epochs=15, levels=2, n_prompts=2))
    p = predict(model, test[0].features, 2.0)
    assert set(p.plans) == {f"level{l}/{c}" for l in range(2) for c in CLASSES}
    T = test[0].features.shape[0]
    assert p.plans["level0/jump"].shape == (T, 2)
    assert p.plans["level1/jump"].shape == ((T + 1) // 2, 2)
    assert torch.allclose(p.plans["level0/jump"].sum(-1), torch.ones(T), atol=1e-3)
    assert p.frame_scores.shape == (T, 2)
    assert all(0 <= s.start < s.end <= T / 2.0 + 1e-6 and 0 < s.score <= 1 for s in p.segments)
    path = save_model(model, tmp_path / "m.pt")
    again = predict(load_model(path), test[0].features, 2.0)
    assert [(s.label, round(s.start, 4), round(s.score, 4)) for s in again.segments] == [
        (s.label, round(s.start, 4), round(s.score, 4)) for s in p.segments
    ]


def test_sot_glp_scoring_option(data, tmp_path):
    train, test = data
    cfg = with_method(PlotTALConfig(epochs=40, levels=2, lr=1e-2), "sot-glp")
    model = fit(train, CLASSES, cfg)
    assert model.glp is not None
    assert _map(model, test) > 0.3
    again = load_model(save_model(model, tmp_path / "g.pt"))
    assert again.glp is not None
