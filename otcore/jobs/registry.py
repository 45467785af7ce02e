"""Job kinds: kind → (request type, function, result type), imported only when a job runs.

A job function has the signature ``def run(ctx: JobContext, request: Request) -> Result``
where ``Request`` and ``Result`` are frozen dataclasses of the job's module (the request
names its kind in ``kind: ClassVar[str]``). The worker reads the row's parameters into the
request and writes the result back with :mod:`otcore.jobs.spec`, the one codec.

The table holds names, not objects, so ``import otcore.jobs`` stays light (no torch) and a
missing optional piece fails only the jobs that need it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "JOB_KINDS",
    "ABANDON_HOOKS",
    "JobKind",
    "LoadedKind",
    "UnknownJobKind",
    "resolve",
    "load_kind",
    "register",
    "abandon_hook",
]


@dataclass(frozen=True)
class JobKind:
    """Where a job kind lives: ``module`` holds its ``request`` type, ``function`` and ``result`` type."""

    module: str
    request: str
    function: str
    result: str

    @property
    def target(self) -> str:
        """``"module:function"``."""
        return f"{self.module}:{self.function}"


@dataclass(frozen=True)
class LoadedKind:
    """A job kind's request type, function and result type, imported."""

    request: type[Any]
    function: Callable[[Any, Any], Any]
    result: type[Any]


JOB_KINDS: dict[str, JobKind] = {
    "extract_features": JobKind("otcore.jobs.extract", "ExtractRequest", "run", "ExtractResult"),
    "train_fewshot": JobKind("otcore.jobs.fewshot", "TrainRequest", "train", "TrainResult"),
    "predict_fewshot": JobKind("otcore.jobs.fewshot", "PredictRequest", "predict", "PredictResult"),
    "score_unknown": JobKind("otcore.jobs.unknown", "UnknownRequest", "run", "UnknownResult"),
    "propose_zeroshot": JobKind("otcore.jobs.zeroshot", "ZeroShotRequest", "run", "ZeroShotResult"),
    "find_phases": JobKind("otcore.jobs.phases", "PhasesRequest", "run", "PhasesResult"),
    "align_videos": JobKind("otcore.jobs.phases", "AlignRequest", "align", "AlignResult"),
    "weak_foreground": JobKind("otcore.jobs.phases", "WeakRequest", "weak", "WeakResult"),
    "sleep": JobKind("otcore.jobs.builtin", "SleepRequest", "sleep", "SleepResult"),
}

#: Optional clean-up per job kind, called as ``hook(store, job_info)`` after a job was found
#: abandoned (its worker stopped) and marked failed, e.g. to reset a video's
#: ``extracting`` status. A missing module or function means "no clean-up".
ABANDON_HOOKS: dict[str, str] = {
    "extract_features": "otcore.jobs.extract:on_abandoned",
}


class UnknownJobKind(LookupError):
    """No job function is registered under that kind."""


def register(kind: str, spec: JobKind) -> None:
    """Register (or replace) a job kind."""
    JOB_KINDS[kind] = spec


def _spec(kind: str) -> JobKind:
    try:
        return JOB_KINDS[kind]
    except KeyError:
        raise UnknownJobKind(f"unknown job kind {kind!r} (known: {', '.join(sorted(JOB_KINDS))})") from None


def load_kind(kind: str) -> LoadedKind:
    """Import the request type, function and result type of ``kind``; :class:`UnknownJobKind`
    when the kind is not registered, ImportError/AttributeError when a piece is missing."""
    spec = _spec(kind)
    module = importlib.import_module(spec.module)
    return LoadedKind(
        getattr(module, spec.request), getattr(module, spec.function), getattr(module, spec.result)
    )


def resolve(kind: str) -> Callable[[Any, Any], Any]:
    """The function of job ``kind`` (see :func:`load_kind`)."""
    return load_kind(kind).function


def abandon_hook(kind: str) -> Callable[[Any, Any], Any] | None:
    """The clean-up function for an abandoned job of ``kind``, or None when there is none."""
    target = ABANDON_HOOKS.get(kind)
    if target is None:
        return None
    module, _, func = target.partition(":")
    try:
        return getattr(importlib.import_module(module), func, None)
    except ImportError:
        return None
