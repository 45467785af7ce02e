"""Bulk feature extraction of a project's videos, locally or spread over a Ray cluster.

``otstudio extract --project NAME [--engine local|ray] [--address ADDR] [--slots N] [--fps F] [--force]``

Every video gets its own ``extract_features`` job row, as when the Videos page queues it, and that
row is run by the worker's own :func:`otcore.jobs.worker.run_job` (same request parsing, job
function, progress, cancel checks and recording), so the same feature files, ``features``
artifacts, video links, statuses and job rows are written as when a worker runs the job, and the
Videos page shows each video's progress (and can cancel it) as for any worker job. The rows are
claimed by this command at once (no worker takes them) with one attempt: if the command dies its
rows are marked failed, never run a second time. ``--engine local`` runs them one after another in
this process; ``--engine ray`` starts one Ray actor per slot (per GPU when the cluster has GPUs,
else per CPU), each keeping its encoder in memory between videos; a row waiting for a slot says so
and is kept alive by this command. The actors open the store themselves, so every node must reach
the database (PostgreSQL for several machines) and the data dir (a shared folder). ``--address``
is a running cluster's address (``ray start --head`` prints it); without it a local Ray is started
with ``--slots`` CPUs. Progress is printed per finished video.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from otcore.jobs import queue
from otcore.jobs.extract import ExtractRequest, ExtractResult
from otcore.jobs.ray_engine import Outcome, actor_options, claim_rows, driver_id, init_ray, run_on_actors
from otcore.jobs.spec import from_json
from otcore.settings import Settings, load_settings
from otcore.store import Store

__all__ = ["BulkOutcome", "extract_project", "main", "ENGINES"]

ENGINES = ("local", "ray")

#: ``progress(done, total, message)`` after each finished video.
BulkProgress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class BulkOutcome:
    """What bulk extraction did: results of the videos that succeeded, messages of the others,
    and the job row of each video (``job_ids[video_id]``)."""

    results: tuple[ExtractResult, ...]
    failures: tuple[tuple[int, str], ...]  # (video_id, message)
    seconds: float
    slots: int
    job_ids: dict[int, int] | None = None
    cancelled: tuple[int, ...] = ()


# ---------------------------------------------------------------------------- extraction


def _run_row(store: Store, settings: Settings, job_id: int, worker_id: str) -> Outcome:
    """Run one claimed ``extract_features`` row with the worker's ``run_job``; its outcome."""
    from otcore.jobs.worker import run_job

    run_job(store, settings, queue.get_job(store, job_id, reap=False), worker_id)
    row = queue.get_job(store, job_id, reap=False)  # as recorded (a reaped row stays failed)
    if row.status == "done" and row.result:
        return "ok", row.result
    return ("cancelled" if row.status == "cancelled" else "error"), f"{row.status}: {row.message or ''}"


class _Extractor:
    """A Ray actor: its own store connection and, after the first video, its encoder in memory."""

    def __init__(self, settings: Settings, threads: int, worker_id: str) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        self.settings = settings
        self.worker_id = worker_id
        self.store = Store.from_settings(settings)

    def run(self, job_id: int) -> Outcome:
        return _run_row(self.store, self.settings, job_id, self.worker_id)


def _message(status: str, payload: Any) -> str:
    if status == "ok":
        r = from_json(ExtractResult, payload, strict=False)
        return f"video {r.video_id}: {r.n_frames} frames" + (" (cached)" if r.cached else "")
    return f"{'cancelled' if status == 'cancelled' else 'failed'}: {payload}"


def _extract_ray(
    ray: Any,
    store: Store,
    settings: Settings,
    requests: list[ExtractRequest],
    project_id: int,
    worker_id: str,
    job_ids: dict[int, int],
    done: Callable[[int, Outcome], None],
    slots: int | None,
) -> int:
    """Write every video's row at once (the Videos page shows them waiting), run them on actors;
    the number of actors."""
    for req, job_id in zip(requests, claim_rows(store, requests, project_id, worker_id)):
        job_ids[req.video_id] = job_id
    by_job = {j: v for v, j in job_ids.items()}
    waiting, started = set(by_job), set()

    def may_start(job_id: int) -> bool:
        waiting.discard(job_id)
        if queue.is_cancel_requested(store, job_id):  # cancelled on the Videos page before its turn
            queue.mark_cancelled(store, job_id, "cancelled before it started", worker_id=worker_id)
            done(by_job[job_id], ("cancelled", "cancelled before it started"))
            return False
        queue.heartbeat(store, job_id, worker_id, progress=0.0, message="starting on a Ray actor")
        started.add(job_id)
        return True

    def finished(job_id: int, out: Outcome) -> None:
        started.discard(job_id)
        if out[0] == "error":  # e.g. the actor died: its row must not stay running (no-op when recorded)
            queue.fail(store, job_id, str(out[1]), worker_id=worker_id)
        done(by_job[job_id], out)

    def tick() -> None:
        """Keep this run's rows alive: those waiting for a slot, and those handed to an actor
        that may still be starting (its job's own heartbeat begins once it runs)."""
        for job_id in list(waiting):
            queue.heartbeat(store, job_id, worker_id, message="waiting for a Ray slot")
        for job_id in list(started):
            queue.heartbeat(store, job_id, worker_id)

    tick()
    n_slots, opts = actor_options(ray, settings, slots, len(by_job))
    actor_cls = ray.remote(**opts)(_Extractor)
    actors = [actor_cls.remote(settings, 1, worker_id) for _ in range(n_slots)]
    try:
        run_on_actors(
            ray,
            actors,
            list(by_job),
            lambda actor, job_id: actor.run.remote(job_id),
            on_done=finished,
            may_start=may_start,
            tick=tick,
        )
    finally:
        for a in actors:
            ray.kill(a)
        for job_id in waiting | started:  # only when interrupted: a finished row stays as it is
            queue.fail(
                store, job_id, "the bulk extraction stopped before this video ended", worker_id=worker_id
            )
    return n_slots


def extract_project(
    settings: Settings,
    project_id: int,
    *,
    request: ExtractRequest | None = None,
    engine: str = "local",
    address: str | None = None,
    slots: int | None = None,
    progress: BulkProgress | None = None,
) -> BulkOutcome:
    """Extract the features of every video of ``project_id`` with the worker's extract job.

    ``request`` holds the extraction settings (its ``video_id`` is replaced per video);
    ``engine`` ``"local"`` (one after another here) or ``"ray"`` (one actor per slot on the Ray
    cluster at ``address``, or on a local Ray with ``slots`` CPUs started here when ``address``
    is None and Ray is not yet initialised). Bad input → ``ValueError`` before any row is written.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; one of: {', '.join(ENGINES)}")
    base = request or ExtractRequest(video_id=0)
    ray = init_ray(address, slots) if engine == "ray" else None
    store = Store.from_settings(settings)
    worker_id = driver_id()
    t0 = time.perf_counter()
    outcomes: dict[int, Outcome] = {}
    job_ids: dict[int, int] = {}
    n_slots = 1
    try:
        requests = [replace(base, video_id=v.id) for v in store.list_videos(project_id)]

        def done(video_id: int, out: Outcome) -> None:
            outcomes[video_id] = out
            if progress is not None:
                progress(len(outcomes), len(requests), _message(*out))

        if ray is None:  # each row is written when its turn comes
            for req in requests:
                (job_id,) = claim_rows(store, [req], project_id, worker_id)
                job_ids[req.video_id] = job_id
                done(req.video_id, _run_row(store, settings, job_id, worker_id))
        else:
            n_slots = _extract_ray(
                ray, store, settings, requests, project_id, worker_id, job_ids, done, slots
            )
    finally:
        store.close()
    results, failures, cancelled = [], [], []
    for video_id, (status, payload) in sorted(outcomes.items()):
        if status == "ok":
            results.append(from_json(ExtractResult, payload, strict=False))
        elif status == "cancelled":
            cancelled.append(video_id)
        else:
            failures.append((video_id, str(payload)))
    return BulkOutcome(
        tuple(results), tuple(failures), time.perf_counter() - t0, n_slots, job_ids, tuple(cancelled)
    )


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``otstudio extract --project NAME``."""
    ap = argparse.ArgumentParser(
        prog="otstudio extract --project",
        description="Extract the features of every video of a project (the worker's extract job, in bulk).",
    )
    ap.add_argument("--project", required=True, help="project name or id")
    ap.add_argument("--engine", choices=ENGINES, default="local", help="local (here, one by one) or ray")
    ap.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")
    ap.add_argument("--slots", type=int, default=None, help="actors (default: the cluster's GPUs, else CPUs)")
    ap.add_argument("--fps", type=float, default=2.0, help="sampled frames per second (default 2)")
    ap.add_argument("--model", default=None, help="open_clip model name (default: setting)")
    ap.add_argument("--pretrained", default=None, help="open_clip weights tag (default: setting)")
    ap.add_argument("--weights", default=None, help="local weights file (default: $OTSTUDIO_CLIP_WEIGHTS)")
    ap.add_argument("--batch", type=int, default=32, help="frames per encoder batch (default 32)")
    ap.add_argument("--force", action="store_true", help="extract again even when cached")
    ap.add_argument("--data-dir", default=None, help="otstudio data dir (default: $OTSTUDIO_DATA_DIR)")
    ap.add_argument("--quiet", action="store_true", help="no progress output")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``otstudio extract --project NAME ...``; 0 when every video succeeded, 1 when some
    failed, 2 for bad arguments."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if not 0 < args.fps <= 240 or not 1 <= args.batch <= 4096 or (args.slots is not None and args.slots < 1):
        print(
            "otstudio extract: --fps must be in (0, 240], --batch in [1, 4096], --slots >= 1", file=sys.stderr
        )
        return 2
    settings = load_settings(args.data_dir)
    store = Store.from_settings(settings)
    try:
        project = store.get_project(int(args.project) if args.project.isdigit() else args.project)
    finally:
        store.close()
    if project is None:
        print(f"otstudio extract: no project {args.project!r}", file=sys.stderr)
        return 2
    request = ExtractRequest(
        video_id=0,
        fps=args.fps,
        model=args.model,
        pretrained=args.pretrained,
        weights_file=args.weights,
        batch=args.batch,
        force=args.force,
    )

    def progress(done: int, total: int, message: str) -> None:
        if not args.quiet:
            print(f"[{done}/{total}] {message}", file=sys.stderr, flush=True)

    try:
        out = extract_project(
            settings,
            project.id,
            request=request,
            engine=args.engine,
            address=args.address,
            slots=args.slots,
            progress=progress,
        )
    except ValueError as exc:
        print(f"otstudio extract: {exc}", file=sys.stderr)
        return 2
    frames = sum(r.n_frames for r in out.results)
    print(
        f"{len(out.results)} video(s) extracted ({frames} frames) in {out.seconds:.1f} s "
        f"on {out.slots} slot(s) ({args.engine}); {len(out.failures)} failed"
        + (f", {len(out.cancelled)} cancelled" if out.cancelled else "")
    )
    for video_id, message in out.failures:
        print(f"  video {video_id}: {message}", file=sys.stderr)
    return 1 if out.failures else 0
