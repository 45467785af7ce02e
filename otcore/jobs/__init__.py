"""Background jobs: rows in the store, executed by a worker process.

Each job kind is a typed request, a function and a typed result (:mod:`otcore.jobs.registry`);
``submit_request(store, request)`` queues one (pages go through ``otcore.service``);
``otstudio worker`` (or the process the app starts with :func:`otcore.jobs.worker.ensure_worker`)
claims it, reads the request back (:mod:`otcore.jobs.spec`), runs it with a :class:`JobContext`
and stores the result.
"""

from otcore.jobs.context import JobCancelled, JobContext
from otcore.jobs.queue import (
    claim_next,
    get_job,
    list_jobs,
    reap_stale,
    request_cancel,
    submit,
    submit_request,
)
from otcore.jobs.registry import JOB_KINDS

__all__ = [
    "submit",
    "submit_request",
    "get_job",
    "list_jobs",
    "request_cancel",
    "claim_next",
    "reap_stale",
    "JobContext",
    "JobCancelled",
    "JOB_KINDS",
]
