"""The ``extract_features`` job: CLIP features of one stored video, cached and linked.

Request (:class:`ExtractRequest`): ``video_id``, ``fps`` (default 2.0), ``model`` /
``pretrained`` / ``weights_file`` (``model`` None: the settings' CLIP choice; ``pretrained``
``None`` for custom weights such as the offline ``otstudio-tiny`` encoder), ``batch`` (frames per
encoder batch; ``None``: sized from the available memory by
:func:`otcore.video.encoders.auto_batch`, an explicit size always wins),
``backend`` (video decoder) and ``force`` (re-extract even when cached).

Steps: load the video row → mark it ``extracting`` → load the encoder (kept in memory
between jobs of the same worker) → features from the cache when the key (sha256, model id,
weights id, fps) matches, else extract with progress and a cancel check between batches →
record the file as a ``features`` artifact keyed by the key's digest, link it to the video
→ mark the video ``ready``. A bad video or missing weights marks the video ``failed`` with
the message; a cancel puts the video back to its previous status. Stored files are never
removed by this job.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from otcore.paths import data_relative
from otcore.storage import local_file, stored_key

if TYPE_CHECKING:
    from otcore.jobs.context import JobContext
    from otcore.store import JobInfo, Store

__all__ = ["run", "on_abandoned", "FEATURES_KIND", "clear_encoder_cache", "ExtractRequest", "ExtractResult"]

FEATURES_KIND = "features"

_ENCODERS: dict[tuple[Any, ...], Any] = {}
_ENC_LOCK = threading.Lock()


def clear_encoder_cache() -> None:
    """Forget encoders kept in memory between jobs."""
    with _ENC_LOCK:
        _ENCODERS.clear()


@dataclass(frozen=True)
class ExtractRequest:
    """Extract (or reuse) the features of one stored video."""

    kind: ClassVar[str] = "extract_features"
    video_id: int
    fps: float = 2.0
    model: str | None = None
    pretrained: str | None = None
    weights_file: str | None = None
    batch: int | None = None
    backend: str | None = None
    force: bool = False


@dataclass(frozen=True)
class ExtractResult:
    """The features artifact linked to the video (``path`` relative to the data dir)."""

    video_id: int
    artifact_id: int
    path: str
    model_id: str
    weights_id: str
    fps: float
    n_frames: int
    dim: int
    cached: bool


def _encoder(
    model: str, pretrained: str | None, weights_file: str | None, device: str | None, quantize: str | None
) -> Any:
    from otcore.video.encoders import load_clip

    key: tuple[Any, ...] = (model, pretrained, weights_file, device, quantize)
    if weights_file:
        try:
            st = Path(weights_file).stat()
            key += (st.st_size, st.st_mtime_ns)
        except OSError:
            pass
    with _ENC_LOCK:
        enc = _ENCODERS.get(key)
        if enc is None:
            enc = load_clip(model, pretrained, weights_file=weights_file, image_only=True, quantize=quantize)
            _ENCODERS.clear()  # keep one model in memory
            _ENCODERS[key] = enc
        return enc


def _batch_size(requested: int | None, encoder: Any) -> int:
    """The requested batch size when given, else one sized from the available memory."""
    if requested:
        return int(requested)
    from otcore.video.encoders import auto_batch

    return auto_batch(encoder)


def run(ctx: JobContext, request: ExtractRequest) -> ExtractResult:
    """Extract (or reuse) the features of ``request.video_id`` (see the module docstring)."""
    from otcore.jobs.context import JobCancelled
    from otcore.video.encoders import WeightsNotFound
    from otcore.video.errors import VideoError
    from otcore.video.features import FeatureCache, extract_cached

    store = ctx.store
    settings = ctx.job_settings
    video_id = request.video_id
    video = store.get_video(video_id)
    if video is None:
        raise ValueError(f"video {video_id} does not exist (deleted?)")
    fps = float(request.fps or 2.0)
    if request.model:
        model, pretrained = request.model, request.pretrained
    else:
        model, pretrained = settings.clip_model, settings.clip_pretrained
    if isinstance(pretrained, str) and pretrained.lower() in ("", "none"):
        pretrained = None
    weights_file = request.weights_file or settings.clip_weights_file
    backend = request.backend
    path = local_file(settings, video.path)
    previous_status = video.status if video.status not in ("extracting", "failed") else "new"

    store.set_video_status(video_id, "extracting")
    ctx.progress(0.0, f"loading {model}")
    try:
        if not path.is_file():
            raise VideoError(f"{video.filename}: the stored file is missing ({path})")
        encoder = _encoder(model, pretrained, weights_file, settings.device, settings.quantize)
        batch = _batch_size(request.batch, encoder)
        ctx.check_cancelled()
        cache = FeatureCache(settings.features_dir)
        key = cache.key(video.sha256, encoder.model_id, encoder.weights_id, fps)
        if request.force:
            cache.path_for(key).unlink(missing_ok=True)
        else:  # stored by another machine: fetch the file into the local cache first
            local_file(settings, data_relative(settings.files_dir, cache.path_for(key)))

        def progress(fraction: float, message: str) -> None:
            ctx.progress(0.02 + 0.96 * fraction, message)

        ctx.progress(
            0.02, f"extracting {video.filename} at {fps:g} fps with {encoder.model_id}, batches of {batch}"
        )
        feats, file, cached = extract_cached(
            path,
            encoder,
            cache,
            fps=fps,
            video_sha256=video.sha256,
            batch=batch,
            progress=progress,
            check_cancelled=ctx.check_cancelled,
            backend=backend,
        )
        key = cache.key(video.sha256, encoder.model_id, encoder.weights_id, fps)
        meta = {
            **key.as_dict(),
            "n_frames": feats.n_frames,
            "dim": int(feats.features.shape[1]),
            "dtype": cache.dtype,
        }
        art = store.add_artifact(FEATURES_KIND, key.digest(), stored_key(settings, file), meta)
        store.set_video_features(video_id, art.id, model_id=encoder.model_id, fps=fps)
        store.set_video_status(video_id, "ready")
    except JobCancelled:
        store.set_video_status(video_id, previous_status)
        raise
    except (VideoError, WeightsNotFound) as e:
        store.set_video_status(video_id, "failed", str(e))
        raise
    except Exception as e:
        store.set_video_status(video_id, "failed", f"feature extraction failed: {e}")
        raise
    ctx.progress(1.0, "features ready (cached)" if cached else f"features ready: {feats.n_frames} frames")
    return ExtractResult(
        video_id=video_id,
        artifact_id=art.id,
        path=art.path,
        model_id=encoder.model_id,
        weights_id=encoder.weights_id,
        fps=fps,
        n_frames=feats.n_frames,
        dim=int(feats.features.shape[1]),
        cached=bool(cached),
    )


def on_abandoned(store: Store, job: JobInfo) -> None:
    """Clean-up when the worker died while extracting: the video must not stay
    ``extracting`` forever. Features already linked mean it is ``ready``; otherwise it is
    ``failed`` with the job's message (extract again to retry)."""
    from otcore.jobs.spec import JobSpecError, from_json

    try:
        request = from_json(ExtractRequest, job.params, strict=False)
    except JobSpecError:
        return
    video = store.get_video(request.video_id)
    if video is None or video.status != "extracting":
        return
    if store.get_video_features(video.id) is not None:
        store.set_video_status(video.id, "ready")
    else:
        store.set_video_status(video.id, "failed", job.message or "feature extraction stopped: worker gone")
