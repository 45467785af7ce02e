"""The job queue: jobs are rows of the ``job`` table.

Life cycle: ``queued`` → ``running`` → ``done`` | ``failed`` | ``cancelled``.

* :func:`submit` writes a queued row; :func:`claim_next` moves the oldest queued row to
  running for one worker in one transaction: ``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL:
  workers on any number of machines skip the rows others are claiming) then a conditional
  ``UPDATE ... WHERE status = 'queued'`` that also counts the attempt (``attempts + 1``).
* The worker writes ``progress``, ``message`` and ``heartbeat_at`` while it runs
  (:class:`otcore.jobs.context.JobContext`), then :func:`finish`, :func:`fail` or
  :func:`mark_cancelled`. Those only change a row still ``running`` for that worker.
* :func:`reap_stale` finds running jobs whose heartbeat is older than the timeout, or whose
  worker process is gone on this host (pid no longer alive). While ``attempts < max_attempts``
  (default :data:`DEFAULT_MAX_ATTEMPTS`) such a job is queued again for any worker, with the
  message ``"worker stopped while running: ...; queued again (attempt n of m failed)"``;
  otherwise it is marked failed with ``"worker stopped while running: ..."``. Requeueing clears
  the worker columns, and every write of a running job names its worker, so the dead (or merely
  silent) worker can never finish it after another took it: no job is completed twice.
  :func:`get_job` and :func:`list_jobs` reap first, so a page finds such a job failed on
  its next look. The kind's clean-up hook (``registry.ABANDON_HOOKS``), if any, runs when it
  is finally marked failed (a requeued job's next run redoes its work from the start).
"""

from __future__ import annotations

import json
import logging
import os
import socket
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otcore.jobs.spec import JobRequest

from otcore.settings import DEFAULT_STALE_SECONDS, env_job_stale_seconds
from otcore.store import JobInfo, Store, StoreError
from otcore.store.jobrows import ClaimedBy
from otcore.store.models import utcnow

__all__ = [
    "submit",
    "submit_request",
    "get_job",
    "list_jobs",
    "request_cancel",
    "is_cancel_requested",
    "claim_next",
    "heartbeat",
    "finish",
    "fail",
    "mark_cancelled",
    "reap_stale",
    "pid_alive",
    "hostname",
    "stale_timeout",
    "requeue",
    "DEFAULT_STALE_SECONDS",
    "DEFAULT_MAX_ATTEMPTS",
]

#: How many times a job is claimed at most (a job whose worker died is retried until then).
DEFAULT_MAX_ATTEMPTS = 3

log = logging.getLogger("otcore.jobs.queue")


def stale_timeout() -> float:
    """Seconds without heartbeat after which a running job counts as dead
    (``OTSTUDIO_JOB_STALE_SECONDS``, default :data:`DEFAULT_STALE_SECONDS`)."""
    return env_job_stale_seconds()


def hostname() -> str:
    """This machine's name, recorded with each claimed job."""
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """True when process ``pid`` exists on this host and is not a zombie."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:  # a killed child not yet waited for is a zombie: it is dead for our purposes
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            state = fh.read().rsplit(")", 1)[-1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


def _json_safe(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what} must be JSON-serialisable: {exc}") from exc


def submit(
    store: Store,
    kind: str,
    params: dict[str, Any] | None = None,
    project_id: int | None = None,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> int:
    """Queue a job of ``kind`` with JSON-able ``params`` (a request's JSON form); returns its id.
    It is claimed at most ``max_attempts`` times (a job whose worker died is retried).
    Pages and the CLI go through :func:`submit_request` (via ``otcore.service``) instead."""
    params = _json_safe(dict(params or {}), "job params")
    return store.jobs.insert(kind, params, project_id, max_attempts=max_attempts)


def submit_request(store: Store, request: JobRequest, project_id: int | None = None) -> int:
    """Queue the job a typed request asks for (``request.kind``); returns its id."""
    from otcore.jobs.spec import to_json

    return submit(store, request.kind, to_json(request), project_id=project_id)


def get_job(store: Store, job_id: int, reap: bool = True) -> JobInfo:
    """The job ``job_id`` (stale running jobs are reaped first); :class:`NotFoundError` if absent."""
    if reap:
        reap_stale(store)
    return store.jobs.get(job_id)


def list_jobs(
    store: Store,
    project_id: int | None = None,
    kind: str | None = None,
    status: str | list[str] | tuple[str, ...] | None = None,
    limit: int | None = 200,
    reap: bool = True,
) -> list[JobInfo]:
    """Jobs, newest first, optionally filtered by project, kind and status (stale ones reaped first)."""
    if reap:
        reap_stale(store)
    statuses = None if status is None else ([status] if isinstance(status, str) else list(status))
    return store.jobs.select(project_id=project_id, kind=kind, status=statuses, limit=limit)


def request_cancel(store: Store, job_id: int) -> JobInfo:
    """Cancel a job: a queued job is cancelled at once; a running job gets ``cancel_requested``
    and stops at its next check between steps; a finished job is left as it is."""
    store.jobs.request_cancel(job_id)
    return get_job(store, job_id, reap=False)


def is_cancel_requested(store: Store, job_id: int) -> bool:
    """True when someone asked to cancel the job."""
    return store.jobs.cancel_requested(job_id)


def claim_next(store: Store, worker_id: str, kinds: list[str] | None = None) -> JobInfo | None:
    """Atomically claim the oldest queued job (of ``kinds`` if given) for ``worker_id``.

    One transaction: ``SELECT id ... FOR UPDATE SKIP LOCKED`` then ``UPDATE job SET
    status='running', attempts=attempts+1 ... WHERE id = :id AND status = 'queued'``
    (:meth:`~otcore.store.jobrows.JobRows.claim_oldest`). Returns the claimed job or None.
    """
    by = ClaimedBy(worker_id=worker_id, pid=os.getpid(), host=hostname())
    return store.jobs.claim_oldest(by, kinds)


def requeue(store: Store, job_id: int, worker_id: str, reason: str) -> bool:
    """Give a running job back to the queue (its worker is shutting down) when attempts remain;
    whether it was queued again (False: the caller marks it failed)."""
    job = get_job(store, job_id, reap=False)
    message = (
        f"worker stopped while running: {reason}; queued again "
        f"(attempt {job.attempts} of {job.max_attempts} did not finish)"
    )
    return store.jobs.requeue_by_worker(job_id, worker_id, message)


def heartbeat(
    store: Store,
    job_id: int,
    worker_id: str | None = None,
    progress: float | None = None,
    message: str | None = None,
) -> bool:
    """Write the heartbeat (and progress/message if given) of a running job. Returns whether
    the row was still running (for this worker); False means it was reaped or finished."""
    values: dict[str, Any] = {"heartbeat_at": utcnow()}
    if progress is not None:
        values["progress"] = min(max(float(progress), 0.0), 1.0)
    if message is not None:
        values["message"] = str(message)
    return store.jobs.update_running(job_id, worker_id, **values)


def _finish(store: Store, job_id: int, worker_id: str | None, **values: Any) -> bool:
    values.setdefault("finished_at", utcnow())
    return store.jobs.update_running(job_id, worker_id, **values)


def finish(
    store: Store,
    job_id: int,
    result: dict[str, Any] | None = None,
    worker_id: str | None = None,
    message: str = "done",
) -> bool:
    """Mark a running job done with its JSON-able ``result``; False if it was no longer running."""
    result = _json_safe(dict(result or {}), "job result")
    return _finish(
        store,
        job_id,
        worker_id,
        status="done",
        progress=1.0,
        result=result,
        message=message,
        heartbeat_at=utcnow(),
    )


def fail(
    store: Store, job_id: int, message: str, error: str | None = None, worker_id: str | None = None
) -> bool:
    """Mark a running job failed with a message (and traceback text in ``error``)."""
    return _finish(store, job_id, worker_id, status="failed", message=message, error=error or message)


def mark_cancelled(
    store: Store, job_id: int, message: str = "cancelled", worker_id: str | None = None
) -> bool:
    """Mark a running job cancelled (after it stopped at a cancel check)."""
    return _finish(store, job_id, worker_id, status="cancelled", message=message)


def reap_stale(store: Store, timeout: float | None = None, now: datetime | None = None) -> list[int]:
    """Requeue (attempts left) or fail running jobs whose worker stopped: heartbeat older than
    ``timeout`` seconds (default :func:`stale_timeout`), or worker pid gone on this host.
    Returns the ids of the jobs marked failed."""
    timeout = stale_timeout() if timeout is None else float(timeout)
    now = now or utcnow()
    host = hostname()
    reaped = []
    for job in store.jobs.running():
        reason = None
        if job.worker_host == host and job.worker_pid is not None and not pid_alive(job.worker_pid):
            reason = f"worker process {job.worker_pid} is gone"
        elif job.heartbeat_at is None or now - job.heartbeat_at > timedelta(seconds=timeout):
            last = (
                "never"
                if job.heartbeat_at is None
                else f"{(now - job.heartbeat_at).total_seconds():.0f}s ago"
            )
            reason = f"no heartbeat for more than {timeout:.0f}s (last {last})"
        if reason is None:
            continue
        where = f"at {job.progress:.0%}: {job.message or '-'}"
        if job.attempts < job.max_attempts and not job.cancel_requested:
            msg = (
                f"worker stopped while running: {reason} ({where}); queued again "
                f"(attempt {job.attempts} of {job.max_attempts} did not finish)"
            )
            if store.jobs.requeue_if_unchanged(job, msg):
                log.warning("job %s (%s): %s", job.id, job.kind, msg)
            continue
        tries = f" after {job.attempts} attempts" if job.attempts > 1 else ""
        msg = (
            f"worker stopped while running{tries}: {reason} ({where}); "
            "inputs and annotations are unchanged, submit the job again"
        )
        if store.jobs.fail_if_unchanged(job, msg, now):
            reaped.append(job.id)
    for job_id in reaped:
        _run_abandon_hook(store, job_id)
    return reaped


def _run_abandon_hook(store: Store, job_id: int) -> None:
    from otcore.jobs.registry import abandon_hook

    job = get_job(store, job_id, reap=False)
    try:
        hook = abandon_hook(job.kind)
        if hook is not None:
            hook(store, job)
    except Exception:  # noqa: BLE001 - clean-up is best effort; the job is already marked failed
        log.exception("clean-up of abandoned job %s (%s) failed", job.id, job.kind)
