"""Bulk feature extraction of a project's videos, locally or spread over a Ray cluster.

``otstudio extract --project NAME [--engine local|ray] [--address ADDR] [--slots N] [--fps F] [--force]``

Every video of the project runs through the worker's own ``extract_features`` code
(:func:`otcore.jobs.extract.run`), so the same feature files, ``features`` artifacts, video links
and statuses are written as when a worker runs the job. ``--engine local`` runs them one after
another in this process; ``--engine ray`` starts one Ray actor per slot (per GPU when the cluster
has GPUs, else per CPU) and each actor keeps its encoder in memory between videos. The actors
open the store themselves, so every node must reach the database (PostgreSQL for several
machines) and the data dir (a shared folder). ``--address`` is a running cluster's address
(``ray start --head`` prints it); without it a local Ray is started with ``--slots`` CPUs.
Progress is printed per finished video.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from otcore.jobs.extract import ExtractRequest, ExtractResult
from otcore.jobs.extract import run as run_extract
from otcore.jobs.spec import from_json, to_json
from otcore.settings import Settings, load_settings
from otcore.store import Store

if TYPE_CHECKING:
    from otcore.jobs.context import JobContext

__all__ = ["BulkOutcome", "extract_project", "main", "ENGINES"]

ENGINES = ("local", "ray")

#: ``progress(done, total, message)`` after each finished video.
BulkProgress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class BulkOutcome:
    """What bulk extraction did: results of the videos that succeeded, messages of the others."""

    results: tuple[ExtractResult, ...]
    failures: tuple[tuple[int, str], ...]  # (video_id, message)
    seconds: float
    slots: int


class BulkContext:
    """What :func:`otcore.jobs.extract.run` needs of a job context, outside the job queue: the
    store and settings; progress inside one video is not reported (per video instead)."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.job_settings = settings

    def progress(self, fraction: float, message: str = "") -> None:
        """Ignored: bulk progress is reported per finished video."""

    def check_cancelled(self) -> None:
        """Never cancelled (stop the command with Ctrl-C)."""


def _run_one(store: Store, settings: Settings, request: dict[str, Any]) -> tuple[str, Any]:
    """``("ok", result JSON)`` or ``("error", message)`` for one video (the video row says so too)."""
    ctx = cast("JobContext", BulkContext(store, settings))
    try:
        result = run_extract(ctx, from_json(ExtractRequest, request))
    except Exception as exc:  # noqa: BLE001 - reported per video; extract.run marked the video failed
        return "error", f"{type(exc).__name__}: {exc}"
    return "ok", to_json(result)


class _Extractor:
    """A Ray actor: its own store connection and, after the first video, its encoder in memory."""

    def __init__(self, settings: Settings, threads: int) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        self.settings = settings
        self.store = Store.from_settings(settings)

    def run(self, request: dict[str, Any]) -> tuple[str, Any]:
        return _run_one(self.store, self.settings, request)


def _requests(store: Store, project_id: int, base: ExtractRequest) -> list[dict[str, Any]]:
    return [to_json(replace(base, video_id=v.id)) for v in store.list_videos(project_id)]


def _collect(outcomes: list[tuple[int, tuple[str, Any]]], seconds: float, slots: int) -> BulkOutcome:
    results, failures = [], []
    for video_id, (status, payload) in sorted(outcomes, key=lambda o: o[0]):
        if status == "ok":
            results.append(from_json(ExtractResult, payload))
        else:
            failures.append((video_id, str(payload)))
    return BulkOutcome(tuple(results), tuple(failures), seconds, slots)


def _message(status: str, payload: Any) -> str:
    if status == "ok":
        r = from_json(ExtractResult, payload)
        return f"video {r.video_id}: {r.n_frames} frames" + (" (cached)" if r.cached else "")
    return f"failed: {payload}"


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
    """Extract the features of every video of ``project_id`` with the worker's extract code.

    ``request`` holds the extraction settings (its ``video_id`` is replaced per video);
    ``engine`` ``"local"`` (one after another here) or ``"ray"`` (one actor per slot on the Ray
    cluster at ``address``, or on a local Ray with ``slots`` CPUs started here when ``address``
    is None and Ray is not yet initialised).
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; one of: {', '.join(ENGINES)}")
    base = request or ExtractRequest(video_id=0)
    store = Store.from_settings(settings)
    try:
        todo = _requests(store, project_id, base)
        if engine == "local":
            return _extract_local(store, settings, todo, progress)
    finally:
        store.close()
    return _extract_ray(settings, todo, address=address, slots=slots, progress=progress)


def _extract_local(
    store: Store, settings: Settings, todo: list[dict[str, Any]], progress: BulkProgress | None
) -> BulkOutcome:
    t0 = time.perf_counter()
    outcomes = []
    for i, req in enumerate(todo, 1):
        out = _run_one(store, settings, req)
        outcomes.append((int(req["video_id"]), out))
        if progress is not None:
            progress(i, len(todo), _message(*out))
    return _collect(outcomes, time.perf_counter() - t0, 1)


def _extract_ray(
    settings: Settings,
    todo: list[dict[str, Any]],
    *,
    address: str | None,
    slots: int | None,
    progress: BulkProgress | None,
) -> BulkOutcome:
    try:
        ray: Any = importlib.import_module("ray")  # optional extra, used untyped
    except ImportError:
        raise ValueError("the ray engine needs Ray: pip install 'otstudio[ray]'") from None
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:  # a local Ray: its workers import this checkout's otcore
            root = str(Path(__file__).resolve().parents[2])
            path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
            ray.init(num_cpus=slots, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    use_gpu = gpus > 0 and settings.device not in ("cpu",)
    n_slots = slots or (gpus if use_gpu else int(resources.get("CPU", 1)))
    n_slots = max(1, min(n_slots, len(todo) or 1))
    opts: dict[str, Any] = {"num_gpus": 1, "num_cpus": 0} if use_gpu else {"num_cpus": 1}
    actor_cls = ray.remote(**opts)(_Extractor)
    actors = [actor_cls.remote(settings, 1) for _ in range(n_slots)]
    t0 = time.perf_counter()
    pending: dict[Any, tuple[Any, int]] = {}
    free, queue_ = list(actors), list(todo)
    outcomes: list[tuple[int, tuple[str, Any]]] = []
    try:
        while queue_ or pending:
            while free and queue_:
                actor, req = free.pop(), queue_.pop(0)
                pending[actor.run.remote(req)] = (actor, int(req["video_id"]))
            ready, _ = ray.wait(list(pending), num_returns=1)
            actor, video_id = pending.pop(ready[0])
            free.append(actor)
            try:
                out = cast("tuple[str, Any]", tuple(ray.get(ready[0])))
            except Exception as exc:  # noqa: BLE001 - the actor died (node lost): report the video
                out = ("error", f"{type(exc).__name__}: {exc}")
            outcomes.append((video_id, out))
            if progress is not None:
                progress(len(outcomes), len(todo), _message(*out))
    finally:
        for a in actors:
            ray.kill(a)
    return _collect(outcomes, time.perf_counter() - t0, n_slots)


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
    )
    for video_id, message in out.failures:
        print(f"  video {video_id}: {message}", file=sys.stderr)
    return 1 if out.failures else 0
