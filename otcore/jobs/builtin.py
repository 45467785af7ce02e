"""Built-in job kinds: ``sleep``, a few timed steps with progress and cancel checks.

Used by the tests and by the app as a smoke check that the worker is alive and that
progress, cancellation and failure reach the page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

from otcore.jobs.context import JobContext

__all__ = ["sleep", "SleepRequest", "SleepResult"]


@dataclass(frozen=True)
class SleepRequest:
    """``steps`` steps of ``seconds`` each; ``fail_at`` (a step index) raises a RuntimeError at
    that step, to exercise failure handling."""

    kind: ClassVar[str] = "sleep"
    steps: int = 5
    seconds: float = 0.1
    fail_at: int | None = None


@dataclass(frozen=True)
class SleepResult:
    steps: int


def sleep(ctx: JobContext, request: SleepRequest) -> SleepResult:
    """Run the request's steps, reporting progress after each and checking for cancel before each."""
    done = 0
    for i in range(request.steps):
        ctx.check_cancelled()
        if request.fail_at is not None and i == request.fail_at:
            raise RuntimeError(f"sleep job asked to fail at step {i}")
        time.sleep(request.seconds)
        done = i + 1
        ctx.progress(done / request.steps, f"step {done}/{request.steps}")
    return SleepResult(steps=done)
