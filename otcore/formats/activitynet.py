"""ActivityNet-style JSON (seconds).

Written (``database`` style)::

    {"version": "otstudio", "database": {"v_abc": {"subset": "validation", "duration": 82.73, "fps": 29.97,
      "annotations": [{"label": "Ballet", "segment": [6.195, 77.731]}]}}}

Also read: the BSN ``anet_anno_action.json`` style ``{"v_abc": {"duration_second": 82.73,
"annotations": [{"segment": [6.195, 77.731], "label": "Ballet"}]}}`` (write it with
``style="bsn"``). An annotation may carry ``"score"`` (detections) and ``"source"``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from otcore.formats.base import RawData, RawSegment, ReadContext, parse_float
from otcore.formats.model import AnnotationSet, FormatError

__all__ = ["read_activitynet", "write_activitynet", "looks_like_activitynet"]


def looks_like_activitynet(obj: Any) -> bool:
    """True for a ``{"database": {...}}`` document or a BSN-style ``{video: {"annotations": [...]}}``."""
    if not isinstance(obj, dict):
        return False
    if isinstance(obj.get("database"), dict):
        return True
    values = list(obj.values())[:5]
    return bool(values) and all(isinstance(v, dict) and "annotations" in v for v in values)


def _opt_float(v: Any) -> float | None:
    try:
        return None if v is None else parse_float(str(v))
    except ValueError:
        return None


def read_activitynet(path: Path, ctx: ReadContext, **_: Any) -> RawData:
    """Read an ActivityNet (or BSN-style) JSON file into raw records (seconds)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FormatError(f"cannot read ActivityNet JSON {path}: {exc}") from exc
    if not looks_like_activitynet(doc) and doc != {}:
        raise FormatError(
            f"{path} is not an ActivityNet-style JSON (no 'database' or per-video 'annotations')"
        )
    db = doc.get("database", doc) if isinstance(doc, dict) else {}
    raw = RawData()
    for video, entry in db.items():
        video = str(video)
        if not isinstance(entry, dict):
            raw.bad(f"database[{video!r}]", "video entry is not an object", video=video)
            continue
        duration = _opt_float(entry.get("duration", entry.get("duration_second")))
        fps = _opt_float(entry.get("fps"))
        raw.add_video(video, duration, fps)
        annotations = entry.get("annotations", [])
        if not isinstance(annotations, list):
            raw.bad(f"database[{video!r}]", "'annotations' is not a list", video=video)
            continue
        for i, ann in enumerate(annotations):
            where = f"{video}/annotations[{i}]"
            try:
                label = str(ann["label"])
                seg = ann["segment"]
                if not isinstance(seg, (list, tuple)) or len(seg) != 2:
                    raise ValueError(f"segment must be [start, end], got {seg!r}")
                start, end = parse_float(str(seg[0])), parse_float(str(seg[1]))
                score = _opt_float(ann.get("score"))
                source = ann.get("source")
            except (KeyError, TypeError, ValueError) as exc:
                raw.bad(where, f"{type(exc).__name__}: {exc}", video=video)
                continue
            raw.add(
                RawSegment(video, label, start, end, score, None if source is None else str(source), where)
            )
    return raw


def write_activitynet(
    annotations: AnnotationSet,
    path: Path,
    *,
    style: Literal["database", "bsn"] = "database",
    subset: str = "validation",
    **_: Any,
) -> list[Path]:
    """Write one JSON file (``database`` style, or BSN ``duration_second`` style)."""
    db: dict[str, Any] = {}
    for video, va in annotations.items():
        anns = []
        for i, s in enumerate(va.segments):
            a: dict[str, Any] = {"label": s.label, "segment": [round(s.start, 6), round(s.end, 6)]}
            if s.score is not None:
                a["score"] = s.score
            if va.source_of(i) is not None:
                a["source"] = va.source_of(i)
            anns.append(a)
        if style == "bsn":
            entry: dict[str, Any] = {"duration_second": va.duration, "annotations": anns}
        else:
            entry = {"subset": subset, "duration": va.duration, "annotations": anns}
        if va.fps is not None:
            entry["fps"] = va.fps
        db[video] = entry
    doc: dict[str, Any] = db if style == "bsn" else {"version": "otstudio", "database": db}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return [path]
