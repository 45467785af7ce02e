"""Background jobs: rows in the store, executed by a worker process.

``submit(store, kind, params)`` queues a job; ``otstudio worker`` (or the process the app
starts with :func:`otcore.jobs.worker.ensure_worker`) claims and runs it; pages read
``get_job``/``list_jobs``. Job functions receive a :class:`JobContext`.
"""

from otcore.jobs.context import JobCancelled, JobContext
from otcore.jobs.queue import claim_next, get_job, list_jobs, reap_stale, request_cancel, submit
from otcore.jobs.registry import JOB_KINDS

__all__ = [
    "submit",
    "get_job",
    "list_jobs",
    "request_cancel",
    "claim_next",
    "reap_stale",
    "JobContext",
    "JobCancelled",
    "JOB_KINDS",
]
