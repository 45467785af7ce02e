"""VASOT: joint alignment + segmentation on synthetic phase videos, its losses, and the eval on real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from otcore.methods._unsup import standardise
from otcore.methods.vasot import VASOT, VASOTConfig, alignment_plan, find_phases
from otcore.metrics import mof

pytestmark = pytest.mark.usefixtures("one_thread")


def phase_videos(
    n_videos: int = 3, k: int = 3, d: int = 16, seed: int = 0, noise: float = 1.0
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Videos made of k phases in the same order, varied lengths, phase means apart plus noise."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(k, d)) * 3
    xs, ys = [], []
    for _ in range(n_videos):
        lens = rng.integers(30, 60, size=k)
        y = np.concatenate([np.full(n, i) for i, n in enumerate(lens)])
        xs.append((means[y] + noise * rng.normal(size=(len(y), d))).astype(np.float32))
        ys.append(y)
    return xs, ys


def test_vasot_recovers_ordered_phases() -> None:
    xs, ys = phase_videos()
    preds = find_phases(xs, 3, fps=10.0, epochs=3, config=VASOTConfig(frames_per_video=64))
    clusters = [p.clusters.numpy() for p in preds]
    assert mof(clusters, ys, hungarian="activity") > 0.85
    # the phases come out in time order: the first frame's cluster differs from the last frame's
    for c in clusters:
        assert c[0] != c[-1]
    p0 = preds[0]
    assert p0.plans["frames×clusters"].shape == (len(ys[0]), 3)
    assert p0.segments[0].start == 0.0 and abs(p0.segments[-1].end - len(ys[0]) / 10.0) < 1e-9


def test_training_aligns_the_videos_through_the_shared_encoder() -> None:
    """After training, each frame's alignment partner (argmax of the plan on the learnt embeddings)
    lies in the same phase of the other video."""
    xs, ys = phase_videos(noise=8.0, seed=3)
    x0, x1 = standardise(torch.as_tensor(xs[0])), standardise(torch.as_tensor(xs[1]))

    def same_phase(model: VASOT) -> float:
        with torch.no_grad():
            plan = alignment_plan(model.embed(x0), model.embed(x1), model.config.align_ot)
        match = plan[: len(ys[0]), : len(ys[1])].argmax(-1).numpy()
        return float(np.mean(ys[1][match] == ys[0]))

    untrained = same_phase(VASOT(16, VASOTConfig(n_clusters=3, seed=0)))
    trained = same_phase(VASOT(16, VASOTConfig(n_clusters=3, epochs=6, frames_per_video=64, seed=0)).fit(xs))
    assert trained > 0.97
    assert trained > untrained


def test_alignment_loss_reaches_the_encoder_not_through_the_plan() -> None:
    xs, _ = phase_videos()
    model = VASOT(16, VASOTConfig(n_clusters=3, seed=0))
    x, y = standardise(torch.as_tensor(xs[0])), standardise(torch.as_tensor(xs[1]))
    loss = model.align_loss(x, y)
    assert loss.requires_grad
    loss.backward()
    enc_grad = sum(float(p.grad.abs().sum()) for p in model.encoder.parameters() if p.grad is not None)
    assert enc_grad > 0
    assert model.actions.grad is None  # alignment does not involve the actions
    plan = alignment_plan(model.embed(x), model.embed(y), model.config.align_ot)
    assert not plan.requires_grad
    # pair loss = w_seg·seg + w_align·align, exactly
    w = VASOT(16, VASOTConfig(n_clusters=3, seed=0, w_align=0.0))
    w.load_state_dict(model.state_dict())
    with torch.no_grad():
        only_seg = float(w.pair_loss(x, y))
        both = float(model.pair_loss(x, y))
        al = float(model.align_loss(x, y))
        seg = float(model.step_loss(x))
    assert only_seg == pytest.approx(seg, rel=1e-5)
    assert both == pytest.approx(seg + al, rel=1e-5)


def test_find_phases_rejects_bad_input() -> None:
    xs, _ = phase_videos()
    with pytest.raises(ValueError, match="at least two videos"):
        find_phases(xs[:1], 3)
    with pytest.raises(ValueError, match="different feature sizes"):
        find_phases([xs[0], xs[1][:, :8]], 3)
    with pytest.raises(ValueError, match=r"must be \[T, D\]"):
        find_phases([xs[0], xs[1][:, 0]], 3)
    with pytest.raises(ValueError, match="frame rates"):
        find_phases(xs, 3, fps=[1.0, 2.0])


def test_eval_segment_vasot_runs_on_real_data(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from otcore.bench.data import load_segmentation_folder
    from otcore.bench.segment import main, run_method

    root = shared_data / "breakfast_cte"
    videos = load_segmentation_folder(root)["coffee"][:2]
    preds = run_method("vasot", videos, 3, 0, epochs=1, extra={"align_ot.alpha": 0.2})
    assert [len(p) for p in preds] == [v.n_frames for v in videos]
    assert all(set(np.unique(p)) <= {0, 1, 2} for p in preds)
    assert main(["--data", str(root), "--method", "vasot", "--seeds", "0", "--epochs", "1"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("segment vasot: MoF=")
