"""Per-video features: CLIP extraction with overlapped decoding, an on-disk cache, and
loading of precomputed feature files (I3D etc.).

Extraction pipeline (:func:`extract_features`): a producer thread decodes sampled frames
(:func:`otcore.video.decode.iter_frames`, resized while decoding) and preprocesses them
into model-ready tensors; the caller's thread encodes them. A bounded queue between the two
(default 2 batches) keeps memory flat: at most ``queue_size + 2`` batches of frames are alive
at once, whatever the video length. Row ``i`` of the result is the frame shown at ``i / fps``.

Cache (:class:`FeatureCache`): one ``.npz`` per key ``(video sha256, model id, weights id,
fps)`` in ``features_dir``, features stored as float16 by default (the key is stored inside
the file too and checked on read). Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import os
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from otcore.hashing import sha256_file, sha256_text
from otcore.types import VideoFeatures
from otcore.video.decode import VideoProbe, iter_frames, probe, sample_times

__all__ = [
    "ExtractStats",
    "FeatureKey",
    "FeatureCache",
    "extract_features",
    "extract_cached",
    "load_features_file",
    "save_features_file",
    "sha256_file",
]

ProgressFn = Callable[[float, str], Any]


@dataclass(frozen=True)
class ExtractStats:
    """Timing of one extraction: frames encoded, wall seconds, seconds the encoder waited on decoding."""

    n_frames: int
    seconds: float
    encode_seconds: float
    wait_seconds: float

    @property
    def frames_per_second(self) -> float:
        """End-to-end sampled frames per second."""
        return self.n_frames / self.seconds if self.seconds > 0 else float("nan")


_SENTINEL = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def extract_features(
    path: str | os.PathLike[str],
    encoder: Any,
    fps: float = 2.0,
    batch: int = 32,
    progress: ProgressFn | None = None,
    check_cancelled: Callable[[], Any] | None = None,
    backend: str | None = None,
    info: VideoProbe | None = None,
    queue_size: int = 2,
    stats: list[ExtractStats] | None = None,
) -> VideoFeatures:
    """Encode the frames sampled at ``fps`` from a video → ``VideoFeatures [T, D]`` (float32, L2-normalized).

    ``encoder`` is a :class:`~otcore.video.encoders.ClipEncoder` (anything with
    ``fit``, ``encode_pixels``, ``short_side``, ``embed_dim``, ``model_id``).
    ``progress(fraction, message)`` is called after every batch; ``check_cancelled()`` is
    called between batches and may raise to stop (the producer thread is stopped cleanly).
    If ``stats`` is a list, an :class:`ExtractStats` is appended to it.
    """
    t_start = time.perf_counter()
    meta = info if info is not None else probe(path, backend=backend)
    times = sample_times(meta.duration, fps)
    total = int(times.size)
    out = torch.empty(total, int(encoder.embed_dim), dtype=torch.float32)
    q: queue.Queue[Any] = queue.Queue(maxsize=max(1, queue_size))
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def producer() -> None:
        try:
            for t, frames in iter_frames(
                path, fps=fps, size=encoder.short_side, batch=batch, backend=backend, info=meta
            ):
                pixels = encoder.fit(frames)  # uint8 at the model's input size when possible
                del frames
                if not put((len(t), pixels)):
                    return
            put(_SENTINEL)
        except BaseException as e:  # forwarded to the consumer
            put(_Failure(e))

    th = threading.Thread(target=producer, name="otstudio-decode", daemon=True)
    th.start()
    done = 0
    enc_s = 0.0
    wait_s = 0.0
    try:
        while True:
            t0 = time.perf_counter()
            item = q.get()
            wait_s += time.perf_counter() - t0
            if item is _SENTINEL:
                break
            if isinstance(item, _Failure):
                raise item.exc
            n, pixels = item
            if check_cancelled is not None:
                check_cancelled()
            t0 = time.perf_counter()
            emb = encoder.encode_pixels(pixels)
            enc_s += time.perf_counter() - t0
            n = min(n, total - done)
            out[done : done + n] = emb[:n].to("cpu", torch.float32)
            done += n
            del pixels, emb
            if progress is not None:
                progress(done / max(total, 1), f"encoded {done}/{total} frames")
    finally:
        stop.set()
        th.join(timeout=30)
    if done < total:  # the decoder produced fewer frames than planned (short tail)
        out = out[:done]
    if out.shape[0] == 0:
        from otcore.video.errors import NoFrames

        raise NoFrames(f"{Path(path).name}: no frames could be sampled")
    if stats is not None:
        stats.append(ExtractStats(int(out.shape[0]), time.perf_counter() - t_start, enc_s, wait_s))
    return VideoFeatures(features=out, fps=float(fps), model_id=str(encoder.model_id))


# --------------------------------------------------------------------------- cache


@dataclass(frozen=True)
class FeatureKey:
    """What makes two feature files interchangeable."""

    video_sha256: str
    model_id: str
    weights_id: str
    fps: float

    def filename(self) -> str:
        """``<sha16>_<model>_<weights12>_<fps>fps.npz`` (readable, filesystem-safe)."""
        slug = re.sub(r"[^A-Za-z0-9.-]+", "-", self.model_id).strip("-")[:60]
        w = re.sub(r"[^A-Za-z0-9]+", "", self.weights_id)[:12] or "none"
        return f"{self.video_sha256[:16]}_{slug}_{w}_{self.fps:g}fps.npz"

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (for the store's artifact key/meta)."""
        return {
            "video_sha256": self.video_sha256,
            "model_id": self.model_id,
            "weights_id": self.weights_id,
            "fps": float(self.fps),
        }

    def digest(self) -> str:
        """Stable sha256 of the key fields (usable as a store artifact key)."""
        raw = f"{self.video_sha256}|{self.model_id}|{self.weights_id}|{float(self.fps):.6f}"
        return sha256_text(raw)


def save_features_file(
    path: str | os.PathLike[str],
    features: VideoFeatures,
    dtype: str = "float16",
    extra: dict[str, str] | None = None,
) -> Path:
    """Atomically write ``features`` (+ fps, model_id, extra strings) to an ``.npz`` file."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {
        "features": features.features.detach().cpu().numpy().astype(dtype),
        "fps": np.float64(features.fps),
        "model_id": np.str_(features.model_id),
    }
    for k, v in (extra or {}).items():
        arrays[k] = np.str_(v)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, p)
    finally:
        if tmp.exists():
            tmp.unlink()
    return p


class FeatureCache:
    """Feature files in ``features_dir`` keyed by (video sha256, model id, weights id, fps)."""

    def __init__(self, features_dir: str | os.PathLike[str], dtype: str = "float16") -> None:
        self.dir = Path(features_dir)
        self.dtype = dtype

    def key(self, video_sha256: str, model_id: str, weights_id: str, fps: float) -> FeatureKey:
        """Build the key (fps normalised to float)."""
        return FeatureKey(video_sha256, model_id, weights_id, float(fps))

    def path_for(self, key: FeatureKey) -> Path:
        """Where the features of ``key`` live (whether or not they exist yet)."""
        return self.dir / key.filename()

    def get(self, video_sha256: str, model_id: str, weights_id: str, fps: float) -> VideoFeatures | None:
        """The cached features for this key, or None (missing, unreadable, or another key)."""
        key = self.key(video_sha256, model_id, weights_id, fps)
        p = self.path_for(key)
        if not p.is_file():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                stored = (str(z["video_sha256"]), str(z["model_id"]), str(z["weights_id"]), float(z["fps"]))
                if stored != (key.video_sha256, key.model_id, key.weights_id, key.fps):
                    return None
                feats = torch.from_numpy(z["features"].astype(np.float32))
        except Exception:
            return None
        return VideoFeatures(features=feats, fps=key.fps, model_id=key.model_id)

    def has(self, video_sha256: str, model_id: str, weights_id: str, fps: float) -> bool:
        """Whether a valid file for this key exists."""
        return self.get(video_sha256, model_id, weights_id, fps) is not None

    def put(self, video_sha256: str, features: VideoFeatures, weights_id: str) -> Path:
        """Store ``features`` under (sha, features.model_id, weights_id, features.fps); returns the file."""
        key = self.key(video_sha256, features.model_id, weights_id, features.fps)
        return save_features_file(
            self.path_for(key),
            features,
            dtype=self.dtype,
            extra={"video_sha256": video_sha256, "weights_id": weights_id},
        )


def extract_cached(
    path: str | os.PathLike[str],
    encoder: Any,
    cache: FeatureCache,
    fps: float = 2.0,
    video_sha256: str | None = None,
    batch: int = 32,
    progress: ProgressFn | None = None,
    check_cancelled: Callable[[], Any] | None = None,
    backend: str | None = None,
) -> tuple[VideoFeatures, Path, bool]:
    """Features from the cache when the key matches, else extract and store them.

    Returns ``(features, file, was_cached)``.
    """
    sha = video_sha256 or sha256_file(path)
    key = cache.key(sha, encoder.model_id, encoder.weights_id, fps)
    hit = cache.get(*_key_tuple(key))
    if hit is not None:
        if progress is not None:
            progress(1.0, "features already extracted (cache)")
        return hit, cache.path_for(key), True
    feats = extract_features(
        path,
        encoder,
        fps=fps,
        batch=batch,
        progress=progress,
        check_cancelled=check_cancelled,
        backend=backend,
    )
    return feats, cache.put(sha, feats, encoder.weights_id), False


def _key_tuple(key: FeatureKey) -> tuple[str, str, str, float]:
    """``(video_sha256, model_id, weights_id, fps)`` of a key."""
    return key.video_sha256, key.model_id, key.weights_id, key.fps


# --------------------------------------------------------------------------- precomputed files


def load_features_file(
    path: str | os.PathLike[str],
    fps: float | None = None,
    duration: float | None = None,
    model_id: str | None = None,
    transpose: bool = False,
) -> VideoFeatures:
    """Load precomputed features (``.npy`` / ``.npz`` / ``.txt`` / ``.csv``, ``T x D``).

    fps, in order: the ``fps`` argument, an ``fps`` entry in an ``.npz``, else
    ``T / duration`` when ``duration`` (seconds of video covered) is given — e.g. I3D
    features with ~4.4 video frames per row: ``load_features_file("clip.npy",
    duration=24.2)``. ``transpose=True`` reads a ``D x T`` file. ``model_id`` defaults to the
    npz's own or ``"file:<name>"``.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    file_fps: float | None = None
    file_model: str | None = None
    if suffix == ".npy":
        arr = np.load(p, allow_pickle=False)
    elif suffix == ".npz":
        with np.load(p, allow_pickle=False) as z:
            names = list(z.files)
            key = "features" if "features" in names else next((n for n in names if z[n].ndim == 2), None)
            if key is None:
                raise ValueError(f"{p.name}: no 2-D array in the npz (arrays: {names})")
            arr = z[key]
            if "fps" in names:
                file_fps = float(z["fps"])
            if "model_id" in names:
                file_model = str(z["model_id"])
    elif suffix in (".txt", ".csv", ".tsv"):
        delim = "," if suffix == ".csv" else None
        arr = np.loadtxt(p, delimiter=delim, dtype=np.float32, ndmin=2)
    else:
        raise ValueError(f"{p.name}: unsupported features file type {suffix!r} (use .npy, .npz, .txt, .csv)")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{p.name}: features must be 2-D (T x D), got shape {arr.shape}")
    if transpose:
        arr = arr.T
    T = int(arr.shape[0])
    rate = fps if fps is not None else file_fps
    if rate is None and duration is not None:
        if duration <= 0:
            raise ValueError(f"duration must be positive, got {duration}")
        rate = T / float(duration)
    if rate is None:
        raise ValueError(
            f"{p.name}: the file does not say its frame rate; pass fps=... (rows per second) "
            f"or duration=... (seconds the {T} rows cover)"
        )
    feats = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    return VideoFeatures(features=feats, fps=float(rate), model_id=model_id or file_model or f"file:{p.name}")
