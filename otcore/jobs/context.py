"""What a running job sees: :class:`JobContext` (progress, heartbeat, cancellation).

A job function is ``def run(ctx: JobContext, request: Request) -> Result`` (typed request and
result, see :mod:`otcore.jobs.registry`). It calls ``ctx.progress(fraction, message)`` as it goes and ``ctx.check_cancelled()``
between steps; the latter raises :class:`JobCancelled` once a cancel was requested (or the
worker is shutting down, :class:`WorkerStopping`). While the job runs, a daemon thread
writes the heartbeat every ``heartbeat_interval`` seconds, so a job busy in one long step
is not mistaken for a dead one.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from otcore.jobs import queue

if TYPE_CHECKING:
    from otcore.settings import Settings
    from otcore.store import JobInfo, Store

__all__ = ["JobContext", "JobCancelled", "WorkerStopping"]


class JobCancelled(Exception):
    """Raised by :meth:`JobContext.check_cancelled` when the job should stop."""


class WorkerStopping(JobCancelled):
    """The worker is shutting down (signal); the job is marked failed, not cancelled."""


class JobContext:
    """Progress reporting and cancellation for one job: ``JobContext(store, settings, job_id)``.

    ``progress`` writes are throttled to one per ``min_interval`` seconds (the latest values
    are flushed by the heartbeat thread); the first report and a fraction of 1.0 are written at once.
    """

    def __init__(
        self,
        store: Store,
        settings: Settings | None,
        job_id: int,
        worker_id: str | None = None,
        *,
        heartbeat_interval: float = 2.0,
        min_interval: float = 0.5,
        stop_event: threading.Event | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.job_id = job_id
        self.worker_id = worker_id
        self.heartbeat_interval = heartbeat_interval
        self.min_interval = min_interval
        self.stop_event = stop_event
        self._lock = threading.Lock()
        self._last_write = 0.0
        self._last_message: str | None = None
        self._pending: tuple[float | None, str | None] | None = None
        self._cancelled = False
        self._last_cancel_check = 0.0
        self._lost = False
        self._hb_stop = threading.Event()
        self._hb_thread: threading.Thread | None = None
        self.fraction = 0.0
        self.message = ""

    # -- for job functions ---------------------------------------------------------------------

    @property
    def job_settings(self) -> Settings:
        """The settings the job runs under: the worker's, else the environment's."""
        from otcore.settings import load_settings

        return self.settings or load_settings()

    @property
    def job(self) -> JobInfo:
        """The job's row as stored now."""
        return queue.get_job(self.store, self.job_id, reap=False)

    def progress(self, fraction: float, message: str = "") -> None:
        """Report progress in ``[0, 1]`` with a short message (also a heartbeat)."""
        fraction = min(max(float(fraction), 0.0), 1.0)
        now = time.monotonic()
        with self._lock:
            self.fraction, self.message = fraction, message
            urgent = fraction >= 1.0 or self._last_write == 0.0
            if not urgent and now - self._last_write < self.min_interval:
                self._pending = (fraction, message)
                return
            self._pending = None
            self._last_write = now
            self._last_message = message
        self._write(fraction, message)

    def check_cancelled(self) -> None:
        """Raise :class:`JobCancelled` if a cancel was requested (checked in the database at
        most every 0.2 s), or :class:`WorkerStopping` if the worker is shutting down."""
        if self.stop_event is not None and self.stop_event.is_set():
            raise WorkerStopping("the worker is shutting down")
        if self._cancelled:
            raise JobCancelled("cancelled on request")
        now = time.monotonic()
        if now - self._last_cancel_check >= 0.2:
            self._last_cancel_check = now
            if queue.is_cancel_requested(self.store, self.job_id):
                self._cancelled = True
                raise JobCancelled("cancelled on request")

    @property
    def cancel_requested(self) -> bool:
        """Whether a cancel was requested (without raising)."""
        try:
            self.check_cancelled()
        except JobCancelled:
            return True
        return False

    # -- for the worker ------------------------------------------------------------------------

    def _write(self, fraction: float | None, message: str | None) -> None:
        ok = queue.heartbeat(self.store, self.job_id, self.worker_id, progress=fraction, message=message)
        if not ok:
            self._lost = True

    def flush(self) -> None:
        """Write pending throttled progress now."""
        with self._lock:
            pending, self._pending = self._pending, None
            if pending is not None:
                self._last_write = time.monotonic()
                self._last_message = pending[1]
        if pending is not None:
            self._write(*pending)

    def start_heartbeat(self) -> None:
        """Start the background heartbeat thread."""
        if self._hb_thread is not None:
            return
        self._hb_stop.clear()
        self._hb_thread = threading.Thread(
            target=self._heartbeat_loop, name=f"job-{self.job_id}-heartbeat", daemon=True
        )
        self._hb_thread.start()

    def stop_heartbeat(self) -> None:
        """Stop the heartbeat thread and flush pending progress."""
        self._hb_stop.set()
        if self._hb_thread is not None:
            self._hb_thread.join(timeout=5.0)
            self._hb_thread = None
        self.flush()

    def _heartbeat_loop(self) -> None:
        while not self._hb_stop.wait(self.heartbeat_interval):
            try:
                with self._lock:
                    pending, self._pending = self._pending, None
                    self._last_write = time.monotonic()
                    if pending is not None:
                        self._last_message = pending[1]
                frac, msg = pending if pending is not None else (None, None)
                self._write(frac, msg)
                if queue.is_cancel_requested(self.store, self.job_id):
                    self._cancelled = True
            except Exception:  # noqa: BLE001 - a transient database error must not kill the job
                continue

    def __enter__(self) -> JobContext:
        self.start_heartbeat()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop_heartbeat()
