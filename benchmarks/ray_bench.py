"""Bulk feature extraction: one ``otstudio worker`` vs ``otstudio extract --engine ray`` with 2 CPUs.

Both run the same ``extract_features`` code on the same videos (``--videos``, default six clips of
the shared data) with the real ViT-B-32 (QuickGELU) architecture and **random weights** written to a
file here (no network; speed does not depend on the weight values), ``force`` so every run decodes
and encodes again.

* worker: one ``python -m otcore worker`` process, started and warmed up (one job, encoder loaded)
  before timing; timed from queuing the jobs to the last one done. torch uses its default threads.
* ray: :func:`otcore.jobs.ray_extract.extract_project` on a local ``ray.init(num_cpus=2)`` (started
  once, not timed): two actors, one torch thread each; timed including the actors' start and their
  encoder loading, as the command runs.

Then prediction: a prototype few-shot model is trained (by the worker) on two marks of the first
video, and its ``predict_fewshot`` job over every video is timed on the worker (queued to done) vs
:func:`otcore.jobs.ray_predict.predict_project` on the same local Ray (two actors, each loading the
model; timed as the command runs, actors' start included).

Runs are interleaved (worker, ray, worker, ...); medians and min-max of ``--repeats``.

    .venv/bin/python benchmarks/ray_bench.py [--repeats 3] [--fps 1]

Prints the table and, last, ``ray2_vs_worker_frames_per_s: X`` (extraction) and
``ray2_vs_worker_predict_videos_per_s: Y``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from otcore.jobs import queue  # noqa: E402
from otcore.jobs.extract import ExtractRequest  # noqa: E402
from otcore.jobs.ray_extract import extract_project  # noqa: E402
from otcore.jobs.ray_predict import predict_project  # noqa: E402
from otcore.jobs.spec import to_json  # noqa: E402
from otcore.settings import load_settings  # noqa: E402
from otcore.store import Store  # noqa: E402
from otcore.video.ingest import ingest_file  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
DEFAULT_VIDEOS = [
    "videos/demo_demo.mp4",
    "videos/example.avi",
    "videos/flipping_a_pancake.mkv",
    "videos/tests_data_test.mp4",
    "videos/bigbuckbunny.mp4",
    "clips_labeled/tennis26.mp4",
]
MODEL = "ViT-B-32-quickgelu"


def _weights(path: Path) -> Path:
    import open_clip
    import torch

    torch.manual_seed(0)
    torch.save(open_clip.create_model(MODEL, pretrained=None).state_dict(), path)
    return path


def _wait_done(store: Store, ids: list[int], timeout: float = 1800.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if all(queue.get_job(store, j, reap=False).finished for j in ids):
            return
        time.sleep(0.05)
    raise RuntimeError("jobs did not finish in time")


def _worker_run(store: Store, request: ExtractRequest, video_ids: list[int]) -> float:
    t0 = time.perf_counter()
    ids = [
        queue.submit(store, "extract_features", dict(to_json(request), video_id=v, force=True))
        for v in video_ids
    ]
    _wait_done(store, ids)
    dt = time.perf_counter() - t0
    bad = [queue.get_job(store, j, reap=False) for j in ids]
    if any(j.status != "done" for j in bad):
        raise RuntimeError(f"worker jobs failed: {[j.message for j in bad if j.status != 'done']}")
    return dt


def _job(store: Store, kind: str, params: dict, project_id: int) -> tuple[float, dict]:
    """Queue one job for the worker; seconds from queuing to done and its result."""
    t0 = time.perf_counter()
    job_id = queue.submit(store, kind, params, project_id=project_id)
    _wait_done(store, [job_id])
    dt = time.perf_counter() - t0
    job = queue.get_job(store, job_id, reap=False)
    if job.status != "done":
        raise RuntimeError(f"{kind} failed: {job.message}")
    return dt, dict(job.result or {})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", nargs="*", default=None, help="video files (default: six shared clips)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--fps", type=float, default=1.0)
    args = ap.parse_args()
    import ray

    videos = [Path(v) for v in args.videos] if args.videos else [SHARED / v for v in DEFAULT_VIDEOS]
    missing = [str(v) for v in videos if not v.is_file()]
    if missing:
        print(f"ray_bench: videos not found: {', '.join(missing)}")
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="ray_bench_"))
    os.environ["OTSTUDIO_DATA_DIR"] = str(tmp)
    os.environ.pop("OTSTUDIO_DATABASE_URL", None)
    os.environ["OTSTUDIO_OFFLINE"] = "1"
    os.environ["PYTHONPATH"] = str(REPO)
    settings = load_settings(tmp)
    store = Store.from_settings(settings)
    project = store.create_project("bench")
    video_ids = []
    for v in videos:
        ing = ingest_file(v, None, settings.videos_dir)
        pr = ing.probe
        row = store.add_video(
            project.id, ing.filename, str(ing.path.relative_to(tmp)), ing.sha256,
            pr.duration, pr.fps, pr.n_frames, pr.width, pr.height,
        )  # fmt: skip
        video_ids.append(row.id)
    weights = _weights(tmp / "vit-b-32-random.pt")
    request = ExtractRequest(
        video_id=0, fps=args.fps, model=MODEL, pretrained=None, weights_file=str(weights)
    )
    # the text tower the few-shot model is trained with is the one that made the features
    os.environ["OTSTUDIO_CLIP_MODEL"], os.environ["OTSTUDIO_CLIP_WEIGHTS"] = MODEL, str(weights)
    worker = subprocess.Popen(  # noqa: S603 - our own interpreter
        [sys.executable, "-m", "otcore", "worker", "--data-dir", str(tmp), "--poll", "0.05"],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    times: dict[str, list[float]] = {"worker": [], "ray": [], "worker_predict": [], "ray_predict": []}
    frames = 0
    try:
        _worker_run(store, request, video_ids[:1])  # warm-up: imports and encoder loaded
        ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False)
        for _ in range(args.repeats):
            times["worker"].append(_worker_run(store, request, video_ids))
            t0 = time.perf_counter()
            out = extract_project(
                settings,
                project.id,
                request=ExtractRequest(**{**request.__dict__, "force": True}),
                engine="ray",
            )
            times["ray"].append(time.perf_counter() - t0)
            if out.failures:
                raise RuntimeError(f"ray failures: {out.failures}")
            frames = sum(r.n_frames for r in out.results)
        from otcore.store import EditLog

        first = store.get_video(video_ids[0])
        assert first is not None and first.duration
        log = EditLog(store)  # two marks: a model to predict with (prototype: no text tower needed)
        log.add_segment(video_ids[0], "early", 0.0, first.duration / 3)
        log.add_segment(video_ids[0], "late", 2 * first.duration / 3, first.duration)
        _, trained = _job(store, "train_fewshot", {"method": "prototype", "predict": False}, project.id)
        params = {"model_path": trained["model_path"], "project_id": project.id}
        for _ in range(args.repeats):
            times["worker_predict"].append(_job(store, "predict_fewshot", params, project.id)[0])
            t0 = time.perf_counter()
            pred = predict_project(settings, project.id, model_path=trained["model_path"], engine="ray")
            times["ray_predict"].append(time.perf_counter() - t0)
            if pred.status != "done":
                raise RuntimeError(f"ray prediction {pred.status}: {pred.message}")
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        if ray.is_initialized():
            ray.shutdown()
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"{len(videos)} videos, {frames} sampled frames at {args.fps:g} fps, {MODEL} (random weights), "
        f"median (min-max) of {args.repeats}, cpu cores {os.cpu_count()}"
    )
    print(f"{'engine':<28} {'seconds':>20} {'frames/s':>10}")
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, label in (("worker", "1 worker (torch default)"), ("ray", "ray, 2 CPUs (2 actors)")):
        v = times[k]
        print(f"{label:<28} {med[k]:8.1f} ({min(v):.1f}-{max(v):.1f}) {frames / med[k]:10.1f}")
    n = len(videos)
    for k, label in (("worker_predict", "predict: 1 worker"), ("ray_predict", "predict: ray, 2 CPUs")):
        v = times[k]
        print(f"{label:<28} {med[k]:8.2f} ({min(v):.2f}-{max(v):.2f}) {n / med[k]:10.2f} videos/s")
    print(f"ray2_vs_worker_frames_per_s: {med['worker'] / med['ray']:.2f}")
    print(f"ray2_vs_worker_predict_videos_per_s: {med['worker_predict'] / med['ray_predict']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
