"""The worker process: claims queued jobs and runs them (``otstudio worker``).

``run_worker(settings)`` loops: reap stale jobs, claim the oldest queued job, run it with a
:class:`~otcore.jobs.context.JobContext` (heartbeat thread, progress, cancel checks), record
the outcome, repeat; with ``once=True`` it returns as soon as the queue is empty (drain
mode). Several workers, on any number of machines, may run against one database (PostgreSQL
for more than one machine): claiming is atomic (``FOR UPDATE SKIP LOCKED``), a job whose
worker died is retried by another (:func:`otcore.jobs.queue.reap_stale`), and ``kinds``
(``--kinds``) restricts a worker to some job kinds. The liveness lock below is per data dir:
extra workers on one machine run without ``--exclusive``.

Liveness: a worker holds an exclusive ``flock`` on ``<data dir>/worker.lock`` for its
lifetime (released by the kernel even when the process is killed) and writes its pid to
``<data dir>/worker.pid``. :func:`worker_alive` tries that lock; :func:`ensure_worker`
(what the app calls) starts a detached ``python -m otcore worker --exclusive`` when no worker
holds it and none was started in the last ``STARTING_GRACE_S`` seconds (``worker.starting``
records the child's pid: the child takes the lock only after its imports). An
``--exclusive`` worker that finds the lock taken exits at once, so two app processes racing
to start a worker leave exactly one running. Where ``fcntl`` is missing (Windows) the pid
file alone is used.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from otcore.jobs import queue
from otcore.jobs.context import JobCancelled, JobContext, WorkerStopping
from otcore.jobs.registry import JOB_KINDS, UnknownJobKind, load_kind
from otcore.jobs.spec import JobSpecError, from_json, to_json
from otcore.settings import Settings, load_settings
from otcore.store import JobInfo, Store

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "run_worker",
    "run_job",
    "execute",
    "main",
    "start_worker_process",
    "ensure_worker",
    "worker_alive",
    "LOCK_FILE",
    "PID_FILE",
    "LOG_FILE",
    "STARTING_FILE",
    "STARTING_GRACE_S",
]

LOCK_FILE = "worker.lock"
PID_FILE = "worker.pid"
LOG_FILE = "logs/worker.log"
STARTING_FILE = "worker.starting"
#: Seconds during which a just-started worker counts as alive before it holds the lock
#: (starting the interpreter and importing the engine takes a few seconds).
STARTING_GRACE_S = 60.0
#: Seconds between a worker's looks for running jobs whose worker stopped.
REAP_EVERY_S = 1.0

log = logging.getLogger("otcore.jobs.worker")


def _new_worker_id() -> str:
    return f"{queue.hostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------------------- liveness


@contextlib.contextmanager
def _liveness_lock(data_dir: Path, worker_id: str) -> Iterator[bool]:
    """Hold the data dir's worker lock if free; yields whether this worker got it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover - Windows: pid file only
        _write_pid_file(data_dir, worker_id)
        yield True
        return
    fh: IO[str] = open(data_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held for the worker's lifetime
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        _write_pid_file(data_dir, worker_id)
        try:
            yield True
        finally:
            with contextlib.suppress(OSError):
                pid = json.loads((data_dir / PID_FILE).read_text()).get("pid")
                if pid == os.getpid():
                    (data_dir / PID_FILE).unlink()
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    finally:
        fh.close()


def _write_pid_file(data_dir: Path, worker_id: str) -> None:
    info = {"pid": os.getpid(), "host": queue.hostname(), "worker_id": worker_id}
    tmp = data_dir / f".{PID_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps(info))
    tmp.replace(data_dir / PID_FILE)


def worker_alive(settings: Settings) -> bool:
    """True when a worker process holds this data dir's worker lock (or, without ``fcntl``,
    when the pid in ``worker.pid`` is alive)."""
    data_dir = settings.data_dir
    if fcntl is None:  # pragma: no cover - Windows
        try:
            pid = int(json.loads((data_dir / PID_FILE).read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return False
        return queue.pid_alive(pid)
    path = data_dir / LOCK_FILE
    if not path.exists():
        return False
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return False


# ---------------------------------------------------------------------------- running jobs


def execute(ctx: JobContext, kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run job ``kind`` in ``ctx`` on the row form of its request and return the row form of its
    result: read ``params`` into the kind's request type, call its function, check and write the
    result. What :func:`run_job` does between claiming and recording."""
    loaded = load_kind(kind)
    result = loaded.function(ctx, from_json(loaded.request, params))
    if not isinstance(result, loaded.result):
        raise JobSpecError(f"expected {loaded.result.__name__}, got {type(result).__name__}")
    return to_json(result)


def run_job(
    store: Store,
    settings: Settings | None,
    job: JobInfo,
    worker_id: str,
    stop_event: threading.Event | None = None,
    heartbeat_interval: float = 2.0,
) -> str:
    """Run one claimed job to its end and record the outcome; returns the final status
    (``done``, ``failed`` or ``cancelled``; ``queued`` when the worker was shut down mid-job and
    the job, with attempts left, went back to the queue for another worker). Exceptions of the job never escape (except
    KeyboardInterrupt/SystemExit, after the job is marked failed)."""
    ctx = JobContext(
        store, settings, job.id, worker_id, heartbeat_interval=heartbeat_interval, stop_event=stop_event
    )
    try:
        kind = load_kind(job.kind)
    except UnknownJobKind as exc:
        queue.fail(store, job.id, str(exc), worker_id=worker_id)
        return "failed"
    except Exception as exc:  # noqa: BLE001 - the job kind's module failed to import
        queue.fail(
            store,
            job.id,
            f"cannot load job kind {job.kind!r}: {type(exc).__name__}: {exc}",
            error=traceback.format_exc(),
            worker_id=worker_id,
        )
        return "failed"
    try:
        request = from_json(kind.request, job.params)
    except JobSpecError as exc:
        queue.fail(store, job.id, f"bad parameters for job kind {job.kind!r}: {exc}", worker_id=worker_id)
        return "failed"
    ctx.start_heartbeat()
    outcome: tuple[str, Any, str | None]
    try:
        ctx.check_cancelled()
        result = kind.function(ctx, request)
        outcome = ("done", result, None)
    except WorkerStopping:
        outcome = (
            "stopping",
            "worker stopped while running: the worker was shut down; "
            "inputs and annotations are unchanged, submit the job again",
            None,
        )
    except JobCancelled:
        outcome = ("cancelled", "cancelled", None)
    except (KeyboardInterrupt, SystemExit):
        ctx.stop_heartbeat()
        queue.fail(store, job.id, "worker stopped while running: interrupted", worker_id=worker_id)
        raise
    except Exception as exc:  # noqa: BLE001 - any job error is recorded on the job
        outcome = ("failed", f"{type(exc).__name__}: {exc}", traceback.format_exc())
    finally:
        ctx.stop_heartbeat()
    status, payload, tb = outcome
    if status == "done":
        try:
            if not isinstance(payload, kind.result):
                raise JobSpecError(f"expected {kind.result.__name__}, got {type(payload).__name__}")
            queue.finish(store, job.id, to_json(payload), worker_id=worker_id)
        except Exception as exc:  # noqa: BLE001 - e.g. a result that is not JSON-able
            queue.fail(store, job.id, f"job result could not be stored: {exc}", worker_id=worker_id)
            return "failed"
        return "done"
    if status == "stopping":
        if queue.requeue(store, job.id, worker_id, "the worker was shut down"):
            return "queued"
        status = "failed"
    if status == "cancelled":
        queue.mark_cancelled(store, job.id, f"cancelled at {ctx.fraction:.0%}", worker_id=worker_id)
        return "cancelled"
    queue.fail(store, job.id, str(payload), error=tb, worker_id=worker_id)
    return "failed"


def run_worker(
    settings: Settings,
    once: bool = False,
    poll: float = 0.5,
    stop_event: threading.Event | None = None,
    *,
    store: Store | None = None,
    worker_id: str | None = None,
    kinds: list[str] | None = None,
    heartbeat_interval: float = 2.0,
    exclusive: bool = False,
) -> int:
    """Claim and run jobs until ``stop_event`` is set (or, with ``once``, until the queue is
    empty). Returns the number of jobs run. ``exclusive``: return at once (0) when another
    worker already holds this data dir's worker lock."""
    stop_event = stop_event or threading.Event()
    own_store = store is None
    worker_id = worker_id or _new_worker_id()
    n = 0
    with _liveness_lock(settings.data_dir, worker_id) as got_lock:
        if exclusive and not got_lock:
            log.info("another worker holds %s; exiting", settings.data_dir / LOCK_FILE)
            return 0
        store = store or Store.from_settings(settings)
        log.info("worker %s started on %s", worker_id, store)
        last_reap = -float("inf")
        try:
            while not stop_event.is_set():
                try:
                    if time.monotonic() - last_reap >= REAP_EVERY_S:  # one read of running jobs
                        last_reap = time.monotonic()
                        queue.reap_stale(store)
                    job = queue.claim_next(store, worker_id, kinds=kinds)
                except Exception:  # noqa: BLE001 - e.g. database briefly locked: retry later
                    log.exception("could not claim a job")
                    job = None
                    if once:
                        raise
                if job is None:
                    if once:
                        break
                    stop_event.wait(poll)
                    continue
                log.info("job %s (%s) claimed", job.id, job.kind)
                status = run_job(store, settings, job, worker_id, stop_event, heartbeat_interval)
                log.info("job %s (%s) %s", job.id, job.kind, status)
                n += 1
        finally:
            if own_store:
                store.close()
    return n


# ---------------------------------------------------------------------------- processes


def start_worker_process(
    settings: Settings,
    *,
    exclusive: bool = True,
    log_path: Path | None = None,
    extra_args: list[str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a detached ``python -m otcore worker`` for ``settings`` (its own session, output
    appended to ``<data dir>/logs/worker.log``); returns the Popen handle."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_path or settings.data_dir / LOG_FILE
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = settings.worker_environment(pythonpath=str(Path(__file__).resolve().parents[2]))
    cmd = [sys.executable, "-m", "otcore", "worker", "--data-dir", str(settings.data_dir)]
    if exclusive:
        cmd.append("--exclusive")
    cmd += list(extra_args or [])
    with open(log_path, "ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and module
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )


def _starting_pid(data_dir: Path) -> int | None:
    """The pid of a worker started recently by :func:`ensure_worker` that may still be importing
    (it takes the lock only once running), or None."""
    path = data_dir / STARTING_FILE
    try:
        info = json.loads(path.read_text())
        pid, started = int(info["pid"]), float(info["time"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if time.time() - started > STARTING_GRACE_S or not queue.pid_alive(pid):
        return None
    return pid


def ensure_worker(settings: Settings) -> subprocess.Popen[bytes] | None:
    """Start a worker process unless one is alive for this data dir (or was started less than
    ``STARTING_GRACE_S`` seconds ago and is still starting up); returns the new process or None."""
    if worker_alive(settings) or _starting_pid(settings.data_dir) is not None:
        return None
    # the app's worker stops with the app (after its current step), so no stale worker
    # outlives an upgrade; `otstudio worker` started by hand has no parent to follow
    proc = start_worker_process(settings, exclusive=True, extra_args=["--parent-pid", str(os.getpid())])
    marker = settings.data_dir / STARTING_FILE
    tmp = marker.with_name(f".{STARTING_FILE}.{os.getpid()}")
    tmp.write_text(json.dumps({"pid": proc.pid, "time": time.time()}))
    tmp.replace(marker)
    return proc


def main(argv: list[str] | None = None) -> int:
    """``otstudio worker [--once] [--data-dir D] [--poll S] [--exclusive] [--kinds K1,K2]``: run the
    job worker (``--kinds``: only jobs of these kinds, e.g. the GPU work on a GPU machine)."""
    parser = argparse.ArgumentParser(prog="otstudio worker", description="Run the background job worker.")
    parser.add_argument(
        "--once", action="store_true", help="run queued jobs until the queue is empty, then exit"
    )
    parser.add_argument(
        "--data-dir", default=None, help="data dir (default: $OTSTUDIO_DATA_DIR or ~/.otstudio)"
    )
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between looks at an empty queue")
    parser.add_argument(
        "--heartbeat", type=float, default=2.0, help="seconds between heartbeats of a running job"
    )
    parser.add_argument(
        "--exclusive", action="store_true", help="exit at once if another worker already serves this data dir"
    )
    parser.add_argument(
        "--parent-pid", type=int, default=None, help="stop (after the current step) when this process is gone"
    )
    parser.add_argument(
        "--kinds",
        default=None,
        help="comma-separated job kinds this worker takes (default: all), e.g. extract_features,train_fewshot",
    )
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    kinds = None
    if args.kinds is not None:
        kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
        unknown = sorted(set(kinds) - set(JOB_KINDS))
        if not kinds or unknown:
            print(
                f"otstudio worker: unknown job kind(s) {', '.join(unknown) or '(none given)'}; "
                f"known: {', '.join(sorted(JOB_KINDS))}",
                file=sys.stderr,
            )
            return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(args.data_dir)
    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        log.info("signal %s: stopping after the current step", signum)
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    if args.parent_pid:

        def _follow_parent() -> None:
            while not stop.wait(2.0):
                if not queue.pid_alive(args.parent_pid):
                    log.info("parent process %s is gone: stopping", args.parent_pid)
                    stop.set()

        threading.Thread(target=_follow_parent, name="follow-parent", daemon=True).start()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, _stop)
    try:
        n = run_worker(
            settings,
            once=args.once,
            poll=args.poll,
            stop_event=stop,
            heartbeat_interval=args.heartbeat,
            exclusive=args.exclusive,
            kinds=kinds,
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"otstudio worker: ran {n} job(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
