"""Job queue: life cycle, cancel, failures, stale heartbeats, atomic claims."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import is_dataclass
from datetime import timedelta

import pytest
from sqlalchemy import update

from otcore.jobs import queue
from otcore.jobs.context import JobCancelled, JobContext
from otcore.jobs.registry import JOB_KINDS, UnknownJobKind, load_kind, resolve
from otcore.jobs.worker import run_job, run_worker
from otcore.settings import Settings
from otcore.store import NotFoundError, Store, StoreError
from otcore.store.models import Job, utcnow


def _wait(pred: Callable[[], bool], timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def test_submit_get_list(store: Store) -> None:
    p = store.create_project("P")
    a = queue.submit(store, "sleep", {"steps": 1}, project_id=p.id)
    b = queue.submit(store, "sleep")
    job = queue.get_job(store, a)
    assert (job.kind, job.status, job.progress, job.params, job.project_id) == (
        "sleep",
        "queued",
        0.0,
        {"steps": 1},
        p.id,
    )
    assert job.active and not job.finished
    assert [j.id for j in queue.list_jobs(store)] == [b, a]
    assert [j.id for j in queue.list_jobs(store, project_id=p.id)] == [a]
    assert queue.list_jobs(store, status="running") == []
    with pytest.raises(StoreError):
        queue.submit(store, "sleep", {"x": object()})
    with pytest.raises(NotFoundError):
        queue.submit(store, "sleep", {}, project_id=99999)
    with pytest.raises(NotFoundError):
        queue.get_job(store, 99999)


def test_lifecycle_done_failed_unknown(store: Store, any_settings: Settings) -> None:
    ok = queue.submit(store, "sleep", {"steps": 3, "seconds": 0.01})
    bad = queue.submit(store, "sleep", {"steps": 3, "seconds": 0.01, "fail_at": 1})
    unknown = queue.submit(store, "no_such_kind", {})
    assert run_worker(any_settings, once=True, store=store) == 3
    done = queue.get_job(store, ok)
    assert (done.status, done.progress, done.result) == ("done", 1.0, {"steps": 3})
    assert done.started_at is not None and done.finished_at is not None and done.worker_pid is not None
    failed = queue.get_job(store, bad)
    assert failed.status == "failed" and "asked to fail at step 1" in failed.message
    assert "Traceback" in (failed.error or "")
    assert failed.progress == pytest.approx(1 / 3)
    unk = queue.get_job(store, unknown)
    assert unk.status == "failed" and "unknown job kind 'no_such_kind'" in unk.message


def test_registry_is_lazy_and_complete() -> None:
    for kind in (
        "extract_features",
        "train_fewshot",
        "predict_fewshot",
        "find_phases",
        "align_videos",
        "weak_foreground",
        "sleep",
    ):
        assert ":" in JOB_KINDS[kind].target
        loaded = load_kind(kind)
        assert loaded.request.kind == kind and is_dataclass(loaded.request) and is_dataclass(loaded.result)
    assert resolve("sleep").__name__ == "sleep"
    with pytest.raises(UnknownJobKind):
        resolve("nope")


def test_cancel_queued_job_never_runs(store: Store, any_settings: Settings) -> None:
    jid = queue.submit(store, "sleep", {"steps": 1})
    info = queue.request_cancel(store, jid)
    assert info.status == "cancelled"
    assert run_worker(any_settings, once=True, store=store) == 0
    assert queue.get_job(store, jid).status == "cancelled"
    # cancelling a finished job changes nothing
    assert queue.request_cancel(store, jid).status == "cancelled"


def test_cancel_is_honoured_between_steps(store: Store, any_settings: Settings) -> None:
    jid = queue.submit(store, "sleep", {"steps": 200, "seconds": 0.02})
    stop = threading.Event()
    t = threading.Thread(target=run_worker, args=(any_settings,), kwargs={"poll": 0.05, "stop_event": stop})
    t.start()
    try:
        _wait(lambda: queue.get_job(store, jid).progress > 0)
        assert queue.get_job(store, jid).status == "running"
        queue.request_cancel(store, jid)
        _wait(lambda: queue.get_job(store, jid).status != "running")
        job = queue.get_job(store, jid)
        assert job.status == "cancelled" and job.cancel_requested
        assert 0 < job.progress < 1 and job.result is None
        assert job.message.startswith("cancelled")
    finally:
        stop.set()
        t.join(timeout=20)
    assert not t.is_alive()


def test_worker_shutdown_fails_running_job_with_message(store: Store, any_settings: Settings) -> None:
    # the last attempt: failed (with attempts left it goes back to the queue, see below)
    jid = queue.submit(store, "sleep", {"steps": 200, "seconds": 0.02}, max_attempts=1)
    stop = threading.Event()
    t = threading.Thread(target=run_worker, args=(any_settings,), kwargs={"poll": 0.05, "stop_event": stop})
    t.start()
    _wait(lambda: queue.get_job(store, jid).progress > 0)
    stop.set()
    t.join(timeout=20)
    job = queue.get_job(store, jid)
    assert job.status == "failed" and job.message.startswith("worker stopped while running")


def test_reap_stale_heartbeat_and_dead_pid(store: Store) -> None:
    # one attempt each: a stopped worker's job is failed (with attempts left it is requeued, below)
    a = queue.submit(store, "sleep", max_attempts=1)
    b = queue.submit(store, "sleep", max_attempts=1)
    c = queue.submit(store, "sleep", max_attempts=1)
    claimed = [queue.claim_next(store, "w1") for _ in range(3)]
    assert [j.id for j in claimed if j is not None] == [a, b, c]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    old = utcnow() - timedelta(seconds=600)
    with store.write() as s:
        s.execute(update(Job).where(Job.id == a).values(heartbeat_at=old, progress=0.4, message="step 2/5"))
        s.execute(update(Job).where(Job.id == b).values(worker_pid=dead.pid))
    assert queue.get_job(store, c).status == "running"  # alive: our own pid, fresh heartbeat
    ja, jb = queue.get_job(store, a), queue.get_job(store, b)  # get_job reaps first
    assert ja.status == "failed" and ja.message.startswith("worker stopped while running: no heartbeat")
    assert "40%" in ja.message and "step 2/5" in ja.message
    assert jb.status == "failed" and f"worker process {dead.pid} is gone" in jb.message
    # a finished job is not touched by a late heartbeat or finish of the stopped worker
    assert not queue.heartbeat(store, a, "w1", progress=0.9)
    assert not queue.finish(store, a, {"x": 1}, worker_id="w1")
    assert queue.get_job(store, a).status == "failed"


def test_claim_is_atomic_between_workers(open_store: Callable[[], Store]) -> None:
    """Four claimers with their own connections race over 60 jobs: each job is claimed once."""
    setup = open_store()
    ids = [queue.submit(setup, "sleep", {"i": i}) for i in range(60)]
    stores = [open_store() for _ in range(4)]
    claimed: dict[str, list[int]] = {f"w{i}": [] for i in range(4)}
    barrier = threading.Barrier(4)

    def claimer(name: str, st: Store) -> None:
        barrier.wait()
        while (job := queue.claim_next(st, name)) is not None:
            claimed[name].append(job.id)

    threads = [threading.Thread(target=claimer, args=(f"w{i}", st)) for i, st in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    everything = [j for got in claimed.values() for j in got]
    assert sorted(everything) == ids  # none lost, none twice
    for name, got in claimed.items():
        for jid in got:
            assert queue.get_job(setup, jid, reap=False).worker_id == name


def test_job_context_progress_heartbeat_and_cancel(store: Store, any_settings: Settings) -> None:
    jid = queue.submit(store, "sleep")
    job = queue.claim_next(store, "w")
    assert job is not None and job.id == jid
    ctx = JobContext(store, any_settings, jid, "w", heartbeat_interval=0.05, min_interval=10.0)
    ctx.progress(0.1, "loading")
    assert queue.get_job(store, jid).progress == pytest.approx(0.1)
    ctx.progress(0.2, "loading")  # same message within min_interval: throttled
    assert queue.get_job(store, jid).progress == pytest.approx(0.1)
    first_beat = queue.get_job(store, jid).heartbeat_at
    with ctx:
        _wait(lambda: queue.get_job(store, jid).progress == pytest.approx(0.2))  # flushed by the heartbeat
        _wait(lambda: queue.get_job(store, jid).heartbeat_at > first_beat)
        ctx.check_cancelled()
        queue.request_cancel(store, jid)
        time.sleep(0.25)
        with pytest.raises(JobCancelled):
            ctx.check_cancelled()
    assert ctx.cancel_requested


def test_result_that_is_not_json_fails_the_job(
    store: Store, any_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from otcore.jobs import registry

    monkeypatch.setitem(registry.JOB_KINDS, "bad_result", registry.JOB_KINDS["sleep"])
    jid = queue.submit(store, "bad_result", {"steps": 1, "seconds": 0})
    job = queue.claim_next(store, "w")
    monkeypatch.setattr("otcore.jobs.builtin.sleep", lambda ctx, params: {"x": object()})
    assert run_job(store, any_settings, job, "w") == "failed"
    assert "could not be stored" in queue.get_job(store, jid).message


def test_abandon_hook_runs_once_for_a_reaped_job(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from otcore.jobs import registry

    calls: list[tuple[int, str]] = []
    monkeypatch.setitem(registry.ABANDON_HOOKS, "sleep", "otcore.jobs.builtin:sleep")
    monkeypatch.setattr("otcore.jobs.builtin.sleep", lambda st, job: calls.append((job.id, job.status)))
    jid = queue.submit(store, "sleep", max_attempts=1)
    queue.claim_next(store, "w")
    with store.write() as s:
        s.execute(update(Job).where(Job.id == jid).values(heartbeat_at=utcnow() - timedelta(seconds=600)))
    assert queue.get_job(store, jid).status == "failed"
    assert queue.get_job(store, jid).status == "failed"
    assert calls == [(jid, "failed")]
    # a hook whose module or function is missing is simply skipped
    monkeypatch.setitem(registry.ABANDON_HOOKS, "sleep", "otcore.jobs.no_such_module:f")
    assert registry.abandon_hook("sleep") is None


def test_a_stopped_workers_job_is_retried_with_bounded_attempts(store: Store) -> None:
    """With attempts left a stopped worker's job goes back to the queue; the old worker can no
    longer write it; after ``max_attempts`` claims it is failed."""
    jid = queue.submit(store, "sleep", max_attempts=3)
    assert queue.get_job(store, jid).attempts == 0
    old = utcnow() - timedelta(seconds=600)
    for attempt in (1, 2, 3):
        job = queue.claim_next(store, f"w{attempt}")
        assert job is not None and job.id == jid and job.attempts == attempt and job.max_attempts == 3
        if attempt > 1:
            assert job.message == f"started (attempt {attempt} of 3)"
        with store.write() as s:
            s.execute(update(Job).where(Job.id == jid).values(heartbeat_at=old))
        after = queue.get_job(store, jid)  # reaps
        if attempt < 3:
            assert after.status == "queued" and after.worker_id is None
            assert f"queued again (attempt {attempt} of 3 did not finish)" in after.message
            # the silent worker comes back: it may neither beat nor finish the requeued job
            assert not queue.heartbeat(store, jid, f"w{attempt}", progress=0.5)
            assert not queue.finish(store, jid, {"steps": 1}, worker_id=f"w{attempt}")
            assert queue.get_job(store, jid).status == "queued"
    final = queue.get_job(store, jid)
    assert final.status == "failed" and final.attempts == 3
    assert final.message.startswith("worker stopped while running after 3 attempts: no heartbeat")


def test_a_retried_job_finishes_once_for_its_new_worker(store: Store) -> None:
    jid = queue.submit(store, "sleep")
    assert queue.claim_next(store, "old") is not None
    with store.write() as s:
        s.execute(update(Job).where(Job.id == jid).values(heartbeat_at=utcnow() - timedelta(seconds=600)))
    assert queue.get_job(store, jid).status == "queued"
    job = queue.claim_next(store, "new")
    assert job is not None and job.attempts == 2
    assert queue.finish(store, jid, {"steps": 1}, worker_id="new")
    assert not queue.finish(store, jid, {"steps": 2}, worker_id="old")
    assert not queue.finish(store, jid, {"steps": 3}, worker_id="new")
    done = queue.get_job(store, jid)
    assert (done.status, done.result, done.worker_id, done.attempts) == ("done", {"steps": 1}, "new", 2)


def test_a_cancel_requested_job_of_a_stopped_worker_is_not_retried(store: Store) -> None:
    jid = queue.submit(store, "sleep")
    queue.claim_next(store, "w")
    queue.request_cancel(store, jid)
    with store.write() as s:
        s.execute(update(Job).where(Job.id == jid).values(heartbeat_at=utcnow() - timedelta(seconds=600)))
    assert queue.get_job(store, jid).status == "failed"


def test_worker_shut_down_mid_job_gives_it_back_to_the_queue(settings: Settings) -> None:
    store = Store.from_settings(settings)
    jid = queue.submit(store, "sleep", {"steps": 200, "seconds": 0.02})
    stop = threading.Event()
    t = threading.Thread(target=run_worker, args=(settings,), kwargs={"stop_event": stop, "poll": 0.05})
    t.start()
    _wait(lambda: queue.get_job(store, jid).progress > 0)
    stop.set()
    t.join(20)
    job = queue.get_job(store, jid)
    assert job.status == "queued" and job.attempts == 1 and "the worker was shut down" in job.message
    assert run_worker(settings, once=True, poll=0.05) == 1
    job = queue.get_job(store, jid)
    assert (job.status, job.attempts, job.result) == ("done", 2, {"steps": 200})
    store.close()


def test_claim_restricted_to_kinds(store: Store) -> None:
    a = queue.submit(store, "sleep")
    b = queue.submit(store, "find_phases", {"project_id": 1})
    assert queue.claim_next(store, "gpu", kinds=["extract_features", "find_phases"]).id == b  # type: ignore[union-attr]
    assert queue.claim_next(store, "gpu", kinds=["extract_features", "find_phases"]) is None
    assert queue.claim_next(store, "cpu").id == a  # type: ignore[union-attr]
