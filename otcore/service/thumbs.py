"""Thumbnails of a video: a strip of frames at given times, decoded once and cached as one JPEG
sprite in the data dir (``<data dir>/thumbs/<sha256>-<hash of the times>-<height>.jpg``).

:func:`timeline_strip` is the strip the Annotate timeline draws above its lanes (``n`` frames
evenly over the video); :func:`span_strip` the few frames of one proposal's span shown on the
Review page. Frames are found by seeking (PyAV) to the nearest key frame before each time and
decoding forward to the frame shown at that time, so a strip of a long film costs ``n`` short
decodes, not the whole file.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from otcore.store import Store, VideoInfo

__all__ = ["ThumbStrip", "strip_times", "timeline_strip", "span_strip", "grab_frames"]


@dataclass(frozen=True)
class ThumbStrip:
    """A sprite of ``len(times)`` thumbnails side by side, each ``width`` × ``height`` pixels."""

    path: Path
    times: tuple[float, ...]
    width: int
    height: int

    def jpeg(self) -> bytes:
        """The sprite's JPEG bytes."""
        return self.path.read_bytes()


def strip_times(start: float, end: float, n: int) -> tuple[float, ...]:
    """``n`` times at the centres of ``n`` equal parts of ``[start, end)``."""
    if n < 1 or not end > start:
        return ()
    step = (end - start) / n
    return tuple(round(start + (i + 0.5) * step, 6) for i in range(n))


def grab_frames(path: Path, times: tuple[float, ...], height: int) -> list[np.ndarray]:
    """The frames shown at ``times`` (RGB uint8, ``height`` pixels tall), one seek each."""
    import av

    out: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        tb = float(stream.time_base or 1e-6)
        for t in times:
            container.seek(max(0, int(t / tb)), stream=stream, backward=True, any_frame=False)
            chosen = None
            for frame in container.decode(stream):
                ft = float(frame.pts * tb) if frame.pts is not None else 0.0
                if chosen is None or ft <= t + 1e-6:
                    chosen = frame
                if ft >= t - 1e-6:
                    break
            if chosen is None:
                out.append(np.zeros((height, height * 16 // 9, 3), np.uint8))
                continue
            w = max(1, round(chosen.width * height / max(1, chosen.height)))
            out.append(chosen.to_ndarray(format="rgb24", width=w, height=height))
    return out


def _strip(store: Store, video: VideoInfo, times: tuple[float, ...], height: int) -> ThumbStrip | None:
    from PIL import Image

    if store.data_dir is None or not times:
        return None
    src = store.resolve_path(video.path)
    if not src.is_file():
        return None
    key = hashlib.sha256(repr((times, height)).encode()).hexdigest()[:16]
    cache = store.data_dir / "thumbs" / f"{video.sha256[:32]}-{key}-{height}.jpg"
    if cache.is_file():
        with Image.open(cache) as im:
            return ThumbStrip(cache, times, im.width // len(times), im.height)
    try:
        frames = grab_frames(src, times, height)
    except Exception:  # noqa: BLE001 - an undecodable file has no thumbnails; the timeline still works
        return None
    w = max(f.shape[1] for f in frames)
    sprite = Image.new("RGB", (w * len(frames), height))
    for i, f in enumerate(frames):
        sprite.paste(Image.fromarray(f), (i * w, 0))
    cache.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    sprite.save(buf, format="JPEG", quality=70)
    tmp = cache.with_suffix(".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(cache)
    return ThumbStrip(cache, times, w, height)


def timeline_strip(store: Store, video: VideoInfo, *, n: int = 32, height: int = 40) -> ThumbStrip | None:
    """``n`` thumbnails evenly over the whole video (None when it cannot be decoded)."""
    duration = float(video.duration or 0.0)
    return _strip(store, video, strip_times(0.0, duration, n), height)


def span_strip(
    store: Store, video: VideoInfo, start: float, end: float, *, n: int = 6, height: int = 72
) -> ThumbStrip | None:
    """``n`` thumbnails over ``[start, end)`` of the video (a proposal's span)."""
    return _strip(store, video, strip_times(float(start), float(end), n), height)
