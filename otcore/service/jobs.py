"""Service verbs about jobs: one ``submit_*`` per job kind (a typed request in, the job id out),
the job rows for pages, and the typed results and saved predictions jobs leave behind.

Pages and the CLI build a request from :mod:`otcore.jobs` (``TrainRequest``, ``PhasesRequest``,
...) and call the verb of its kind; they read what a job wrote through :func:`job_result` and
:func:`load_prediction`, never through the job modules.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from otcore.jobs.phases import ALIGN_PLAN, PHASE_PLAN
from otcore.settings import Settings
from otcore.storage import local_file

if TYPE_CHECKING:
    from otcore.jobs.builtin import SleepRequest
    from otcore.jobs.fewshot import PredictRequest, PredictResult, TrainRequest, TrainResult
    from otcore.jobs.phases import AlignRequest, PhasesRequest, WeakRequest
    from otcore.jobs.spec import JobRequest
    from otcore.jobs.zeroshot import ZeroShotRequest
    from otcore.store import JobInfo, Store
    from otcore.store.predictions import SavedPrediction

__all__ = [
    "submit_training",
    "submit_prediction",
    "submit_zeroshot",
    "submit_phases",
    "submit_alignment",
    "submit_foreground",
    "submit_sleep",
    "get_job",
    "list_jobs",
    "cancel_job",
    "latest_job",
    "job_request",
    "job_result",
    "load_prediction",
    "latest_fewshot_prediction",
    "cluster_to_label",
    "default_k",
    "PHASE_PLAN",
    "ALIGN_PLAN",
]

R = TypeVar("R")

_FEWSHOT_KINDS = ("train_fewshot", "predict_fewshot")


def _submit(store: Store, request: JobRequest, project_id: int | None) -> int:
    from otcore.jobs.queue import submit_request

    return submit_request(store, request, project_id=project_id)


def submit_training(store: Store, request: TrainRequest, project_id: int | None = None) -> int:
    """Queue ``train_fewshot``; returns the job id."""
    return _submit(store, request, project_id if project_id is not None else request.project_id)


def submit_prediction(store: Store, request: PredictRequest, project_id: int | None = None) -> int:
    """Queue ``predict_fewshot``; returns the job id."""
    return _submit(store, request, project_id if project_id is not None else request.project_id)


def submit_zeroshot(store: Store, request: ZeroShotRequest, project_id: int | None = None) -> int:
    """Queue ``propose_zeroshot`` (proposals from label names); returns the job id."""
    return _submit(store, request, project_id if project_id is not None else request.project_id)


def submit_phases(store: Store, request: PhasesRequest, project_id: int | None = None) -> int:
    """Queue ``find_phases``; returns the job id."""
    return _submit(store, request, project_id)


def submit_alignment(store: Store, request: AlignRequest, project_id: int | None = None) -> int:
    """Queue ``align_videos``; returns the job id."""
    return _submit(store, request, project_id)


def submit_foreground(store: Store, request: WeakRequest, project_id: int | None = None) -> int:
    """Queue ``weak_foreground``; returns the job id."""
    return _submit(store, request, project_id if project_id is not None else request.project_id)


def submit_sleep(store: Store, request: SleepRequest, project_id: int | None = None) -> int:
    """Queue the built-in ``sleep`` job (a smoke check of the worker); returns the job id."""
    return _submit(store, request, project_id)


# ---------------------------------------------------------------------------- job rows


def get_job(store: Store, job_id: int) -> JobInfo:
    """The job ``job_id`` as stored now (stale running jobs are reaped first)."""
    from otcore.jobs.queue import get_job as get

    return get(store, job_id)


def list_jobs(
    store: Store,
    project_id: int | None = None,
    kind: str | None = None,
    status: str | list[str] | tuple[str, ...] | None = None,
    limit: int | None = 200,
) -> list[JobInfo]:
    """Jobs, newest first, optionally filtered by project, kind and status."""
    from otcore.jobs.queue import list_jobs as list_

    return list_(store, project_id=project_id, kind=kind, status=status, limit=limit)


def cancel_job(store: Store, job_id: int) -> JobInfo:
    """Cancel a queued job at once, a running one at its next step; a finished one stays."""
    from otcore.jobs.queue import request_cancel

    return request_cancel(store, job_id)


def latest_job(
    store: Store, project_id: int, kind: str, match: Mapping[str, Any], done: bool = False
) -> JobInfo | None:
    """Newest job of ``kind`` in the project whose request has the values in ``match`` (only
    finished ones if ``done``)."""
    for job in list_jobs(store, project_id=project_id, kind=kind, status="done" if done else None, limit=100):
        p = job.params or {}
        if all(str(p.get(k)) == str(v) for k, v in match.items()):
            return job
    return None


def job_request(job: JobInfo, request_type: type[R]) -> R:
    """The typed request a job was submitted with (``request_type`` must be its kind's)."""
    from otcore.jobs.registry import load_kind
    from otcore.jobs.spec import from_json

    expected = load_kind(job.kind).request
    if expected is not request_type:
        raise TypeError(f"job {job.id} ({job.kind}) has requests of type {expected.__name__}")
    return from_json(request_type, job.params, strict=False)


def job_result(job: JobInfo, result_type: type[R]) -> R | None:
    """The typed result of a finished job (``None`` when it has none yet). ``result_type`` must
    be the result type registered for ``job.kind``."""
    from otcore.jobs.registry import load_kind
    from otcore.jobs.spec import from_json

    if not job.result:
        return None
    expected = load_kind(job.kind).result
    if expected is not result_type:
        raise TypeError(f"job {job.id} ({job.kind}) has results of type {expected.__name__}")
    return from_json(result_type, job.result, strict=False)


# ---------------------------------------------------------------------------- saved predictions


def load_prediction(settings: Settings, stored_path: str | os.PathLike[str]) -> SavedPrediction:
    """The prediction a job saved at ``stored_path`` (relative to the data dir or absolute)."""
    from otcore.store.predictions import load_prediction as load

    return load(local_file(settings, stored_path))


def latest_fewshot_prediction(
    store: Store, settings: Settings, project_id: int, video_id: int
) -> tuple[SavedPrediction, JobInfo, TrainResult | PredictResult] | None:
    """The prediction of ``video_id`` by the newest finished few-shot job that predicted it,
    with the job and its result; None when no such job (or its file) exists."""
    from otcore.jobs.fewshot import PredictResult, TrainResult

    for job in list_jobs(store, project_id=project_id, status="done", limit=50):
        if job.kind not in _FEWSHOT_KINDS or not job.result:
            continue
        result: TrainResult | PredictResult | None = (
            job_result(job, TrainResult) if job.kind == "train_fewshot" else job_result(job, PredictResult)
        )
        info = (result.predictions or {}).get(int(video_id)) if result is not None else None
        if result is not None and info is not None and info.plans_path:
            path = local_file(settings, info.plans_path)
            if path.is_file():
                return load_prediction(settings, path), job, result
    return None


def cluster_to_label(
    store: Store,
    settings: Settings,
    video_id: int,
    result_path: str,
    cluster: int,
    label: str,
    min_duration: float = 0.0,
) -> list[int]:
    """Turn the runs of ``cluster`` in a ``find_phases`` result into predicted segments named
    ``label`` (see :func:`otcore.jobs.phases.cluster_to_label`)."""
    from otcore.jobs.phases import cluster_to_label as apply

    return apply(store, settings, video_id, result_path, cluster, label, min_duration)


def default_k(store: Store, project_id: int | None) -> int:
    """Number of phases to propose: the project's label count (≥ 2), else 8."""
    from otcore.jobs.phases import default_k as k

    return k(store, project_id)
