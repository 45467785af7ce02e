"""The extract_features job through the real queue and worker, with the tiny model."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import numpy as np
import pytest

from otcore.jobs import queue
from otcore.jobs.context import JobCancelled, JobContext
from otcore.jobs.extract import FEATURES_KIND, clear_encoder_cache
from otcore.jobs.worker import execute, run_worker
from otcore.settings import load_settings
from otcore.store import Store
from otcore.video.ingest import ingest_file
from otcore.video.model_configs import TINY_MODEL


@pytest.fixture()
def env(data_dir: Path, small_video: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OTSTUDIO_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(data_dir / "hf"))
    monkeypatch.delenv("OTSTUDIO_CLIP_WEIGHTS", raising=False)
    settings = load_settings(data_dir)
    store = Store.from_settings(settings)
    project = store.create_project("p")
    ing = ingest_file(small_video, None, settings.videos_dir)
    pr = ing.probe
    video = store.add_video(
        project.id,
        ing.filename,
        str(ing.path.relative_to(data_dir)),
        ing.sha256,
        pr.duration,
        pr.fps,
        pr.n_frames,
        pr.width,
        pr.height,
    )
    clear_encoder_cache()
    yield settings, store, video
    store.close()


def _params(video_id: int, weights: Path, **extra: object) -> dict:
    return {
        "video_id": video_id,
        "fps": 2.0,
        "model": TINY_MODEL,
        "pretrained": None,
        "weights_file": str(weights),
        **extra,
    }


def test_job_extracts_links_and_marks_ready(env, tiny_weights: Path) -> None:
    settings, store, video = env
    jid = queue.submit(
        store, "extract_features", _params(video.id, tiny_weights), project_id=video.project_id
    )
    assert run_worker(settings, once=True, store=store) == 1
    job = queue.get_job(store, jid)
    assert job.status == "done", job.error or job.message
    assert job.progress == 1.0 and job.result["n_frames"] == 28 and not job.result["cached"]
    assert store.get_video(video.id).status == "ready"
    art = store.get_video_features(video.id)
    assert art is not None and art.kind == FEATURES_KIND and art.meta["model_id"] == job.result["model_id"]
    path = store.resolve_path(art.path)
    assert not Path(art.path).is_absolute() and path.is_file()  # relative to the data dir
    with np.load(path) as z:
        assert z["features"].shape == (28, 64)
    # the same job again: cache hit, same artifact
    jid2 = queue.submit(store, "extract_features", _params(video.id, tiny_weights))
    run_worker(settings, once=True, store=store)
    job2 = queue.get_job(store, jid2)
    assert job2.status == "done" and job2.result["cached"] and job2.result["artifact_id"] == art.id
    assert len(store.list_artifacts(FEATURES_KIND)) == 1


def test_cancel_between_batches_restores_status(env, tiny_weights: Path) -> None:
    settings, store, video = env
    jid = queue.submit(store, "extract_features", _params(video.id, tiny_weights, batch=4, fps=4.0))
    claimed = queue.claim_next(store, "test-worker")
    assert claimed is not None and claimed.id == jid
    ctx = JobContext(store, settings, jid, "test-worker")
    seen: list[float] = []
    real_progress = ctx.progress

    def progress(fraction: float, message: str = "") -> None:
        seen.append(fraction)
        real_progress(fraction, message)
        if len(seen) == 4:
            queue.request_cancel(store, jid)
            ctx._last_cancel_check = 0.0  # look at the database on the next check

    ctx.progress = progress  # type: ignore[method-assign]
    with pytest.raises(JobCancelled):
        execute(ctx, "extract_features", claimed.params)
    assert store.get_video(video.id).status == "new"
    assert store.get_video_features(video.id) is None
    assert not list(settings.features_dir.glob("*.npz"))  # nothing half-written


def test_missing_weights_marks_video_failed(env) -> None:
    settings, store, video = env
    jid = queue.submit(
        store, "extract_features", {"video_id": video.id, "model": "ViT-B-32", "pretrained": "openai"}
    )
    run_worker(settings, once=True, store=store)
    job = queue.get_job(store, jid)
    assert job.status == "failed" and "ViT-B-32 (openai)" in (job.message + (job.error or ""))
    v = store.get_video(video.id)
    assert v.status == "failed" and "OTSTUDIO_CLIP_WEIGHTS" in v.error
    assert (settings.data_dir / video.path).is_file()  # the video itself is untouched


def test_missing_video_file_fails_clearly(env, tiny_weights: Path) -> None:
    settings, store, video = env
    (settings.data_dir / video.path).rename(settings.data_dir / "moved.mp4")
    jid = queue.submit(store, "extract_features", _params(video.id, tiny_weights))
    run_worker(settings, once=True, store=store)
    assert queue.get_job(store, jid).status == "failed"
    assert "stored file is missing" in store.get_video(video.id).error


def test_worker_gone_mid_extraction_leaves_the_video_failed_not_extracting(env, tiny_weights: Path) -> None:
    from datetime import datetime, timedelta

    settings, store, video = env
    # the last attempt (with attempts left the job is queued again and the video stays extracting)
    jid = queue.submit(
        store,
        "extract_features",
        _params(video.id, tiny_weights),
        project_id=video.project_id,
        max_attempts=1,
    )
    assert queue.claim_next(store, "gone-worker") is not None
    store.set_video_status(video.id, "extracting")
    later = datetime.now(UTC) + timedelta(hours=1)
    assert jid in queue.reap_stale(store, timeout=1.0, now=later)
    assert queue.get_job(store, jid, reap=False).status == "failed"
    after = store.get_video(video.id)
    assert after.status == "failed" and after.error
