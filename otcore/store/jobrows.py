"""The job table's repository: ``store.jobs`` (:class:`JobRows`).

Plain reads and conditional writes of ``job`` rows; the queue's policy (who may claim, when a
job counts as abandoned, clean-up hooks) lives in :mod:`otcore.jobs.queue`, which goes
through these methods only. Every conditional write returns whether it changed the row, so
two workers racing for one row never both win.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, case, cast, literal, select, update

from otcore.store.models import Job, Project, utcnow
from otcore.store.records import JobInfo, NotFoundError

if TYPE_CHECKING:
    from otcore.store.api import Store

__all__ = ["JobRows", "ClaimedBy", "job_info"]


def job_info(row: Job) -> JobInfo:
    """The frozen record of a job row."""
    return JobInfo(
        id=row.id,
        kind=row.kind,
        params=dict(row.params or {}),
        status=row.status,
        progress=float(row.progress or 0.0),
        message=row.message or "",
        project_id=row.project_id,
        cancel_requested=bool(row.cancel_requested),
        result=None if row.result is None else dict(row.result),
        error=row.error,
        worker_id=row.worker_id,
        worker_pid=row.worker_pid,
        worker_host=row.worker_host,
        heartbeat_at=row.heartbeat_at,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        attempts=int(row.attempts or 0),
        max_attempts=int(row.max_attempts or 1),
    )


@dataclass(frozen=True)
class ClaimedBy:
    """Who claims a job: the worker's id, process id and host."""

    worker_id: str
    pid: int
    host: str


class JobRows:
    """Repository of the ``job`` table of one :class:`~otcore.store.Store`."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def insert(
        self,
        kind: str,
        params: dict[str, Any],
        project_id: int | None,
        max_attempts: int = 3,
        claimed_by: ClaimedBy | None = None,
    ) -> int:
        """Write a queued job (run at most ``max_attempts`` times), or with ``claimed_by`` one
        already running for that claimer (its first attempt; no worker can take it in between);
        :class:`NotFoundError` for an unknown project."""
        with self._store.write() as s:
            if project_id is not None and s.get(Project, project_id) is None:
                raise NotFoundError(f"no project with id {project_id}")
            row = Job(
                kind=kind,
                params=params,
                project_id=project_id,
                status="queued",
                progress=0.0,
                message="queued",
                cancel_requested=False,
                created_at=utcnow(),
                attempts=0,
                max_attempts=max(1, int(max_attempts)),
            )
            if claimed_by is not None:
                now = utcnow()
                row.status, row.message, row.attempts = "running", "started", 1
                row.worker_id, row.worker_pid, row.worker_host = (
                    claimed_by.worker_id,
                    claimed_by.pid,
                    claimed_by.host,
                )
                row.started_at, row.heartbeat_at = now, now
            s.add(row)
            s.flush()
            return int(row.id)

    def get(self, job_id: int) -> JobInfo:
        """The job ``job_id``; :class:`NotFoundError` if absent."""
        with self._store.read() as s:
            row = s.get(Job, job_id)
            if row is None:
                raise NotFoundError(f"no job with id {job_id}")
            return job_info(row)

    def select(
        self,
        project_id: int | None = None,
        kind: str | None = None,
        status: Sequence[str] | None = None,
        limit: int | None = 200,
    ) -> list[JobInfo]:
        """Jobs, newest first, optionally filtered."""
        with self._store.read() as s:
            q = select(Job)
            if project_id is not None:
                q = q.where(Job.project_id == project_id)
            if kind is not None:
                q = q.where(Job.kind == kind)
            if status is not None:
                q = q.where(Job.status.in_(list(status)))
            q = q.order_by(Job.id.desc())
            if limit is not None:
                q = q.limit(limit)
            return [job_info(r) for r in s.scalars(q)]

    def running(self) -> list[JobInfo]:
        """Every running job."""
        return self.select(status=["running"], limit=None)

    def request_cancel(self, job_id: int) -> None:
        """A queued job becomes cancelled; a running one gets ``cancel_requested``; others stay."""
        with self._store.write() as s:
            row = s.get(Job, job_id)
            if row is None:
                raise NotFoundError(f"no job with id {job_id}")
            now = utcnow()
            if row.status == "queued":
                s.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status == "queued")
                    .values(
                        status="cancelled",
                        cancel_requested=True,
                        message="cancelled before it started",
                        finished_at=now,
                    )
                )
            elif row.status == "running":
                s.execute(
                    update(Job).where(Job.id == job_id, Job.status == "running").values(cancel_requested=True)
                )

    def cancel_requested(self, job_id: int) -> bool:
        """True when someone asked to cancel the job."""
        with self._store.read() as s:
            return bool(s.scalar(select(Job.cancel_requested).where(Job.id == job_id)))

    def queued_ids(self, kinds: Sequence[str] | None = None, limit: int = 10) -> list[int]:
        """Ids of the oldest queued jobs (of ``kinds`` if given)."""
        with self._store.read() as s:
            q = select(Job.id).where(Job.status == "queued")
            if kinds is not None:
                q = q.where(Job.kind.in_(list(kinds)))
            return [int(i) for i in s.scalars(q.order_by(Job.id).limit(limit))]

    def _claim_values(self, by: ClaimedBy) -> dict[str, Any]:
        now = utcnow()
        return {
            "status": "running",
            "worker_id": by.worker_id,
            "worker_pid": by.pid,
            "worker_host": by.host,
            "started_at": now,
            "heartbeat_at": now,
            "progress": 0.0,
            "message": case(
                (
                    Job.attempts > 0,
                    literal("started (attempt ")
                    + cast(Job.attempts + 1, String)
                    + literal(" of ")
                    + cast(Job.max_attempts, String)
                    + literal(")"),
                ),
                else_=literal("started"),
            ),
            "attempts": Job.attempts + 1,
        }

    def claim(self, job_id: int, by: ClaimedBy) -> bool:
        """``UPDATE job SET status='running', attempts=attempts+1 ... WHERE id = :id AND status =
        'queued'``: True when this claimer won the row (row count 1), False when another was faster."""
        with self._store.write() as s:
            res = s.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "queued")
                .values(**self._claim_values(by))
                .execution_options(synchronize_session=False)
            )
            return bool(res.rowcount == 1)  # type: ignore[attr-defined]

    def claim_oldest(self, by: ClaimedBy, kinds: Sequence[str] | None = None) -> JobInfo | None:
        """Claim the oldest queued job (of ``kinds`` if given) in one transaction; the claimed job
        (message ``started (attempt n of m)`` from the second attempt on) or None.

        ``SELECT id ... ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`` then the conditional claim
        ``UPDATE``: on PostgreSQL a row another worker is claiming is skipped, not waited for, so
        any number of workers claim distinct jobs without retries. SQLite has no row locks (the
        clause is not rendered) and serialises the transaction with ``BEGIN IMMEDIATE`` instead.
        """
        with self._store.write() as s:
            q = select(Job.id).where(Job.status == "queued")
            if kinds is not None:
                q = q.where(Job.kind.in_(list(kinds)))
            job_id = s.scalar(q.order_by(Job.id).limit(1).with_for_update(skip_locked=True))
            if job_id is None:
                return None
            res = s.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "queued")
                .values(**self._claim_values(by))
                .execution_options(synchronize_session=False)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                return None
            row = s.scalars(
                select(Job).where(Job.id == job_id).execution_options(populate_existing=True)
            ).one()
            return job_info(row)

    def update_running(self, job_id: int, worker_id: str | None, **values: Any) -> bool:
        """Write ``values`` on a job still running (for ``worker_id`` if given); whether it was."""
        with self._store.write() as s:
            q = update(Job).where(Job.id == job_id, Job.status == "running")
            if worker_id is not None:
                q = q.where(Job.worker_id == worker_id)
            res = s.execute(q.values(**values).execution_options(synchronize_session=False))
            return bool(res.rowcount == 1)  # type: ignore[attr-defined]

    def requeue_if_unchanged(self, job: JobInfo, message: str) -> bool:
        """Queue a running job again (for another worker) when its heartbeat and worker are still
        the ones in ``job``; whether this call requeued it. Its old worker can no longer write it
        (every write of a running job names its worker), so it is never finished twice."""
        with self._store.write() as s:
            q = update(Job).where(Job.id == job.id, Job.status == "running", Job.attempts == job.attempts)
            if job.worker_id is not None:
                q = q.where(Job.worker_id == job.worker_id)
            if job.heartbeat_at is None:
                q = q.where(Job.heartbeat_at.is_(None))
            else:
                q = q.where(Job.heartbeat_at == job.heartbeat_at)
            res = s.execute(
                q.values(
                    status="queued",
                    message=message,
                    worker_id=None,
                    worker_pid=None,
                    worker_host=None,
                    heartbeat_at=None,
                    started_at=None,
                    progress=0.0,
                ).execution_options(synchronize_session=False)
            )
            return bool(res.rowcount == 1)  # type: ignore[attr-defined]

    def requeue_by_worker(self, job_id: int, worker_id: str, message: str) -> bool:
        """Queue a job running for ``worker_id`` again (that worker is shutting down)."""
        with self._store.write() as s:
            res = s.execute(
                update(Job)
                .where(
                    Job.id == job_id,
                    Job.status == "running",
                    Job.worker_id == worker_id,
                    Job.attempts < Job.max_attempts,
                )
                .values(
                    status="queued",
                    message=message,
                    worker_id=None,
                    worker_pid=None,
                    worker_host=None,
                    heartbeat_at=None,
                    started_at=None,
                    progress=0.0,
                )
                .execution_options(synchronize_session=False)
            )
            return bool(res.rowcount == 1)  # type: ignore[attr-defined]

    def fail_if_unchanged(self, job: JobInfo, message: str, now: datetime) -> bool:
        """Fail a running job whose heartbeat is still the one in ``job`` (nobody beat since it
        was read); whether this call failed it."""
        with self._store.write() as s:
            q = update(Job).where(Job.id == job.id, Job.status == "running")
            if job.heartbeat_at is None:
                q = q.where(Job.heartbeat_at.is_(None))
            else:
                q = q.where(Job.heartbeat_at == job.heartbeat_at)
            res = s.execute(
                q.values(status="failed", message=message, error=message, finished_at=now).execution_options(
                    synchronize_session=False
                )
            )
            return bool(res.rowcount == 1)  # type: ignore[attr-defined]
