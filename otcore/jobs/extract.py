"""The ``extract_features`` job: CLIP features of one stored video, cached and linked.

Params: ``video_id`` (required), ``fps`` (default 2.0), ``model`` / ``pretrained`` /
``weights_file`` (default: the settings' CLIP choice; ``pretrained`` ``None`` for custom
weights such as the offline ``otstudio-tiny`` encoder), optional ``batch`` (32),
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

import os
import threading
from pathlib import Path
from typing import Any

__all__ = ["run", "on_abandoned", "FEATURES_KIND", "clear_encoder_cache"]

FEATURES_KIND = "features"

_ENCODERS: dict[tuple[Any, ...], Any] = {}
_ENC_LOCK = threading.Lock()


def clear_encoder_cache() -> None:
    """Forget encoders kept in memory between jobs."""
    with _ENC_LOCK:
        _ENCODERS.clear()


def _encoder(model: str, pretrained: str | None, weights_file: str | None) -> Any:
    from otcore.settings import load_settings
    from otcore.video.encoders import load_clip

    quantize = load_settings().quantize
    key = (model, pretrained, weights_file, os.environ.get("OTSTUDIO_DEVICE"), quantize)
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


def _relative(data_dir: Path | None, path: Path) -> str:
    if data_dir is None:
        return str(path)
    try:
        return Path(os.path.relpath(path.resolve(), Path(data_dir).resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return str(path)


def run(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Extract (or reuse) the features of ``params["video_id"]``; returns a JSON-able summary
    ``{video_id, artifact_id, path, model_id, weights_id, fps, n_frames, dim, cached}``."""
    from otcore.jobs.context import JobCancelled
    from otcore.settings import load_settings
    from otcore.video.encoders import WeightsNotFound
    from otcore.video.errors import VideoError
    from otcore.video.features import FeatureCache, extract_cached

    store = ctx.store
    settings = ctx.settings or load_settings()
    if "video_id" not in params:
        raise ValueError("extract_features needs params['video_id']")
    video_id = int(params["video_id"])
    video = store.get_video(video_id)
    if video is None:
        raise ValueError(f"video {video_id} does not exist (deleted?)")
    fps = float(params.get("fps") or 2.0)
    model = params.get("model") or settings.clip_model
    pretrained = params.get("pretrained", settings.clip_pretrained)
    if isinstance(pretrained, str) and pretrained.lower() in ("", "none"):
        pretrained = None
    weights_file = params.get("weights_file") or settings.clip_weights_file
    batch = int(params.get("batch") or 32)
    backend = params.get("backend")
    data_dir = getattr(store, "data_dir", None) or settings.data_dir
    path = Path(store.resolve_path(video.path)) if hasattr(store, "resolve_path") else Path(video.path)
    if not path.is_absolute():
        path = Path(data_dir) / path
    previous_status = video.status if video.status not in ("extracting", "failed") else "new"

    store.set_video_status(video_id, "extracting")
    ctx.progress(0.0, f"loading {model}")
    try:
        if not path.is_file():
            raise VideoError(f"{video.filename}: the stored file is missing ({path})")
        encoder = _encoder(model, pretrained, weights_file)
        ctx.check_cancelled()
        cache = FeatureCache(settings.features_dir)
        if params.get("force"):
            key = cache.key(video.sha256, encoder.model_id, encoder.weights_id, fps)
            cache.path_for(key).unlink(missing_ok=True)

        def progress(fraction: float, message: str) -> None:
            ctx.progress(0.02 + 0.96 * fraction, message)

        ctx.progress(0.02, f"extracting {video.filename} at {fps:g} fps with {encoder.model_id}")
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
        art = store.add_artifact(FEATURES_KIND, key.digest(), _relative(Path(data_dir), file), meta)
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
    return {
        "video_id": video_id,
        "artifact_id": art.id,
        "path": art.path,
        "model_id": encoder.model_id,
        "weights_id": encoder.weights_id,
        "fps": fps,
        "n_frames": feats.n_frames,
        "dim": int(feats.features.shape[1]),
        "cached": bool(cached),
    }


def on_abandoned(store: Any, job: Any) -> None:
    """Clean-up when the worker died while extracting: the video must not stay
    ``extracting`` forever. Features already linked mean it is ``ready``; otherwise it is
    ``failed`` with the job's message (extract again to retry)."""
    video_id = (job.params or {}).get("video_id")
    if video_id is None:
        return
    video = store.get_video(int(video_id))
    if video is None or video.status != "extracting":
        return
    if store.get_video_features(video.id) is not None:
        store.set_video_status(video.id, "ready")
    else:
        store.set_video_status(video.id, "failed", job.message or "feature extraction stopped: worker gone")
