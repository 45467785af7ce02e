"""A worker killed (SIGKILL) while it runs ``train_fewshot``: the job is queued again while attempts
remain, then failed with a clear message; nothing stored changes and the previous model's
proposals stay until a new model replaces them (SQLite store, real worker processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from otcore.jobs import queue
from otcore.jobs.worker import run_job
from otcore.settings import Settings
from otcore.store import EditLog, Store
from tests.jobs.fewshot_data import LAYOUT_A, LAYOUT_B
from tests.jobs.fewshot_data import features as _features

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]

TRAIN = {"method": "plot-tal", "epochs": 6, "levels": 2}
ENDLESS = {"method": "plot-tal", "epochs": 1_000_000, "levels": 2}  # killed long before it ends


def _start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        OTSTUDIO_DATABASE_URL=settings.database_url,
        OTSTUDIO_DATA_DIR=str(settings.data_dir),
        OMP_NUM_THREADS="1",
    )
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")])
    args = ["--data-dir", str(settings.data_dir), "--poll", "0.05", "--heartbeat", "0.2"]
    return subprocess.Popen(  # noqa: S603 - our own interpreter
        [sys.executable, "-m", "otcore.jobs.worker", *args, "--kinds", "train_fewshot"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait(pred: Callable[[], bool], timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _stored(store: Store, settings: Settings, videos: list) -> tuple:
    """Everything a training job could change: segments (all sources), model artifacts, files."""
    log = EditLog(store)
    files = sorted(
        str(p.relative_to(settings.data_dir))
        for d in (settings.models_dir, settings.results_dir)
        if d.exists()
        for p in d.rglob("*")
        if p.is_file()
    )
    return (
        tuple(tuple(log.segments(v.id)) for v in videos),
        tuple(a.id for a in store.list_artifacts("fewshot_model")),
        tuple(files),
    )


def _train_here(store: Store, settings: Settings, project_id: int) -> dict:
    """Run a short training job to its end in this process (claimed, as a worker does)."""
    jid = queue.submit(store, "train_fewshot", TRAIN, project_id=project_id)
    job = queue.claim_next(store, "here")
    assert job is not None and job.id == jid
    assert run_job(store, settings, job, "here") == "done"
    return dict(queue.get_job(store, jid, reap=False).result or {})


def _kill_mid_training(store: Store, settings: Settings, jid: int, attempt: int) -> None:
    """Start a worker, wait until it trains ``jid`` (attempt ``attempt``, an epoch reported), SIGKILL it."""
    proc = _start_worker(settings)
    try:

        def training() -> bool:
            job = queue.get_job(store, jid, reap=False)
            return job.status == "running" and job.attempts == attempt and job.message.startswith("epoch")

        _wait(training)
        assert queue.get_job(store, jid, reap=False).worker_pid == proc.pid
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_worker_killed_mid_training_changes_nothing_and_keeps_the_proposals(
    settings: Settings, video_with_features
):
    store = Store.from_settings(settings)
    p = store.create_project("Killed")
    a = video_with_features(
        store,
        settings,
        p.id,
        "a.mp4",
        _features(0, LAYOUT_A),
    )
    b = video_with_features(
        store,
        settings,
        p.id,
        "b.mp4",
        _features(1, LAYOUT_B),
    )
    log = EditLog(store)
    log.add_segment(a.id, "jump", 3.0, 5.0)
    log.add_segment(a.id, "swing", 8.0, 11.0)
    first = _train_here(store, settings, p.id)
    before = _stored(store, settings, [a, b])
    first_proposals = log.segments(b.id, sources=("predicted",))
    assert first_proposals and before[1] == (first["artifact_id"],)

    jid = queue.submit(store, "train_fewshot", ENDLESS, project_id=p.id, max_attempts=2)
    _kill_mid_training(store, settings, jid, attempt=1)
    queue.reap_stale(store)
    job = queue.get_job(store, jid, reap=False)
    assert job.status == "queued" and job.attempts == 1
    assert job.message.startswith("worker stopped while running: worker process")
    assert "queued again (attempt 1 of 2 did not finish)" in job.message
    assert _stored(store, settings, [a, b]) == before

    # the retry is killed too: out of attempts, the job fails with a message saying what to do
    _kill_mid_training(store, settings, jid, attempt=2)
    assert queue.reap_stale(store) == [jid]
    job = queue.get_job(store, jid, reap=False)
    assert job.status == "failed" and job.finished
    assert "after 2 attempts" in job.message and "submit the job again" in job.message
    assert "\n" not in job.message and "Traceback" not in job.message
    assert _stored(store, settings, [a, b]) == before
    assert log.segments(b.id, sources=("predicted",)) == first_proposals

    # a new model replaces the proposals
    second = _train_here(store, settings, p.id)
    after = _stored(store, settings, [a, b])
    assert set(after[1]) == {first["artifact_id"], second["artifact_id"]}
    new_ids = {s.id for s in log.segments(b.id, sources=("predicted",))}
    assert new_ids and not new_ids & {s.id for s in first_proposals}
    assert log.segments(a.id, sources=("manual",)) == [s for s in before[0][0] if s.source == "manual"]
    store.close()
