"""Built-in job kinds: ``sleep``, a few timed steps with progress and cancel checks.

Used by the tests and by the app as a smoke check that the worker is alive and that
progress, cancellation and failure reach the page.
"""

from __future__ import annotations

import time
from typing import Any

from otcore.jobs.context import JobContext

__all__ = ["sleep"]


def sleep(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Run ``params["steps"]`` steps (default 5) of ``params["seconds"]`` each (default 0.1),
    reporting progress after each and checking for cancel before each. ``params["fail_at"]``
    (a step index) raises a RuntimeError at that step, to exercise failure handling."""
    steps = int(params.get("steps", 5))
    seconds = float(params.get("seconds", 0.1))
    fail_at = params.get("fail_at")
    done = 0
    for i in range(steps):
        ctx.check_cancelled()
        if fail_at is not None and i == int(fail_at):
            raise RuntimeError(f"sleep job asked to fail at step {i}")
        time.sleep(seconds)
        done = i + 1
        ctx.progress(done / steps, f"step {done}/{steps}")
    return {"steps": done}
