"""The two decoding backends behind :mod:`otcore.video.decode`: PyAV (sequential decode of every
packet, exact presentation times) and decord (random access, resize while decoding).

Each backend offers the same three verbs on a checked path: ``*_probe`` (a :class:`VideoProbe`),
``*_frame_times`` / ``decord_times`` (the start time of every decodable frame) and ``*_iter``
(``(times, frames)`` batches of the frames shown at the sample times). Which backend runs, and the
fallback from decord to PyAV, is decided in :mod:`otcore.video.decode`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from otcore.video.errors import CorruptVideo, NoFrames, NotAVideo, VideoError

__all__ = [
    "VideoProbe",
    "pyav_probe",
    "pyav_frame_times",
    "pyav_iter",
    "decord_open",
    "decord_times",
    "decord_probe",
    "decord_iter",
]

log = logging.getLogger(__name__)

# A file whose readable part is shorter than this fraction of what its header declares is truncated.
_TRUNCATION_RATIO = 0.9


@dataclass(frozen=True)
class VideoProbe:
    """What a video file holds, as read by ``backend``.

    ``duration`` is the end time of the last frame in seconds, ``fps`` the average frame
    rate, ``n_frames`` the number of decodable frames, ``width``/``height`` the stored
    size in pixels, ``codec`` the video codec name (e.g. ``"h264"``), ``container`` the
    demuxer name (e.g. ``"matroska,webm"``).
    """

    duration: float
    fps: float
    n_frames: int
    width: int
    height: int
    codec: str
    backend: str
    container: str = ""


def _indices_for_times(starts: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Index of the frame shown at each time: last frame with start <= t (first frame before it)."""
    idx = np.searchsorted(starts, times + 1e-6, side="right") - 1
    return np.clip(idx, 0, len(starts) - 1).astype(np.int64)


def _is_image_container(name: str) -> bool:
    return name in ("image2", "png_pipe", "jpeg_pipe", "bmp_pipe", "webp_pipe", "gif", "tiff_pipe") or (
        name.endswith("_pipe")
    )


# --------------------------------------------------------------------------- PyAV backend


def _codec_name(stream: Any) -> str:
    """Canonical codec name (``av1`` rather than the decoder's ``libdav1d``)."""
    try:
        codec = stream.codec_context.codec
        return str(getattr(codec, "canonical_name", None) or codec.name)
    except Exception:
        return ""


def _pyav_header(p: Path) -> dict[str, Any]:
    """Container/stream header info via PyAV (no decoding). Raises on unreadable files."""
    import av

    with av.open(str(p)) as c:
        if not c.streams.video:
            raise NoFrames(f"{p.name} has no video stream (audio only or data only); nothing to annotate")
        s = c.streams.video[0]
        fmt = c.format.name if c.format else ""
        if _is_image_container(fmt):
            raise NotAVideo(f"{p.name} is a still image ({fmt}), not a video")
        dur = None
        if s.duration is not None and s.time_base is not None:
            dur = float(s.duration * s.time_base)
        rate = s.average_rate or s.guessed_rate or s.base_rate
        return {
            "codec": _codec_name(s),
            "container": fmt,
            "frames": int(s.frames or 0),
            "stream_duration": dur,
            "container_duration": (c.duration / 1e6) if c.duration else None,
            "fps": float(rate) if rate else 0.0,
            "width": int(s.codec_context.width or 0),
            "height": int(s.codec_context.height or 0),
        }


def pyav_frame_times(p: Path) -> np.ndarray:
    """Presentation times (seconds, from 0) of all video frames, by demuxing packets only.

    Packets the container marks as discarded (cut by an edit list) are skipped: the decoder
    never outputs them, so these are exactly the timestamps PyAV decodes."""
    import av

    pts: list[int] = []
    with av.open(str(p)) as c:
        s = c.streams.video[0]
        tb = s.time_base
        for pkt in c.demux(s):
            if pkt.pts is not None and pkt.size > 0 and not getattr(pkt, "is_discard", False):
                pts.append(int(pkt.pts))
    if not pts:
        return np.zeros(0, dtype=np.float64)
    assert tb is not None  # a demuxed stream with packets always has a time base
    arr = np.sort(np.asarray(pts, dtype=np.int64))
    return ((arr - int(arr[0])) * float(tb)).astype(np.float64)


def pyav_probe(p: Path) -> VideoProbe:
    """Probe ``p`` with PyAV: header fields checked against the frames its packets really hold."""
    import av

    head = _pyav_header(p)
    times = pyav_frame_times(p)
    if times.size == 0:
        raise NoFrames(f"{p.name} contains a video stream but no frames")
    # Decode the first frame to prove the stream is readable.
    with av.open(str(p)) as c:
        s = c.streams.video[0]
        first = next(iter(c.decode(s)), None)
    if first is None:
        raise NoFrames(f"{p.name} contains a video stream but no decodable frames")
    n = int(times.size)
    fps = head["fps"] or (n / max(times[-1], 1e-6) if n > 1 else 25.0)
    duration = float(times[-1] + 1.0 / fps) if n else 0.0
    _check_truncation(p, head, n, duration)
    return VideoProbe(
        duration=duration,
        fps=float(fps),
        n_frames=n,
        width=int(first.width),
        height=int(first.height),
        codec=head["codec"],
        backend="pyav",
        container=head["container"],
    )


def _check_truncation(p: Path, head: dict[str, Any], n_frames: int, duration: float) -> None:
    """Raise CorruptVideo when the stream header promises clearly more than can be read."""
    declared_frames = head.get("frames") or 0
    if declared_frames > 10 and n_frames < _TRUNCATION_RATIO * declared_frames:
        raise CorruptVideo(
            f"{p.name} is truncated or damaged: its header declares {declared_frames} frames "
            f"but only {n_frames} can be read"
        )
    declared = head.get("stream_duration")
    if declared and declared > 2.0 and duration < _TRUNCATION_RATIO * declared - 1.0:
        raise CorruptVideo(
            f"{p.name} is truncated or damaged: its header declares {declared:.1f} s "
            f"but only {duration:.1f} s can be read"
        )


def pyav_iter(
    p: Path, times: np.ndarray, out_w: int, out_h: int, batch: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Sequential decode; emit the frame shown at each requested time, ``batch`` at a time."""
    if times.size == 0:
        return
    yield from _batched(_pyav_shown(p, times, out_w, out_h), batch)


def _batched(
    items: Iterator[tuple[float, np.ndarray]], batch: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(time, image)`` pairs grouped into ``(times [B], images [B, H, W, 3])`` of ``batch`` (the last may be shorter)."""
    buf_t: list[float] = []
    buf_f: list[np.ndarray] = []
    for t, img in items:
        buf_t.append(t)
        buf_f.append(img)
        if len(buf_f) == batch:
            yield np.asarray(buf_t), np.stack(buf_f)
            buf_t, buf_f = [], []
    if buf_f:
        yield np.asarray(buf_t), np.stack(buf_f)


def _pyav_shown(p: Path, times: np.ndarray, out_w: int, out_h: int) -> Iterator[tuple[float, np.ndarray]]:
    """``(t, image shown at t)`` for each requested time ``t`` (ascending), decoding the file once."""
    import av

    j = 0
    prev: Any = None
    prev_img: np.ndarray | None = None
    t0: float | None = None
    with av.open(str(p)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for frame in c.decode(s):
            if frame.pts is None:
                continue
            assert frame.time_base is not None  # PyAV gives decoded frames their packet's time base
            tf = float(frame.pts * frame.time_base)
            if t0 is None:
                t0 = tf
            tf -= t0
            # Requested times before this frame starts are shown by the previous frame
            # (or by this one when it is the first).
            while j < times.size and times[j] + 1e-6 < tf:
                if prev is None:
                    prev, prev_img = frame, None
                if prev_img is None:
                    prev_img = prev.to_ndarray(width=out_w, height=out_h, format="rgb24")
                yield float(times[j]), prev_img
                j += 1
            if j >= times.size:
                break
            if frame is not prev:
                prev, prev_img = frame, None
        if prev is None:
            raise NoFrames(f"{p.name}: no decodable frames")
        while j < times.size:
            if prev_img is None:
                prev_img = prev.to_ndarray(width=out_w, height=out_h, format="rgb24")
            yield float(times[j]), prev_img
            j += 1


# --------------------------------------------------------------------------- decord backend


def decord_open(p: Path, width: int = -1, height: int = -1) -> Any:
    """Open a decord VideoReader (separate function so tests can simulate decord failing)."""
    import decord

    return decord.VideoReader(str(p), ctx=decord.cpu(0), width=width, height=height, num_threads=0)


def decord_times(vr: Any) -> np.ndarray:
    """Start time (seconds, from 0) of every frame of an open decord reader."""
    n = len(vr)
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    ts = np.asarray(vr.get_frame_timestamp(np.arange(n)), dtype=np.float64)
    starts: np.ndarray = ts[:, 0] - ts[0, 0]
    return starts


def decord_probe(p: Path) -> VideoProbe:
    """Probe ``p`` with decord: frame count and times from the reader, the rest from the header."""
    vr = decord_open(p)
    n = len(vr)
    if n == 0:
        raise NoFrames(f"{p.name} contains no video frames")
    first = vr[0].asnumpy()
    times = decord_times(vr)
    fps = float(vr.get_avg_fps() or 0.0) or (n / max(times[-1], 1e-6) if n > 1 else 25.0)
    try:
        ends = np.asarray(vr.get_frame_timestamp([n - 1]), dtype=np.float64)[0]
        duration = float(ends[1] - (vr.get_frame_timestamp([0])[0][0]))
    except Exception:
        duration = float(times[-1] + 1.0 / fps)
    if not duration > 0:
        duration = float(times[-1] + 1.0 / fps)
    try:
        head = _pyav_header(p)
    except VideoError:
        raise
    except Exception:
        head = {"codec": "", "container": ""}
    _check_truncation(p, head, n, duration)
    del vr
    return VideoProbe(
        duration=duration,
        fps=fps,
        n_frames=int(n),
        width=int(first.shape[1]),
        height=int(first.shape[0]),
        codec=str(head.get("codec", "")),
        backend="decord",
        container=str(head.get("container", "")),
    )


def decord_iter(
    p: Path, times: np.ndarray, out_w: int, out_h: int, batch: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Random-access decode, resized while decoding; the frame shown at each time, ``batch`` at a time."""
    vr = decord_open(p, width=out_w, height=out_h)
    starts = decord_times(vr)
    if starts.size == 0:
        raise NoFrames(f"{p.name} contains no video frames")
    idx = _indices_for_times(starts, times)
    for k in range(0, idx.size, batch):
        sel = idx[k : k + batch]
        uniq, inv = np.unique(sel, return_inverse=True)
        frames = vr.get_batch(uniq.tolist()).asnumpy()
        yield times[k : k + batch].copy(), np.ascontiguousarray(frames[inv])
