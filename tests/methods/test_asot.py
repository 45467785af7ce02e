"""ASOT on synthetic phase-structured videos, and the OT decoder on flickering scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from otcore.methods.asot import ASOT, ASOTConfig, DecoderSettings, decode_scores, scores_to_cost
from otcore.metrics import edit_score, mof

pytestmark = pytest.mark.usefixtures("one_thread")


def phase_videos(
    n_videos: int = 3, k: int = 3, d: int = 16, seed: int = 0
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Videos made of k phases in the same order, varied lengths, phase means far apart plus noise."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(k, d)) * 3
    xs, ys = [], []
    for _ in range(n_videos):
        lens = rng.integers(30, 60, size=k)
        y = np.concatenate([np.full(n, i) for i, n in enumerate(lens)])
        xs.append((means[y] + rng.normal(size=(len(y), d))).astype(np.float32))
        ys.append(y)
    return xs, ys


def test_asot_recovers_ordered_phases():
    xs, ys = phase_videos()
    cfg = ASOTConfig(n_clusters=3, epochs=3, frames_per_video=64, seed=0)
    model = ASOT(16, cfg).fit(xs)
    preds = [model.predict(x, fps=10.0) for x in xs]
    clusters = [p.clusters.numpy() for p in preds]
    assert mof(clusters, ys, hungarian="activity") > 0.85
    p0 = preds[0]
    assert p0.plans["frames×clusters"].shape == (len(ys[0]), 3)
    assert torch.allclose(p0.plans["frames×clusters"].sum(-1), torch.ones(len(ys[0])), atol=1e-4)
    # segments tile the video in seconds
    assert p0.segments[0].start == 0.0 and abs(p0.segments[-1].end - len(ys[0]) / 10.0) < 1e-9
    assert len(p0.segments) <= 6


def test_training_reduces_the_pseudo_label_loss():
    xs, _ = phase_videos(seed=1)
    torch.manual_seed(0)
    model = ASOT(16, ASOTConfig(n_clusters=3, epochs=0, seed=0))
    model.fit(xs)  # only the k-means initialisation
    x = torch.as_tensor(xs[0])
    from otcore.methods._unsup import standardise

    before = float(model.step_loss(standardise(x)).detach())
    model.config = ASOTConfig(n_clusters=3, epochs=4, frames_per_video=64, seed=0)
    model.fit(xs)
    after = float(model.step_loss(standardise(x)).detach())
    assert after < before


def test_decoder_removes_flicker():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 2, 1, 3], 50)
    scores = np.full((len(y), 4), 0.1)
    scores[np.arange(len(y)), y] = 0.7
    flip = rng.random(len(y)) < 0.15  # spurious single-frame flips
    wrong = (y + rng.integers(1, 4, len(y))) % 4
    scores[flip] = 0.1
    scores[flip, wrong[flip]] = 0.7
    am = scores.argmax(1)
    # the settings this test was written for (the earlier defaults, radius given)
    st = DecoderSettings(cost="neglog", eps=0.04, alpha=0.3, radius=0.02, tau_b=0.05)
    dec = decode_scores(scores, st).numpy()
    assert edit_score(dec, y) > edit_score(am, y) + 20
    assert mof(dec, y) >= mof(am, y)


def test_scores_to_cost_accepts_logits_and_probabilities():
    p = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    c = scores_to_cost(p, "one_minus")
    assert torch.allclose(c, 1 - p)
    logits = torch.tensor([[3.0, -1.0], [-2.0, 2.0]])
    c2 = scores_to_cost(logits, "neglog")
    assert c2.shape == (2, 2) and float(c2.min()) >= 0 and float(c2.max()) <= 1
    assert c2[0, 0] < c2[0, 1] and c2[1, 1] < c2[1, 0]
    with pytest.raises(ValueError):
        scores_to_cost(p, "nope")


def test_decoder_radius_rule_from_expected_segments():
    """radius=None: r = f/(2S) from the expected segment count S (default: the number of classes)."""
    rng = np.random.default_rng(1)
    scores = rng.random((120, 4))
    s = DecoderSettings(n_segments=6, band_fraction=0.5)
    rule = decode_scores(scores, s).numpy()
    fixed = decode_scores(scores, DecoderSettings(radius=0.5 / 12)).numpy()
    assert np.array_equal(rule, fixed)
    by_classes = decode_scores(scores, DecoderSettings()).numpy()
    assert np.array_equal(by_classes, decode_scores(scores, DecoderSettings(radius=1 / 8)).numpy())


def test_defaults_follow_asot_code_and_radius_rule():
    from otcore.methods.asot import breakfast_config

    cfg = ASOTConfig(n_clusters=8)
    assert cfg.train_ot.radius is None and cfg.train_ot.radius_for(8) == pytest.approx(1 / 16)
    assert cfg.eval_ot.tau_b == 0.01  # ASOT's evaluation λ (its code's default)
    bf = breakfast_config(7)
    assert bf.train_ot.tau_b == 0.1 and bf.eval_ot.tau_b == 0.01 and bf.eval_ot.alpha == 0.7
    assert bf.eval_ot.radius_for(7) == pytest.approx(1 / 14)
    with pytest.raises(TypeError):
        ASOTConfig(8)  # type: ignore[misc]  # keyword-only
