"""Label Studio JSON export with ``TimelineLabels`` regions (video frames).

A list of tasks; each region is ``{"type": "timelinelabels", "value": {"ranges": [{"start":
s, "end": e}], "timelinelabels": [label]}}`` with 1-based inclusive frame numbers: frame ``k``
is the video's ``k``-th decoded frame, spanning ``[t_(k-1), t_k)`` (the decoded timestamps when
the video is known, else ``t_i = i / fps``). Sample task (one line)::

    {"id": 1, "data": {"video": "v_x.mp4", "fps": 29.97, "duration": 24.0}, "annotations": [{"result":
     [{"id": "r1", "type": "timelinelabels", "from_name": "videoLabels", "to_name": "video",
       "value": {"ranges": [{"start": 267, "end": 450}], "timelinelabels": ["HighJump"]}}]}]}

Reading takes the regions of every non-cancelled annotation of a task (a task's predictions
only when it has no annotation); the video name is the basename of ``data["video"]`` (a
``?d=path`` upload URL is understood). Frames are converted with ``fps=`` if given, else the
known video's decoded frame times, else the task's ``data["fps"]``, else the known video's fps;
never assumed. Task ids and data, annotation fields, region ids and names, and regions of
other types are kept as meta and written back.

Label descriptions are the ``hint`` of the labeling config's labels (``<Label value="jump"
hint="someone leaps over a bar"/>``). A JSON export holds no config, so it travels beside it:
``<name>.label_config.xml`` next to ``<name>.json`` (or ``label_config=PATH``) is read with it, and
writing a set that has descriptions, or was read with a config, writes that file too (the config
read, with its hints brought up to date and any missing label added, else a new one with a
``TimelineLabels`` of every label).
"""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import numpy as np

from otcore.formats.base import RawData, RawSegment, ReadContext, parse_float
from otcore.formats.frames import FrameClock, frame_grid, frame_span
from otcore.formats.model import (
    UNKNOWN_VIDEO,
    AnnotationSet,
    FormatError,
    FpsRequiredError,
    SkippedItem,
    label_descriptions,
    set_meta,
)
from otcore.formats.text import load_json, read_text

__all__ = [
    "read_labelstudio",
    "write_labelstudio",
    "looks_like_labelstudio",
    "video_name_from_url",
    "label_config_path",
]

FMT = "labelstudio"
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")
_VIDEO_EXT = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ogv", ".wmv")
_MAX_FRAME = 10**9


def looks_like_labelstudio(obj: Any) -> bool:
    """True for a list of tasks (objects with ``data``) or a single task."""
    if isinstance(obj, dict):
        return isinstance(obj.get("data"), dict)
    return isinstance(obj, list) and (not obj or (isinstance(obj[0], dict) and "data" in obj[0]))


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


def _is_timeline(r: Any) -> bool:
    return isinstance(r, dict) and (
        r.get("type") == "timelinelabels" or "timelinelabels" in (r.get("value") or {})
    )


def _frame_number(v: Any) -> int:
    x = parse_float(v)
    k = int(round(x))
    if not 0 <= k <= _MAX_FRAME:
        raise ValueError(f"frame number {v!r} out of range")
    return k


def label_config_path(path: Path) -> Path:
    """Where the labeling config of the export ``path`` lies: ``<name>.label_config.xml`` beside it."""
    path = Path(path)
    return path.with_name(f"{path.stem}.label_config.xml")


def _read_config(path: Path, raw: RawData, encoding: str | None) -> None:
    """The labels' hints of a labeling config (a ``View`` XML) into ``raw.descriptions``."""
    text = read_text(path, encoding)
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raw.bad(path.name, "XML with a DTD or entities is refused")
        return
    try:
        root = ET.fromstring(text.encode("utf-8"))
    except ET.ParseError as exc:
        raw.bad(path.name, f"labeling config is not valid XML: {exc}")
        return
    raw.meta[FMT]["label_config"] = text
    for el in root.iter("Label"):
        value, hint = el.get("value") or "", el.get("hint") or ""
        if value.strip() and hint.strip() and value not in raw.descriptions:
            raw.descriptions[value] = hint


def read_labelstudio(
    path: Path, ctx: ReadContext, *, label_config: str | Path | None = None, **_: Any
) -> RawData:
    """Read a Label Studio JSON export (TimelineLabels regions) into raw segments (seconds), with
    the label hints of its labeling config (``label_config``, else the file beside it, if any)."""
    doc = load_json(Path(path), ctx.encoding)
    tasks = [doc] if isinstance(doc, dict) else doc
    if not looks_like_labelstudio(tasks):
        raise FormatError(f"{Path(path).name} is not a Label Studio export (a list of tasks with 'data')")
    raw = RawData()
    raw.meta[FMT] = {"single": isinstance(doc, dict)}
    config = Path(label_config) if label_config is not None else label_config_path(Path(path))
    if label_config is not None and not config.is_file():
        raise FormatError(f"labeling config {config} does not exist")
    if config.is_file():
        _read_config(config, raw, ctx.encoding)
    for t_i, task in enumerate(tasks):
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raw.bad(f"task #{t_i}", "task is not an object with a 'data' object")
            continue
        data = task["data"]
        video = _task_video(data)
        tid = task.get("id", t_i)
        where_task = f"task {tid!r:.40}"
        if video is None:
            raw.bad(where_task, "task has no video reference in 'data'")
            continue
        try:
            file_fps = None if data.get("fps") is None else parse_float(data["fps"])
            duration = None if data.get("duration") is None else parse_float(data["duration"])
        except ValueError as exc:
            raw.bad(where_task, f"bad fps or duration in 'data': {exc}", video=video)
            continue
        anns = task.get("annotations") or []
        preds = task.get("predictions") or []
        if not isinstance(anns, list) or not isinstance(preds, list):
            raw.bad(where_task, "'annotations' and 'predictions' must be lists", video=video)
            continue
        annotations = [a for a in anns if isinstance(a, dict) and not a.get("was_cancelled")]
        key = "annotations" if annotations else "predictions"
        groups = annotations if annotations else [p for p in preds if isinstance(p, dict)]
        if any(not isinstance(g.get("result") or [], list) for g in groups):
            raw.bad(where_task, "an annotation's 'result' is not a list", video=video)
            continue
        vmeta: dict[str, Any] = {
            "task": {k: v for k, v in task.items() if k not in ("annotations", "predictions")},
            "key": key,
            "groups": [{k: v for k, v in g.items() if k != "result"} for g in groups],
            "others": [
                [(pos, r) for pos, r in enumerate(g.get("result") or []) if not _is_timeline(r)]
                for g in groups
            ],
            "rest": {k: task[k] for k in ("annotations", "predictions") if k != key and k in task},
        }
        has_timeline = any(_is_timeline(r) for g in groups for r in g.get("result") or [])
        if not has_timeline:
            raw.add_video(video, duration, file_fps, meta={FMT: vmeta})
            continue
        known_times = ctx.frame_times_for(video)
        if known_times is not None:
            times = np.asarray(known_times, dtype=np.float64)
            meta = ctx.known_meta(video)
            last = float(meta.duration) if meta is not None and meta.duration else float(times[-1])
            t_of = FrameClock(times=times, last=last, step=0.0)

            raw.add_video(video, duration, file_fps, meta={FMT: vmeta})
        else:
            fps = ctx.fps_for(video, file_fps, fmt="Label Studio TimelineLabels")
            if fps is None:
                raw.skipped.append(SkippedItem(UNKNOWN_VIDEO, video=video, where=where_task))
                continue
            t_of = FrameClock(fps=fps)

            raw.add_video(
                video,
                duration,
                file_fps if file_fps else (fps if ctx.fps is None else None),
                meta={FMT: vmeta},
            )
        for g_i, g in enumerate(groups):
            for pos, region in enumerate(g.get("result") or []):
                if not _is_timeline(region):
                    continue
                rid = region.get("id", pos)
                where = f"{where_task} region {rid!r:.40}"
                value = region.get("value")
                if not isinstance(value, dict):
                    raw.bad(where, "region 'value' is not an object", video=video)
                    continue
                labels = value.get("timelinelabels")
                ranges = value.get("ranges")
                if not isinstance(labels, list) or not isinstance(ranges, list) or not labels or not ranges:
                    raw.bad(where, "region without a list of timelinelabels and of ranges", video=video)
                    continue
                try:
                    score = None if region.get("score") is None else parse_float(region["score"])
                except ValueError as exc:
                    raw.bad(where, f"bad score: {exc}", video=video)
                    continue
                source = "predicted" if region.get("origin") == "prediction" or key == "predictions" else None
                rmeta = {k: v for k, v in region.items() if k not in ("value", "score")}
                rmeta["value_extra"] = {
                    k: v for k, v in value.items() if k not in ("ranges", "timelinelabels")
                }
                rmeta["has_score"] = "score" in region
                for j, rg in enumerate(ranges):
                    try:
                        if not isinstance(rg, dict):
                            raise ValueError("a range must be an object with start and end")
                        a, b = _frame_number(rg["start"]), _frame_number(rg["end"])
                        if a < 1 or b < a:
                            raise ValueError(f"frames must satisfy 1 <= start <= end, got {a}..{b}")
                    except (KeyError, ValueError) as exc:
                        raw.bad(where, f"bad range {rg!r:.60}: {exc}", video=video)
                        continue
                    for n_l, label in enumerate(labels):
                        m = {FMT: {"group": g_i, "pos": pos, "range": j, "n_label": n_l, "region": rmeta}}
                        raw.add(RawSegment(video, label, t_of(a - 1), t_of(b), score, source, where, m))
    return raw


def _ranges(times: np.ndarray, start: float, end: float) -> tuple[int, int]:
    lo, hi = frame_span(times, start, end)
    return lo + 1, max(lo + 1, hi)


def _config(
    annotations: AnnotationSet,
    descriptions: dict[str, str],
    original: str | None,
    from_name: str,
    to_name: str,
) -> str:
    """The labeling config to write: ``original`` with its hints set (labels missing from it added to
    its first label group), else a new one with every label of the set."""
    if original is not None:
        root = ET.fromstring(original.encode("utf-8"))
        seen: set[str] = set()
        used = {s.label for va in annotations.values() for s in va.segments}
        for el in root.iter("Label"):
            value = el.get("value") or ""
            seen.add(value)
            if value in descriptions:
                el.set("hint", descriptions[value])
            elif value in used and "hint" in el.attrib:  # the label's description was cleared
                del el.attrib["hint"]
        group = next((el for el in root.iter() if el.tag in ("TimelineLabels", "Labels")), None)
        if group is not None:
            for label, hint in descriptions.items():
                if label not in seen:
                    ET.SubElement(group, "Label", {"value": label, "hint": hint})
    else:
        labels = list(dict.fromkeys([s.label for va in annotations.values() for s in va.segments]))
        labels += [lb for lb in descriptions if lb not in labels]
        root = ET.Element("View")
        ET.SubElement(root, "Video", {"name": to_name, "value": "$video", "timelineHeight": "120"})
        group = ET.SubElement(root, "TimelineLabels", {"name": from_name, "toName": to_name})
        for label in labels:
            attrs = {"value": label}
            if label in descriptions:
                attrs["hint"] = descriptions[label]
            ET.SubElement(group, "Label", attrs)
        ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


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

    Frames are the video's decoded frames (``frame_times``) unless ``fps`` is given, else its
    ``1/fps`` grid (:class:`FpsRequiredError` if neither). A task read from Label Studio gets
    its id, data, annotation fields and other regions back. The labeling config with the label
    hints is written beside it when there is one to write (see the module doc).
    """
    tasks = []
    single = bool(set_meta(annotations, FMT).get("single"))
    for t_i, (video, va) in enumerate(annotations.items(), start=1):
        rate = fps if fps is not None else va.fps
        ft = None if fps is not None else va.frame_times
        if not rate and not (ft is not None and len(ft)):
            raise FpsRequiredError(f"Label Studio frames need the fps of video {video!r}: pass fps=...")
        end_hint = max((s.end for s in va.segments), default=0.0)
        span = max(va.duration or 0.0, end_hint) + 2.0 / (rate or 1.0)
        times = frame_grid(span, rate, ft, end_hint)
        vm = va.video_meta(FMT)
        groups: list[dict[str, Any]] = copy.deepcopy(vm.get("groups") or [{}])
        results: list[list[tuple[float, dict[str, Any]]]] = [
            [(float(pos), r) for pos, r in others] for others in (vm.get("others") or [[] for _ in groups])
        ]
        while len(results) < len(groups):
            results.append([])
        regions: dict[tuple[int, int], dict[str, Any]] = {}
        for k, s in enumerate(va.segments):
            m = va.meta_of(k, FMT)
            a, b = _ranges(times, s.start, s.end)
            if m and m.get("group", 0) < len(groups):
                key = (int(m["group"]), int(m["pos"]))
                region = regions.get(key)
                if region is None:
                    region = copy.deepcopy(m["region"])
                    region["value"] = {
                        "ranges": [],
                        "timelinelabels": [],
                        **(m["region"].get("value_extra") or {}),
                    }
                    region.pop("value_extra", None)
                    has_score = region.pop("has_score", False)
                    if s.score is not None or has_score:
                        region["score"] = s.score
                    regions[key] = region
                    results[key[0]].append((float(key[1]), region))
                if m.get("n_label", 0) == 0:
                    region["value"]["ranges"].append({"start": a, "end": b})
                if s.label not in region["value"]["timelinelabels"]:
                    region["value"]["timelinelabels"].append(s.label)
                continue
            region = {
                "id": f"seg{k + 1}",
                "type": "timelinelabels",
                "from_name": from_name,
                "to_name": to_name,
                "origin": "prediction" if va.source_of(k) == "predicted" else "manual",
                "value": {"ranges": [{"start": a, "end": b}], "timelinelabels": [s.label]},
            }
            if s.score is not None:
                region["score"] = s.score
            results[0].append((1e12 + k, region))
        task: dict[str, Any] = copy.deepcopy(vm.get("task") or {"id": t_i, "data": {"video": video}})
        if not vm:
            if rate:
                task["data"]["fps"] = rate
            if va.duration is not None:
                task["data"]["duration"] = va.duration
        for g, res in zip(groups, results, strict=True):
            g["result"] = [r for _, r in sorted(res, key=lambda x: x[0])]
        task[vm.get("key") or "annotations"] = groups
        task.update(copy.deepcopy(vm.get("rest") or {}))
        tasks.append(task)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc: Any = tasks[0] if single and len(tasks) == 1 else tasks
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    descriptions = label_descriptions(annotations)
    original = set_meta(annotations, FMT).get("label_config")
    if not descriptions and not isinstance(original, str):
        return [path]
    config = label_config_path(path)
    text = _config(
        annotations, descriptions, original if isinstance(original, str) else None, from_name, to_name
    )
    config.write_text(text, encoding="utf-8")
    return [path, config]
