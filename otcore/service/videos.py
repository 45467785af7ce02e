"""Service verbs about videos: open the store, add videos, pick the feature encoder, submit
and read a video's features, create the demo project, keep a worker running.

Pages call these and draw; nothing here imports Streamlit.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from otcore.settings import Settings, load_settings
from otcore.storage import local_file, stored_key
from otcore.types import VideoFeatures

if TYPE_CHECKING:
    import subprocess

    from otcore.jobs.extract import ExtractRequest
    from otcore.store import JobInfo, ProjectInfo, Store, VideoInfo
    from otcore.video.ingest import IngestedVideo

__all__ = [
    "data_file",
    "AddedVideo",
    "EncoderChoice",
    "DEMO_PROJECT",
    "open_store",
    "add_video",
    "import_folder",
    "choose_encoder",
    "offline_encoder_weights",
    "submit_extraction",
    "load_video_features",
    "ensure_demo_project",
    "demo_main",
    "ensure_worker",
    "video_rows",
]

DEMO_PROJECT = "demo"
REPO_ASSETS = Path(__file__).resolve().parents[2] / "assets"
DEMO_VIDEO = REPO_ASSETS / "demo_bigbuckbunny.mp4"
DEMO_LABELS = (("emerge", "#1f77b4"), ("stretch", "#ff7f0e"))
# one marked example per label in the demo video (seconds): the bunny climbs out of its
# burrow, then stretches
DEMO_SEGMENTS = (("emerge", 0.0, 1.6), ("stretch", 1.6, 4.4))
OFFLINE_MODEL = "otstudio-tiny"


@dataclass(frozen=True)
class AddedVideo:
    """Outcome of adding one video: ``video`` is the stored row (the existing one when
    ``duplicate``), ``job_id`` the feature-extraction job submitted for it (if any)."""

    video: VideoInfo
    duplicate: bool
    job_id: int | None


@dataclass(frozen=True)
class EncoderChoice:
    """Which image encoder feature extraction uses. ``offline_fallback`` is True when the
    configured CLIP weights could not be found and the small offline encoder (random,
    seeded weights, written into the data dir) stands in; ``message`` says why."""

    model: str
    pretrained: str | None
    weights_file: str | None
    offline_fallback: bool = False
    message: str = ""

    def request(self, video_id: int, fps: float = 2.0) -> ExtractRequest:
        """The extraction request of ``video_id`` with this encoder."""
        from otcore.jobs.extract import ExtractRequest

        return ExtractRequest(
            video_id=int(video_id),
            fps=float(fps),
            model=self.model,
            pretrained=self.pretrained,
            weights_file=self.weights_file,
        )


def open_store(settings: Settings | None = None) -> Store:
    """Open (and migrate) the store of ``settings`` (default: from the environment)."""
    from otcore.store import Store

    settings = settings or load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Store.from_settings(settings)


# --------------------------------------------------------------------------- encoders


def offline_encoder_weights(settings: Settings, seed: int = 0) -> Path:
    """The offline encoder's weights file: the ``otstudio-tiny`` architecture with seeded
    random weights, written once into ``models_dir``. It lets the app run end to end on a
    machine without CLIP weights; its features carry no pretrained semantics."""
    import torch

    path = settings.models_dir / f"{OFFLINE_MODEL}-seed{seed}.pt"
    if path.is_file():
        return path
    import open_clip

    from otcore.video.model_configs import register_model_configs

    register_model_configs()
    torch.manual_seed(seed)
    model = open_clip.create_model(OFFLINE_MODEL, pretrained=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, path)
    return path


def choose_encoder(settings: Settings, allow_fallback: bool = True) -> EncoderChoice:
    """The configured CLIP (``settings.clip_model``/``clip_pretrained``/``clip_weights_file``)
    when its weights resolve, else (``allow_fallback``) the offline encoder with a message.
    Resolution never waits on the network when offline."""
    from otcore.video.encoders import WeightsNotFound, resolve_weights

    if settings.clip_model == OFFLINE_MODEL:
        weights = settings.clip_weights_file or str(offline_encoder_weights(settings))
        return EncoderChoice(OFFLINE_MODEL, None, weights)
    try:
        resolved = resolve_weights(settings.clip_model, settings.clip_pretrained, settings.clip_weights_file)
        return EncoderChoice(settings.clip_model, settings.clip_pretrained, str(resolved.path))
    except WeightsNotFound as exc:
        if not allow_fallback:
            raise
        return EncoderChoice(
            OFFLINE_MODEL,
            None,
            str(offline_encoder_weights(settings)),
            offline_fallback=True,
            message=str(exc),
        )


# --------------------------------------------------------------------------- videos


def _relative(settings: Settings, path: Path) -> str:
    return stored_key(settings, path)


def data_file(settings: Settings, stored: str | os.PathLike[str]) -> Path:
    """The local file a key recorded in the store names (relative paths are under the data dir;
    with a storage URL, the cached copy of the stored object)."""
    return local_file(settings, stored)


def _save_frame_times(settings: Settings, stored: Path, sha256: str) -> str | None:
    from otcore.video.decode import frame_times

    out = settings.files_dir / "frame_times" / f"{sha256}.npy"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, np.asarray(frame_times(stored), dtype=np.float64))
        os.replace(tmp, out)
    return _relative(settings, out)


def _register(
    store: Store, settings: Settings, project_id: int, ingested: IngestedVideo, extract: bool, fps: float
) -> AddedVideo:
    from otcore.store import DuplicateError

    existing = store.find_video(project_id, sha256=ingested.sha256)
    if existing is not None:
        return AddedVideo(existing, True, None)
    pr = ingested.probe
    try:
        video = store.add_video(
            project_id,
            filename=ingested.filename,
            path=_relative(settings, ingested.path),
            sha256=ingested.sha256,
            duration=pr.duration,
            fps=pr.fps,
            n_frames=pr.n_frames,
            width=pr.width,
            height=pr.height,
            frame_times_path=_save_frame_times(settings, ingested.path, ingested.sha256),
        )
    except DuplicateError as exc:  # a concurrent add of the same content
        return AddedVideo(exc.existing, True, None)
    job_id = submit_extraction(store, settings, video.id, fps=fps) if extract else None
    return AddedVideo(video, False, job_id)


def add_video(
    store: Store,
    settings: Settings,
    project_id: int,
    src: str | os.PathLike[str] | BinaryIO,
    filename: str | None = None,
    *,
    extract: bool = True,
    fps: float = 2.0,
) -> AddedVideo:
    """Store a video (a path or a binary stream, copied in chunks) in the data dir,
    register it in the project and submit its feature extraction.

    Raises :class:`otcore.video.errors.VideoError` with a message for a person (corrupt,
    empty, not a video, no frames, too large, unsafe name); nothing stored is touched then.
    The same content twice gives the stored video back with ``duplicate=True``.
    """
    from otcore.video.ingest import ingest_file

    ingested = ingest_file(src, filename, settings.videos_dir, max_bytes=settings.max_upload_mb * 2**20)
    return _register(store, settings, project_id, ingested, extract, fps)


def import_folder(
    store: Store,
    settings: Settings,
    project_id: int,
    folder: str | os.PathLike[str],
    *,
    extract: bool = True,
    fps: float = 2.0,
) -> Iterator[tuple[Path, AddedVideo | None, str | None]]:
    """Add every video under ``folder``: yields ``(source, added, error message)`` per file."""
    from otcore.video.ingest import import_folder as ingest_folder

    for result in ingest_folder(folder, settings.videos_dir, max_bytes=settings.max_upload_mb * 2**20):
        if result.video is None:
            yield result.source, None, str(result.error)
        else:
            yield result.source, _register(store, settings, project_id, result.video, extract, fps), None


def submit_extraction(
    store: Store, settings: Settings, video_id: int, fps: float = 2.0, encoder: EncoderChoice | None = None
) -> int:
    """Queue the feature-extraction job (``extract_features``) of a video with the chosen encoder."""
    from otcore.jobs.queue import submit_request

    video = store.get_video(video_id)
    encoder = encoder or choose_encoder(settings)
    return submit_request(
        store, encoder.request(video_id, fps), project_id=video.project_id if video else None
    )


def load_video_features(
    store: Store, settings: Settings, video_id: int, model_id: str | None = None, fps: float | None = None
) -> VideoFeatures | None:
    """The newest features of a video (for this model/fps if given), or None."""
    from otcore.video.cache import load_video_features as load

    return load(store, store.data_dir or settings.data_dir, video_id, model_id=model_id, fps=fps)


# --------------------------------------------------------------------------- demo


def ensure_demo_project(store: Store, settings: Settings) -> ProjectInfo:
    """Create the demo project (its video from ``assets/``, two labels, one marked example
    of each) once; returns it.
    Later calls return the existing project untouched."""
    existing = store.get_project(DEMO_PROJECT)
    if existing is not None:
        return existing
    project = store.ensure_project(DEMO_PROJECT)
    for name, color in DEMO_LABELS:
        store.ensure_label(project.id, name, color)
    if DEMO_VIDEO.is_file():
        added = add_video(store, settings, project.id, DEMO_VIDEO, DEMO_VIDEO.name)
        from otcore.store import EditLog

        log = EditLog(store, user="demo")
        for label, start, end in DEMO_SEGMENTS:
            log.add_segment(added.video.id, label, start, end, source="manual")
    return project


def demo_main(argv: list[str]) -> int:
    """``otstudio demo [--data-dir D]``: create the demo project and print where it lives."""
    ap = argparse.ArgumentParser(prog="otstudio demo", description=demo_main.__doc__)
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args(argv)
    settings = load_settings(args.data_dir)
    store = open_store(settings)
    project = ensure_demo_project(store, settings)
    print(f"demo project {project.name!r} (id {project.id}) in {settings.data_dir}")
    return 0


def ensure_worker(settings: Settings) -> subprocess.Popen[bytes] | None:
    """Make sure a background worker serves this data dir (start one if none is alive).
    ``OTSTUDIO_NO_WORKER=1`` (``settings.no_worker``) turns this off (page tests that run jobs
    themselves)."""
    if settings.no_worker:
        return None
    from otcore.jobs.worker import ensure_worker as _ensure

    return _ensure(settings)


def video_rows(store: Store, project_id: int) -> list[dict[str, Any]]:
    """One row per video of a project for the Videos table: probe facts, status, and the
    newest feature-extraction job's status and progress."""
    from otcore.jobs.extract import ExtractRequest
    from otcore.jobs.queue import list_jobs
    from otcore.jobs.spec import JobSpecError, from_json

    latest: dict[int, JobInfo] = {}
    for extraction in list_jobs(store, project_id=project_id, kind="extract_features", limit=None):
        try:
            vid = from_json(ExtractRequest, extraction.params, strict=False).video_id
        except JobSpecError:
            continue
        if vid not in latest:  # newest first
            latest[vid] = extraction
    rows = []
    for v in store.list_videos(project_id):
        job = latest.get(v.id)
        feats = store.list_video_features(v.id)
        rows.append(
            {
                "id": v.id,
                "video": v.filename,
                "duration_s": None if v.duration is None else round(v.duration, 2),
                "fps": None if v.fps is None else round(v.fps, 3),
                "frames": v.n_frames,
                "size": f"{v.width}×{v.height}" if v.width and v.height else "",
                "features": ", ".join(f"{f.model_id} @ {f.fps:g} fps" for f in feats) or "—",
                "job": job.status if job else "—",
                "progress": float(job.progress) if job else (1.0 if feats else 0.0),
                "message": (job.message or job.error or "") if job else "",
                "job_id": job.id if job else None,
            }
        )
    return rows
