"""find_phases / align_videos / weak_foreground jobs against a real store on SQLite."""

from __future__ import annotations

import numpy as np
import pytest

from otcore.jobs import queue
from otcore.jobs.context import JobContext
from otcore.jobs.phases import PHASE_PLAN, cluster_to_label, default_k
from otcore.jobs.worker import execute
from otcore.service import load_prediction
from otcore.settings import Settings
from otcore.store import EditLog, Store

pytestmark = pytest.mark.usefixtures("one_thread")


def _phase_features(seed: int, lens: list[int], d: int = 16) -> np.ndarray:
    rng = np.random.default_rng(100)
    means = rng.normal(size=(len(lens), d)) * 3
    noise = np.random.default_rng(seed)
    y = np.concatenate([np.full(n, i) for i, n in enumerate(lens)])
    return (means[y] + noise.normal(size=(len(y), d))).astype(np.float32)


@pytest.fixture()
def project(settings: Settings, video_with_features):
    store = Store.from_settings(settings)
    p = store.create_project("P")
    a = video_with_features(store, settings, p.id, "a.mp4", _phase_features(0, [20, 30, 20]))
    b = video_with_features(store, settings, p.id, "b.mp4", _phase_features(1, [30, 20, 25]))
    yield store, p, a, b
    store.close()


def _run(store, settings, kind, params, project_id):
    jid = queue.submit(store, kind, params, project_id=project_id)
    assert queue.claim_next(store, "w1").id == jid
    ctx = JobContext(store, settings, jid, worker_id="w1")
    result = execute(ctx, kind, dict(queue.get_job(store, jid).params))
    ctx.flush()
    return result


def test_find_phases_writes_clusters_and_cluster_becomes_label(settings: Settings, project):
    store, p, a, b = project
    assert default_k(store, p.id) == 8
    result = _run(store, settings, "find_phases", {"video_id": a.id, "k": 3, "epochs": 2}, p.id)
    assert result["k"] == 3 and result["method"] == "asot"
    info = result["videos"][str(a.id)]
    res = load_prediction(settings, info["result_path"])
    assert res.clusters.shape == (70,) and res.plans[PHASE_PLAN].shape == (70, 3) and float(res.fps) == 2.0
    log = EditLog(store)
    assert log.segments(a.id, sources=("predicted",)) == []  # nothing written until a person asks
    log.add_segment(a.id, "mine", 0.0, 2.0)
    c = int(res.clusters[-1])
    ids = cluster_to_label(store, settings, a.id, info["result_path"], c, "pour")
    preds = log.segments(a.id, sources=("predicted",))
    assert ids and {s.label for s in preds} == {"pour"}
    assert abs(preds[-1].end - 35.0) < 1e-6  # the last run ends at the video's end
    assert [s.label for s in log.segments(a.id, sources=("manual",))] == ["mine"]


def test_find_phases_clot_on_two_videos(settings: Settings, project):
    store, p, a, b = project
    result = _run(
        store,
        settings,
        "find_phases",
        {"video_ids": [a.id, b.id], "k": 3, "epochs": 1, "method": "clot"},
        p.id,
    )
    assert set(result["videos"]) == {str(a.id), str(b.id)}


def test_align_job(settings: Settings, project):
    store, p, a, b = project
    result = _run(store, settings, "align_videos", {"video_a": a.id, "video_b": b.id}, p.id)
    res = load_prediction(settings, result["result_path"])
    assert res.plans["frames×frames"].shape == (71, 76) and res.arrays["match"].shape == (70,)
    assert 0.0 <= result["matched_fraction"] <= 1.0


def test_weak_foreground_job(settings: Settings, project):
    store, p, a, b = project
    EditLog(store).add_segment(a.id, "pour", 10.0, 25.0)
    result = _run(store, settings, "weak_foreground", {"project_id": p.id, "epochs": 2, "k": 4}, p.id)
    assert result["classes"] == ["pour"]
    for v in (a, b):
        p_fg = load_prediction(settings, result["videos"][str(v.id)]["result_path"]).frame_scores
        assert p_fg.shape == (int(round(v.duration * 2.0)),)
        assert float(p_fg.min()) >= 0.0 and float(p_fg.max()) <= 1.0
