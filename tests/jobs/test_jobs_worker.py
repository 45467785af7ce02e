"""The worker process: started detached, killed mid-job, exclusive per data dir, CLI."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest

from otcore.jobs import queue
from otcore.jobs.worker import _liveness_lock, ensure_worker, main, run_worker, worker_alive
from otcore.settings import Settings
from otcore.store import EditLog, Store


def _wait(pred: Callable[[], bool], timeout: float = 90.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_killing_the_worker_mid_job_marks_it_failed_with_inputs_intact(settings: Settings) -> None:
    store = Store.from_settings(settings)
    project = store.create_project("P")
    video = store.add_video(project.id, "v.mp4", "videos/v.mp4", "f" * 64, 10.0, 10.0, 100, 32, 24)
    log = EditLog(store)
    log.add_segment(video.id, "jump", 1.0, 2.0)
    log.add_segment(video.id, "run", 3.0, 4.5)
    before = log.segments(video.id)
    # one attempt: no retry (tests/jobs/test_multi_worker.py covers retries by other workers)
    jid = queue.submit(
        store, "sleep", {"steps": 1000, "seconds": 0.05}, project_id=project.id, max_attempts=1
    )

    assert not worker_alive(settings)
    proc = ensure_worker(settings)
    assert proc is not None
    try:
        assert ensure_worker(settings) is None  # still starting: not a second one
        _wait(lambda: queue.get_job(store, jid).progress > 0)
        job = queue.get_job(store, jid)
        assert job.status == "running" and job.worker_pid == proc.pid
        assert worker_alive(settings)
        assert ensure_worker(settings) is None  # one worker per data dir
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # the next look finds it failed, with a message; videos and annotations untouched
    job = queue.get_job(store, jid)
    assert job.status == "failed"
    assert job.message.startswith("worker stopped while running")
    assert 0 < job.progress < 1
    assert not worker_alive(settings)
    fresh = Store.from_settings(settings)
    assert fresh.get_video(video.id) == video
    assert EditLog(fresh).segments(video.id) == before
    assert [j.status for j in queue.list_jobs(fresh)] == ["failed"]
    fresh.close()
    store.close()


def test_exclusive_worker_exits_when_another_holds_the_data_dir(settings: Settings) -> None:
    store = Store.from_settings(settings)
    jid = queue.submit(store, "sleep", {"steps": 1, "seconds": 0})
    with _liveness_lock(settings.data_dir, "other") as got:
        assert got and worker_alive(settings)
        assert run_worker(settings, once=True, exclusive=True) == 0
        assert queue.get_job(store, jid).status == "queued"
    assert not worker_alive(settings)
    assert run_worker(settings, once=True, exclusive=True) == 1
    assert queue.get_job(store, jid).status == "done"
    store.close()


def test_cli_worker_once_drains_the_queue(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store.from_settings(settings)
    ids = [queue.submit(store, "sleep", {"steps": 2, "seconds": 0}) for _ in range(3)]
    assert main(["--once", "--data-dir", str(settings.data_dir)]) == 0
    assert "ran 3 job(s)" in capsys.readouterr().out
    assert [queue.get_job(store, j).status for j in ids] == ["done"] * 3
    assert not (settings.data_dir / "worker.pid").exists()
    store.close()


def test_app_started_worker_stops_when_its_parent_is_gone(tmp_path):
    """A worker started with --parent-pid exits by itself once that process has ended."""
    import subprocess as sp
    import sys as _sys

    parent = sp.Popen([_sys.executable, "-c", "import time; time.sleep(60)"])
    worker = sp.Popen(
        [
            _sys.executable,
            "-m",
            "otcore",
            "worker",
            "--data-dir",
            str(tmp_path),
            "--parent-pid",
            str(parent.pid),
        ],
        stdout=sp.DEVNULL,
        stderr=sp.DEVNULL,
    )
    try:
        time.sleep(1.0)
        assert worker.poll() is None, "worker should run while its parent lives"
        parent.kill()
        parent.wait()
        assert worker.wait(timeout=30) == 0
    finally:
        for p in (parent, worker):
            if p.poll() is None:
                p.kill()


def test_worker_kinds_option_rejects_unknown_kinds(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--once", "--data-dir", str(settings.data_dir), "--kinds", "extract_features,bogus"]) == 2
    err = capsys.readouterr().err
    assert "unknown job kind(s) bogus" in err and "extract_features" in err
    store = Store.from_settings(settings)
    jid = queue.submit(store, "sleep", {"steps": 1, "seconds": 0.0})
    assert (
        main(["--once", "--data-dir", str(settings.data_dir), "--kinds", "extract_features,train_fewshot"])
        == 0
    )
    assert queue.get_job(store, jid).status == "queued"  # not a kind this worker takes
    assert main(["--once", "--data-dir", str(settings.data_dir), "--kinds", "sleep"]) == 0
    assert queue.get_job(store, jid).status == "done"
    store.close()
