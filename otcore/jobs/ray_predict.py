"""Few-shot prediction over every video of a project, here or spread over a Ray cluster.

``otstudio predict --project NAME [--engine local|ray] [--model PATH] [--address ADDR] [--slots N]``

The model is the project's newest trained few-shot model (the newest finished ``train_fewshot``
job's), or ``--model`` (a path under the data dir or absolute). Both engines record one
``predict_fewshot`` job row, as a worker's prediction job does, with the same request, the same
per-video files (``results/fewshot_job<id>_video<vid>.npz``), the same proposals in the segment table
and the same :class:`~otcore.jobs.fewshot.PredictResult`, so the Inspect and Review pages read it as
any prediction job.

* ``--engine local`` runs the worker's ``predict_fewshot`` job in the foreground
  (:func:`otcore.jobs.foreground.run_foreground`): all videos are inferred, then all are written;
  a cancel leaves the previous proposals in place.
* ``--engine ray`` starts one Ray actor per slot (per GPU when the cluster has GPUs, else per CPU),
  each holding the model, and hands them the videos with features one at a time; each video goes
  through the job's own per-video step (:func:`otcore.jobs.fewshot.predict_video`: inference, then
  its proposals and prediction file). The row is claimed by this command (no worker takes it) and
  its progress is the fraction of videos done; a cancel from the app stops the run between videos
  (the videos already done keep their new proposals, the row says how many). A video that fails is
  recorded as skipped with its message; the row fails when every video failed. The actors open the
  store themselves, so every node must reach the database and the data dir.

Bad input (no project, no trained model, a model file that does not load, no video with features, a
Ray address nobody answers at) is one line and nothing is written.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from otcore.jobs import queue
from otcore.jobs.fewshot import PredictRequest, PredictResult, VideoPredictions, method_of, predict_video
from otcore.jobs.ray_engine import Outcome, actor_options, claim_rows, driver_id, init_ray, run_on_actors
from otcore.jobs.ray_extract import ENGINES
from otcore.jobs.spec import from_json, to_json
from otcore.settings import Settings, load_settings
from otcore.storage import local_file
from otcore.store import Store

if TYPE_CHECKING:
    from otcore.jobs.context import JobContext
    from otcore.methods.plot_tal import FewShotTAL

__all__ = ["PredictOutcome", "predict_project", "project_model", "main"]

#: ``progress(done, total, message)`` after each finished video.
PredictProgress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class PredictOutcome:
    """The job row of the run, its final status and message, and the per-video predictions."""

    job_id: int
    status: str  # done | failed | cancelled
    message: str
    method: str
    predictions: dict[int, VideoPredictions]
    seconds: float
    slots: int


def project_model(store: Store, settings: Settings, project_id: int) -> str:
    """The model file of the project's newest finished ``train_fewshot`` job (stored path)."""
    from otcore.jobs.fewshot import TrainResult

    for job in queue.list_jobs(store, project_id=project_id, kind="train_fewshot", status="done", limit=50):
        try:
            result = from_json(TrainResult, job.result, strict=False)
        except ValueError:
            continue
        if local_file(settings, result.model_path).is_file():
            return result.model_path
    raise ValueError("this project has no trained few-shot model: train one (Train page or otstudio train)")


def _load(settings: Settings, model_path: str) -> FewShotTAL:
    from otcore.methods.plot_tal import load_model

    path = local_file(settings, model_path)
    if not path.is_file():
        raise ValueError(f"no model file at {path}")
    try:
        return load_model(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable model file: one line
        raise ValueError(f"cannot load the model {path}: {type(exc).__name__}: {exc}") from None


class _ActorContext:
    """What :func:`otcore.jobs.fewshot.predict_video` needs of a job context inside an actor: the
    store, the settings and the driver's job id (progress and cancel are the driver's)."""

    def __init__(self, store: Store, settings: Settings, job_id: int) -> None:
        self.store = store
        self.settings = settings
        self.job_settings = settings
        self.job_id = job_id

    def progress(self, fraction: float, message: str = "") -> None:
        """Ignored: the driver reports progress per finished video."""

    def check_cancelled(self) -> None:
        """Never raises: the driver stops between videos."""


class _Predictor:
    """A Ray actor: its own store connection and the model in memory."""

    def __init__(self, settings: Settings, job_id: int, request: dict[str, Any], threads: int) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        self.request = from_json(PredictRequest, request)
        self.store = Store.from_settings(settings)
        assert self.request.model_path is not None
        self.model = _load(settings, self.request.model_path)
        self.method = method_of(self.model, self.request)
        self.ctx: JobContext = _ActorContext(self.store, settings, job_id)  # type: ignore[assignment]

    def run(self, video_id: int) -> Outcome:
        try:
            out = predict_video(self.ctx, self.model, self.method, video_id, self.request)
        except Exception as exc:  # noqa: BLE001 - reported per video
            return "error", f"{type(exc).__name__}: {exc}"
        return "ok", to_json(out)


def predict_project(
    settings: Settings,
    project_id: int,
    *,
    model_path: str | None = None,
    engine: str = "ray",
    address: str | None = None,
    slots: int | None = None,
    progress: PredictProgress | None = None,
) -> PredictOutcome:
    """Predict every video of ``project_id`` with the project's model (or ``model_path``) through
    the ``predict_fewshot`` job (see the module docstring). Bad input → ``ValueError``, nothing written."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; one of: {', '.join(ENGINES)}")
    store = Store.from_settings(settings)
    try:
        path = model_path or project_model(store, settings, project_id)
        model = _load(settings, path)
        videos = store.list_videos(project_id)
        with_features = [v.id for v in videos if store.list_video_features(v.id)]
        if not with_features:
            raise ValueError(
                "no video of this project has features: extract them first (otstudio extract --project NAME)"
            )
        request = PredictRequest(model_path=path, project_id=project_id)
        if engine == "local":
            return _predict_local(store, settings, request, method_of(model, request), progress)
        ray = init_ray(address, slots)
        skipped = {
            v.id: VideoPredictions(0, None, "no features") for v in videos if v.id not in with_features
        }
        return _predict_ray(
            ray, store, settings, request, method_of(model, request), with_features, skipped, slots, progress
        )
    finally:
        store.close()


def _predict_local(
    store: Store, settings: Settings, request: PredictRequest, method: str, progress: PredictProgress | None
) -> PredictOutcome:
    from otcore.jobs.foreground import run_foreground

    def on_progress(fraction: float, message: str) -> None:
        if progress is not None:
            progress(int(round(fraction * 100)), 100, message)

    run = run_foreground(store, settings, request, request.project_id, on_progress=on_progress)
    job = run.job
    result = from_json(PredictResult, job.result, strict=False) if job.result else None
    return PredictOutcome(
        job.id,
        job.status,
        str(job.message or job.status),
        result.method if result else method,
        dict(result.predictions) if result else {},
        run.seconds,
        1,
    )


def _predict_ray(
    ray: Any,
    store: Store,
    settings: Settings,
    request: PredictRequest,
    method: str,
    video_ids: Sequence[int],
    skipped: dict[int, VideoPredictions],
    slots: int | None,
    progress: PredictProgress | None,
) -> PredictOutcome:
    from otcore.jobs.context import JobContext

    t0 = time.perf_counter()
    worker_id = driver_id()
    (job_id,) = claim_rows(store, [request], request.project_id, worker_id)
    ctx = JobContext(store, settings, job_id, worker_id)
    ctx.start_heartbeat()
    preds: dict[int, VideoPredictions] = {}
    failures: list[str] = []
    n_slots, opts = actor_options(ray, settings, slots, len(video_ids))
    ctx.progress(0.0, f"starting {n_slots} Ray actor(s) for {len(video_ids)} videos")
    actors: list[Any] = []

    def done(video_id: int, out: Outcome) -> None:
        status, payload = out
        if status == "ok":
            preds[video_id] = from_json(VideoPredictions, payload)
        else:
            preds[video_id] = VideoPredictions(0, None, f"failed: {payload}")
            failures.append(f"video {video_id}: {payload}")
        message = f"predicted {len(preds)}/{len(video_ids)} videos"
        ctx.progress(len(preds) / len(video_ids), message)
        if progress is not None:
            progress(len(preds), len(video_ids), f"video {video_id}: " + _describe(preds[video_id]))

    try:
        actor_cls = ray.remote(**opts)(_Predictor)
        actors = [actor_cls.remote(settings, job_id, to_json(request), 1) for _ in range(n_slots)]
        run_on_actors(
            ray,
            actors,
            list(video_ids),
            lambda actor, vid: actor.run.remote(vid),
            on_done=done,
            stop=lambda: queue.is_cancel_requested(store, job_id),  # a cancel from the app
        )
    except BaseException as exc:
        ctx.stop_heartbeat()
        queue.fail(
            store, job_id, f"the prediction run stopped: {type(exc).__name__}: {exc}", worker_id=worker_id
        )
        raise
    finally:
        for a in actors:
            ray.kill(a)
    ctx.stop_heartbeat()
    seconds = time.perf_counter() - t0
    failed = f"; {len(failures)} failed ({failures[0]})" if failures else ""
    if len(preds) < len(video_ids):
        status, message = (
            "cancelled",
            f"cancelled after {len(preds)}/{len(video_ids)} videos (those keep their proposals)",
        )
        queue.mark_cancelled(store, job_id, message + failed, worker_id=worker_id)
    elif len(failures) == len(video_ids):
        status, message = "failed", f"every video failed: {failures[0]}"
        queue.fail(store, job_id, message, error="\n".join(failures), worker_id=worker_id)
    else:
        status, message = (
            "done",
            f"done: {len(preds) - len(failures)} videos on {n_slots} Ray actor(s){failed}",
        )
        result = PredictResult(
            model_path=str(request.model_path), method=method, predictions={**preds, **skipped}
        )
        queue.finish(store, job_id, to_json(result), worker_id=worker_id, message=message)
    return PredictOutcome(
        job_id, status, message, method, dict(sorted({**preds, **skipped}.items())), seconds, n_slots
    )


def _describe(p: VideoPredictions) -> str:
    return p.skipped if p.skipped else f"{p.n_segments} proposals"


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``otstudio predict``."""
    ap = argparse.ArgumentParser(
        prog="otstudio predict",
        description="Predict every video of a project with its trained few-shot model (the predict_fewshot job).",
    )
    ap.add_argument("--project", required=True, help="project name or id")
    ap.add_argument(
        "--engine", choices=ENGINES, default="local", help="local (here, the worker's job) or ray"
    )
    ap.add_argument("--model", default=None, help="model file (default: the project's newest trained model)")
    ap.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")
    ap.add_argument("--slots", type=int, default=None, help="actors (default: the cluster's GPUs, else CPUs)")
    ap.add_argument("--data-dir", default=None, help="otstudio data dir (default: $OTSTUDIO_DATA_DIR)")
    ap.add_argument("--quiet", action="store_true", help="no progress output")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``otstudio predict --project NAME ...``; 0 when done with every video, 1 when cancelled
    or some video failed, 2 for bad input."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.slots is not None and args.slots < 1:
        print("otstudio predict: --slots must be >= 1", file=sys.stderr)
        return 2
    if args.engine == "local" and (args.address or args.slots):
        print("otstudio predict: --address and --slots need --engine ray", file=sys.stderr)
        return 2
    settings = load_settings(args.data_dir)
    store = Store.from_settings(settings)
    try:
        project = store.get_project(int(args.project) if args.project.isdigit() else args.project)
    finally:
        store.close()
    if project is None:
        print(f"otstudio predict: no project {args.project!r}", file=sys.stderr)
        return 2
    last = [-1]

    def progress(done: int, total: int, message: str) -> None:
        if args.quiet or (args.engine == "local" and done // 10 == last[0] // 10 and done < total):
            return
        last[0] = done
        print(f"[{done}/{total}] {message}", file=sys.stderr, flush=True)

    try:
        out = predict_project(
            settings,
            project.id,
            model_path=args.model,
            engine=args.engine,
            address=args.address,
            slots=args.slots,
            progress=progress,
        )
    except ValueError as exc:
        print(f"otstudio predict: {exc}", file=sys.stderr)
        return 2
    if out.status == "failed":
        print(f"otstudio predict: job {out.job_id} failed: {out.message.splitlines()[0]}", file=sys.stderr)
        return 2
    proposals = sum(p.n_segments for p in out.predictions.values())
    bad = [vid for vid, p in out.predictions.items() if p.skipped and p.skipped.startswith("failed")]
    print(
        f"predicted {out.method}: job={out.job_id} status={out.status} videos={len(out.predictions)} "
        f"proposals={proposals} failed={len(bad)} slots={out.slots} seconds={out.seconds:.1f}"
    )
    return 0 if out.status == "done" and not bad else 1
