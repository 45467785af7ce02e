"""Run a job in the foreground: the CLI's way of running the very job the pages queue.

:func:`run_foreground` submits the typed request as a job row, claims that row for this process and
runs it with the worker's own :func:`otcore.jobs.worker.run_job` (same request parsing, job
function, result check and recording), so a foreground run leaves the same row, files and edits
as a background one. With ``on_progress`` the job runs in a thread while the caller is told its
progress; Ctrl-C asks the job to cancel at its next step and waits for it to stop.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from otcore.jobs.spec import JobRequest
    from otcore.settings import Settings
    from otcore.store import JobInfo, Store

__all__ = ["ForegroundRun", "run_foreground"]


@dataclass(frozen=True)
class ForegroundRun:
    """The finished job row and how long the run took."""

    job: JobInfo
    seconds: float


def run_foreground(
    store: Store,
    settings: Settings,
    request: JobRequest,
    project_id: int | None = None,
    on_progress: Callable[[float, str], None] | None = None,
    poll: float = 0.2,
) -> ForegroundRun:
    """Submit ``request``, run it here, return the finished row (status ``done``, ``failed`` or
    ``cancelled``; the job's message says why)."""
    from otcore.jobs import queue
    from otcore.jobs.worker import run_job
    from otcore.store.jobrows import ClaimedBy

    pid = project_id if project_id is not None else getattr(request, "project_id", None)
    job_id = queue.submit_request(store, request, project_id=pid)
    worker_id = f"foreground-{os.getpid()}-{job_id}"
    t0 = time.perf_counter()
    if not store.jobs.claim(job_id, ClaimedBy(worker_id=worker_id, pid=os.getpid(), host=queue.hostname())):
        raise RuntimeError(f"job {job_id} was taken by another worker before it could run here")
    job = queue.get_job(store, job_id, reap=False)
    if on_progress is None:
        run_job(store, settings, job, worker_id)
        return ForegroundRun(queue.get_job(store, job_id, reap=False), time.perf_counter() - t0)
    thread = threading.Thread(target=run_job, args=(store, settings, job, worker_id), daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(poll)
            row = queue.get_job(store, job_id, reap=False)
            on_progress(float(row.progress or 0.0), str(row.message or ""))
    except KeyboardInterrupt:
        queue.request_cancel(store, job_id)
        thread.join()
    row = queue.get_job(store, job_id, reap=False)
    on_progress(float(row.progress or 0.0), str(row.message or ""))
    return ForegroundRun(row, time.perf_counter() - t0)
