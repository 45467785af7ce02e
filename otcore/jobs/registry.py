"""Job kinds: a name → ``"module:function"`` table, imported only when a job runs.

A job function has the signature ``def run(ctx: JobContext, params: dict) -> dict``.
Keeping the targets as strings keeps ``import otcore.jobs`` light (no torch) and lets a
missing optional piece fail only the jobs that need it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["JOB_KINDS", "ABANDON_HOOKS", "UnknownJobKind", "resolve", "register", "abandon_hook"]

JOB_KINDS: dict[str, str] = {
    "extract_features": "otcore.jobs.extract:run",
    "train_fewshot": "otcore.jobs.fewshot:train",
    "predict_fewshot": "otcore.jobs.fewshot:predict",
    "find_phases": "otcore.jobs.phases:run",
    "align_videos": "otcore.jobs.phases:align",
    "weak_foreground": "otcore.jobs.phases:weak",
    "sleep": "otcore.jobs.builtin:sleep",
}

#: Optional clean-up per job kind, called as ``hook(store, job_info)`` after a job was found
#: abandoned (its worker stopped) and marked failed, e.g. to reset a video's
#: ``extracting`` status. A missing module or function means "no clean-up".
ABANDON_HOOKS: dict[str, str] = {
    "extract_features": "otcore.jobs.extract:on_abandoned",
}


class UnknownJobKind(LookupError):
    """No job function is registered under that kind."""


def register(kind: str, target: str) -> None:
    """Register (or replace) a job kind: ``target`` is ``"package.module:function"``."""
    if ":" not in target:
        raise ValueError(f"job target must be 'module:function', got {target!r}")
    JOB_KINDS[kind] = target


def resolve(kind: str) -> Callable[[Any, dict[str, Any]], Any]:
    """Import and return the function of job ``kind``; :class:`UnknownJobKind` when the kind is
    not registered, ImportError/AttributeError when its module or function is missing."""
    try:
        target = JOB_KINDS[kind]
    except KeyError:
        raise UnknownJobKind(f"unknown job kind {kind!r} (known: {', '.join(sorted(JOB_KINDS))})") from None
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)


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
