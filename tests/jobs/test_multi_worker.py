"""Three ``otstudio worker`` processes on one PostgreSQL queue, one killed mid-job (SIGKILL).

Each job of the test's ``record`` kind appends ``job_id pid`` to a start log when it begins and to
a done log just before it returns; the killed worker's job must be started twice (attempt 2 by
another worker), and every job must be done exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from otcore.jobs import queue
from otcore.settings import Settings
from otcore.store import Store

pytestmark = pytest.mark.postgres

RECORD_JOB = '''
"""A test job kind: a few timed steps, logging its start and its completion."""
import os
import time
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class RecordRequest:
    kind: ClassVar[str] = "record"
    steps: int = 2
    seconds: float = 0.02
    log: str = ""


@dataclass(frozen=True)
class RecordResult:
    pid: int


def _append(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def run(ctx, request):
    _append(request.log + ".start", f"{ctx.job_id} {os.getpid()}\\n")
    for i in range(request.steps):
        ctx.check_cancelled()
        time.sleep(request.seconds)
        ctx.progress((i + 1) / request.steps, f"step {i + 1}/{request.steps}")
    _append(request.log, f"{ctx.job_id} {os.getpid()}\\n")
    return RecordResult(pid=os.getpid())
'''

LAUNCH = """
import sys
sys.path.insert(0, {mod_dir!r})
from otcore.jobs import registry
registry.JOB_KINDS["record"] = registry.JobKind("record_job", "RecordRequest", "run", "RecordResult")
from otcore.jobs.worker import main
raise SystemExit(main(sys.argv[1:]))
"""


def start_workers(
    n: int, settings: Settings, mod_dir: Path, extra: list[str] | None = None
) -> list[subprocess.Popen[bytes]]:
    """``n`` worker processes (not exclusive) on ``settings``' database, knowing the ``record`` kind."""
    env = dict(
        os.environ, OTSTUDIO_DATABASE_URL=settings.database_url, OTSTUDIO_DATA_DIR=str(settings.data_dir)
    )
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")])
    code = LAUNCH.format(mod_dir=str(mod_dir))
    args = ["--data-dir", str(settings.data_dir), "--poll", "0.05", "--heartbeat", "0.2", *(extra or [])]
    return [
        subprocess.Popen(  # noqa: S603 - our own interpreter
            [sys.executable, "-c", code, *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(n)
    ]


def write_record_module(tmp: Path) -> Path:
    mod_dir = tmp / "mods"
    mod_dir.mkdir(exist_ok=True)
    (mod_dir / "record_job.py").write_text(textwrap.dedent(RECORD_JOB))
    return mod_dir


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _wait(pred: Callable[[], bool], timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _lines(path: Path) -> list[tuple[int, int]]:
    if not path.exists():
        return []
    return [(int(a), int(b)) for a, b in (ln.split() for ln in path.read_text().splitlines())]


def test_three_workers_one_killed_mid_job(tmp_path: Path, pg_url: str) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=pg_url)
    settings.data_dir.mkdir()
    log = tmp_path / "done.log"
    store = Store.from_settings(settings)
    victim = queue.submit(store, "record", {"steps": 400, "seconds": 0.02, "log": str(log)})
    short = [queue.submit(store, "record", {"steps": 2, "seconds": 0.02, "log": str(log)}) for _ in range(40)]
    procs = start_workers(3, settings, write_record_module(tmp_path))
    try:
        _wait(lambda: queue.get_job(store, victim, reap=False).progress > 0.05)
        first = queue.get_job(store, victim, reap=False)
        assert first.status == "running" and first.attempts == 1
        killed = next(p for p in procs if p.pid == first.worker_pid)
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(timeout=30)
        # the other workers reap it (pid gone on this host) and one of them runs it again
        _wait(lambda: all(j.finished for j in queue.list_jobs(store, reap=False, limit=None)), timeout=240)
    finally:
        stop_workers(procs)
    jobs = {j.id: j for j in queue.list_jobs(store, reap=False, limit=None)}
    assert all(j.status == "done" for j in jobs.values()), {j.id: j.message for j in jobs.values()}
    again = jobs[victim]
    assert (
        again.attempts == 2 and again.worker_pid != killed.pid and again.worker_pid in {p.pid for p in procs}
    )
    assert all(jobs[j].attempts == 1 for j in short)
    done = _lines(log)
    assert sorted(j for j, _ in done) == sorted([victim, *short])  # each completed exactly once
    assert [j for j, _ in _lines(Path(str(log) + ".start"))].count(victim) == 2
    assert (victim, killed.pid) not in done
    # the work was shared: the survivors both ran jobs
    assert len({pid for _, pid in done}) >= 2
    store.close()
