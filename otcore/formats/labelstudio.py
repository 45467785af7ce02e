"""Label Studio JSON export with ``TimelineLabels`` regions (video frames at the real fps).

A list of tasks; each region is ``{"type": "timelinelabels", "value": {"ranges": [{"start":
s, "end": e}], "timelinelabels": [label]}}`` with 1-based inclusive frame numbers (frame
``k`` spans ``[(k − 1) / fps, k / fps)``). Sample task (one line)::

    {"id": 1, "data": {"video": "v_x.mp4", "fps": 29.97, "duration": 24.0}, "annotations": [{"result":
     [{"id": "r1", "type": "timelinelabels", "from_name": "videoLabels", "to_name": "video",
       "value": {"ranges": [{"start": 267, "end": 450}], "timelinelabels": ["HighJump"]}}]}]}

Reading takes the regions of every non-cancelled annotation of a task (a task's predictions
only when it has no annotation); the video name is the basename of ``data["video"]`` (a
``?d=path`` upload URL is understood). Frames are converted with ``fps=`` if given, else the
task's ``data["fps"]`` (written by this module), else the known video's fps; never assumed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from otcore.formats.base import RawData, RawSegment, ReadContext, parse_float
from otcore.formats.model import UNKNOWN_VIDEO, AnnotationSet, FormatError, FpsRequiredError, SkippedItem

__all__ = ["read_labelstudio", "write_labelstudio", "looks_like_labelstudio", "video_name_from_url"]

_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")
_VIDEO_EXT = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ogv", ".wmv")


def looks_like_labelstudio(obj: Any) -> bool:
    """True for a list of tasks (objects with ``data``) or a single task."""
    if isinstance(obj, dict):
        return isinstance(obj.get("data"), dict)
    return isinstance(obj, list) and all(isinstance(t, dict) and "data" in t for t in obj[:5])


def video_name_from_url(url: str) -> str:
    """Basename of a Label Studio media reference.

    ``/data/local-files/?d=dir/v.mp4`` -> ``v.mp4``; ``/data/upload/3/1a2b3c4d-v.mp4`` -> ``v.mp4``.
    """
    parsed = urlparse(url)
    q = parse_qs(parsed.query)
    ref = q["d"][0] if "d" in q else parsed.path or url
    name = unquote(ref.replace("\\", "/").rstrip("/").split("/")[-1])
    if "/data/upload/" in url and _UPLOAD_PREFIX.match(name):
        name = name[9:]  # Label Studio prefixes uploaded files with 8 hex digits and a dash
    return name


def _task_video(data: dict[str, Any]) -> str | None:
    v = data.get("video")
    if isinstance(v, str) and v:
        return video_name_from_url(v)
    for val in data.values():
        if isinstance(val, str) and val.lower().split("?")[0].endswith(_VIDEO_EXT):
            return video_name_from_url(val)
    return None


def read_labelstudio(path: Path, ctx: ReadContext, **_: Any) -> RawData:
    """Read a Label Studio JSON export (TimelineLabels regions) into raw segments (seconds)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FormatError(f"cannot read Label Studio JSON {path}: {exc}") from exc
    tasks = [doc] if isinstance(doc, dict) else doc
    if not looks_like_labelstudio(tasks):
        raise FormatError(f"{path} is not a Label Studio export (a list of tasks with 'data')")
    raw = RawData()
    for t_i, task in enumerate(tasks):
        data = task.get("data") or {}
        video = _task_video(data)
        tid = task.get("id", t_i)
        if video is None:
            raw.bad(f"task {tid}", "task has no video reference in 'data'")
            continue
        file_fps = data.get("fps")
        duration = data.get("duration")
        try:
            file_fps = None if file_fps is None else parse_float(str(file_fps))
            duration = None if duration is None else parse_float(str(duration))
        except ValueError:
            raw.bad(f"task {tid}", "bad fps or duration in 'data'", video=video)
            continue
        annotations = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
        groups = annotations if annotations else (task.get("predictions") or [])
        regions = [r for g in groups for r in (g.get("result") or [])]
        timeline = [
            r
            for r in regions
            if r.get("type") == "timelinelabels" or "timelinelabels" in (r.get("value") or {})
        ]
        if not timeline:
            raw.add_video(video, duration, file_fps)
            continue
        fps = ctx.fps_for(video, file_fps, fmt="Label Studio TimelineLabels")
        if fps is None:
            for r_i, _r in enumerate(timeline):
                raw.skipped.append(SkippedItem(UNKNOWN_VIDEO, video=video, where=f"task {tid} region {r_i}"))
            continue
        raw.add_video(video, duration, file_fps if file_fps else (fps if ctx.fps is None else None))
        for r_i, region in enumerate(timeline):
            where = f"task {tid} region {region.get('id', r_i)}"
            value = region.get("value") or {}
            labels = value.get("timelinelabels") or []
            ranges = value.get("ranges") or []
            if not labels or not ranges:
                raw.bad(where, "region without timelinelabels or ranges", video=video)
                continue
            score = region.get("score")
            origin = region.get("origin")
            source = "predicted" if origin == "prediction" or not annotations else None
            for rg in ranges:
                try:
                    a, b = int(round(parse_float(str(rg["start"])))), int(round(parse_float(str(rg["end"]))))
                except (KeyError, TypeError, ValueError) as exc:
                    raw.bad(where, f"bad range {rg!r}: {exc}", video=video)
                    continue
                for label in labels:
                    raw.add(
                        RawSegment(
                            video,
                            str(label),
                            (a - 1) / fps,
                            b / fps,
                            None if score is None else float(score),
                            source,
                            where,
                        )
                    )
    return raw


def write_labelstudio(
    annotations: AnnotationSet,
    path: Path,
    *,
    fps: float | None = None,
    from_name: str = "videoLabels",
    to_name: str = "video",
    **_: Any,
) -> list[Path]:
    """Write one Label Studio JSON file (a task per video) with TimelineLabels frame ranges.

    Frames use ``fps`` if given, else each video's own fps (:class:`FpsRequiredError` if none).
    """
    tasks = []
    for t_i, (video, va) in enumerate(annotations.items(), start=1):
        rate = fps if fps is not None else va.fps
        if not rate:
            raise FpsRequiredError(f"Label Studio frames need the fps of video {video!r}: pass fps=...")
        result = []
        for k, s in enumerate(va.segments):
            start = int(round(s.start * rate)) + 1
            end = max(start, int(round(s.end * rate)))
            region: dict[str, Any] = {
                "id": f"seg{k + 1}",
                "type": "timelinelabels",
                "from_name": from_name,
                "to_name": to_name,
                "origin": "prediction" if va.source_of(k) == "predicted" else "manual",
                "value": {"ranges": [{"start": start, "end": end}], "timelinelabels": [s.label]},
            }
            if s.score is not None:
                region["score"] = s.score
            result.append(region)
        data: dict[str, Any] = {"video": video, "fps": rate}
        if va.duration is not None:
            data["duration"] = va.duration
        tasks.append({"id": t_i, "data": data, "annotations": [{"result": result}]})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tasks, indent=1), encoding="utf-8")
    return [path]
