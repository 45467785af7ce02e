"""``find_phases`` with ``method="vasot"``: two videos trained jointly, the same per-video files as ASOT."""

from __future__ import annotations

import numpy as np
import pytest

from otcore.jobs import queue
from otcore.jobs.context import JobContext
from otcore.jobs.phases import PHASE_PLAN
from otcore.jobs.worker import execute, run_job
from otcore.service import load_prediction
from otcore.settings import Settings
from otcore.store import Store

pytestmark = pytest.mark.usefixtures("one_thread")


def _phase_features(seed: int, lens: list[int], d: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(100)
    means = rng.normal(size=(len(lens), d)) * 3
    noise = np.random.default_rng(seed)
    y = np.concatenate([np.full(n, i) for i, n in enumerate(lens)])
    return (means[y] + noise.normal(size=(len(y), d))).astype(np.float32), y


@pytest.fixture()
def project(settings: Settings, video_with_features):
    store = Store.from_settings(settings)
    p = store.create_project("P")
    fa, ya = _phase_features(0, [20, 30, 20])
    fb, yb = _phase_features(1, [30, 20, 25])
    a = video_with_features(store, settings, p.id, "a.mp4", fa)
    b = video_with_features(store, settings, p.id, "b.mp4", fb)
    yield store, p, (a, ya), (b, yb)
    store.close()


def _run(store: Store, settings: Settings, params: dict, project_id: int) -> dict:
    jid = queue.submit(store, "find_phases", params, project_id=project_id)
    assert queue.claim_next(store, "w1").id == jid
    ctx = JobContext(store, settings, jid, worker_id="w1")
    return execute(ctx, "find_phases", dict(queue.get_job(store, jid).params))


def _purity(clusters: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of frames whose cluster's majority phase is their phase."""
    right = 0
    for c in np.unique(clusters):
        right += int(np.bincount(truth[clusters == c]).max())
    return right / len(truth)


def test_vasot_on_two_videos_saves_each_video_like_asot(settings: Settings, project):
    store, p, (a, ya), (b, yb) = project
    params = {"video_ids": [a.id, b.id], "k": 3, "epochs": 3}
    vasot = _run(store, settings, {**params, "method": "vasot"}, p.id)
    asot = _run(store, settings, {**params, "method": "asot"}, p.id)
    assert vasot["method"] == "vasot" and vasot["k"] == 3
    assert set(vasot["videos"]) == set(asot["videos"]) == {str(a.id), str(b.id)}
    for vid, truth in ((a.id, ya), (b.id, yb)):
        info_v, info_a = vasot["videos"][str(vid)], asot["videos"][str(vid)]
        assert info_v["result_path"].startswith("results/phases_job")
        assert info_v["result_path"].endswith(f"_video{vid}.npz")
        rv, ra = (
            load_prediction(settings, info_v["result_path"]),
            load_prediction(settings, info_a["result_path"]),
        )
        assert rv.meta["method"] == "vasot" and rv.meta["k"] == 3
        assert set(rv.plans) == set(ra.plans) == {PHASE_PLAN}
        assert rv.plans[PHASE_PLAN].shape == ra.plans[PHASE_PLAN].shape == (len(truth), 3)
        assert rv.clusters is not None and rv.clusters.shape == (len(truth),)
        assert info_v["n_frames"] == len(truth) and info_v["n_segments"] == len(rv.segments) >= 1
        # three well-separated phases: the clusters follow them
        assert _purity(rv.clusters, truth) > 0.8


def test_vasot_needs_two_videos_with_features(settings: Settings, project):
    store, p, (a, _), _b = project
    with pytest.raises(ValueError, match="two or more videos"):
        _run(store, settings, {"video_id": a.id, "k": 3, "method": "vasot"}, p.id)
    with pytest.raises(ValueError, match="two or more videos"):
        _run(store, settings, {"video_ids": [a.id, a.id], "k": 3, "method": "vasot"}, p.id)
    bare = store.add_video(p.id, "c.mp4", "videos/c.mp4", "c" * 64, 10.0, 25.0, 250, 32, 24)
    with pytest.raises(ValueError, match="no features"):
        _run(store, settings, {"video_ids": [a.id, bare.id], "k": 3, "method": "vasot"}, p.id)
    with pytest.raises(ValueError, match="unknown method"):
        _run(store, settings, {"video_ids": [a.id, bare.id], "method": "kmeans"}, p.id)


def test_vasot_bad_input_fails_the_job_with_one_line_and_no_file(settings: Settings, project):
    store, p, (a, _), _b = project
    jid = queue.submit(store, "find_phases", {"video_id": a.id, "method": "vasot"}, project_id=p.id)
    job = queue.claim_next(store, "w1")
    assert run_job(store, settings, job, "w1") == "failed"
    row = queue.get_job(store, jid)
    assert "two or more videos" in (row.message or "") and "\n" not in (row.message or "")
    assert not list((settings.data_dir / "results").glob(f"phases_job{jid}_*"))
