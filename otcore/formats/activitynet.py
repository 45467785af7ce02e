"""ActivityNet-style JSON (seconds).

Written (``database`` style)::

    {"version": "otstudio", "database": {"v_abc": {"subset": "validation", "duration": 82.73, "fps": 29.97,
      "annotations": [{"label": "Ballet", "segment": [6.195, 77.731]}]}}}

Also read: the BSN ``anet_anno_action.json`` style ``{"v_abc": {"duration_second": 82.73,
"annotations": [{"segment": [6.195, 77.731], "label": "Ballet"}]}}`` (write it with
``style="bsn"``). An annotation may carry ``"score"`` (detections) and ``"source"``.

Everything else a file holds is kept as meta and written back: the top-level keys
(``version``, ``taxonomy``, ...) and the file's style, every other field of a video entry
(``subset``, ``url``, ``duration_frame``, ...) and of an annotation (``segment(frames)``,
``label_id``, ...), in their original key order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from otcore.formats.base import RawData, RawSegment, ReadContext, parse_float
from otcore.formats.model import EMPTY, AnnotationSet, FormatError, SkippedItem, set_meta
from otcore.formats.text import load_json

__all__ = ["read_activitynet", "write_activitynet", "looks_like_activitynet"]

FMT = "activitynet"
_VIDEO_KEYS = ("duration", "duration_second", "fps", "annotations")
_ANN_KEYS = ("label", "segment", "score", "source")


def looks_like_activitynet(obj: Any) -> bool:
    """True for a ``{"database": {...}}`` document or a BSN-style ``{video: {"annotations": [...]}}``."""
    if not isinstance(obj, dict):
        return False
    if isinstance(obj.get("database"), dict):
        return True
    values = list(obj.values())[:5]
    return bool(values) and all(isinstance(v, dict) and "annotations" in v for v in values)


def _opt_float(v: Any, what: str) -> float | None:
    if v is None:
        return None
    try:
        return parse_float(v)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from exc


def read_activitynet(path: Path, ctx: ReadContext, **_: Any) -> RawData:
    """Read an ActivityNet (or BSN-style) JSON file into raw records (seconds)."""
    doc = load_json(Path(path), ctx.encoding)
    if not looks_like_activitynet(doc) and doc != {}:
        raise FormatError(
            f"{Path(path).name} is not an ActivityNet-style JSON (no 'database' or per-video 'annotations')"
        )
    bsn = "database" not in doc
    db = doc if bsn else doc["database"]
    raw = RawData()
    top = {k: v for k, v in doc.items() if k != "database"} if not bsn else {}
    raw.meta[FMT] = {"style": "bsn" if bsn else "database", "top": top, "order": list(doc) if not bsn else []}
    for video, entry in db.items():
        video = str(video)
        if not isinstance(entry, dict):
            raw.bad(f"database[{video!r}]", "video entry is not an object", video=video)
            continue
        try:
            dkey = "duration" if "duration" in entry else "duration_second"
            duration = _opt_float(entry.get(dkey), dkey)
            fps = _opt_float(entry.get("fps"), "fps")
        except ValueError as exc:
            raw.bad(f"database[{video!r}]", str(exc), video=video)
            continue
        fields = {k: v for k, v in entry.items() if k not in _VIDEO_KEYS}
        raw.add_video(
            video,
            duration,
            fps,
            meta={
                FMT: {"fields": fields, "order": list(entry), "duration_key": dkey if dkey in entry else None}
            },
        )
        annotations = entry.get("annotations", [])
        if not isinstance(annotations, list):
            raw.bad(f"database[{video!r}]", "'annotations' is not a list", video=video)
            continue
        empties: list[list[Any]] = raw.video_meta[video][FMT].setdefault("empty", [])
        for i, ann in enumerate(annotations):
            where = f"{video}/annotations[{i}]"
            if not isinstance(ann, dict):
                raw.bad(where, "annotation is not an object", video=video)
                continue
            try:
                label = ann["label"]
                seg = ann["segment"]
                if not isinstance(seg, (list, tuple)) or len(seg) != 2:
                    raise ValueError(f"segment must be [start, end], got {seg!r:.60}")
                start, end = parse_float(seg[0]), parse_float(seg[1])
                score = _opt_float(ann.get("score"), "score")
                source = ann.get("source")
            except KeyError as exc:
                raw.bad(where, f"missing {exc}", video=video)
                continue
            except ValueError as exc:
                raw.bad(where, str(exc), video=video)
                continue
            if start == end and start >= 0 and isinstance(label, str) and label.strip():
                empties.append([i, ann])
                raw.flagged.append(
                    SkippedItem(EMPTY, video=video, label=label, start=start, end=end, where=where)
                )
                continue
            extra = {k: v for k, v in ann.items() if k not in _ANN_KEYS}
            meta = {FMT: {"fields": extra, "order": list(ann)}}
            src = source if isinstance(source, str) else None
            raw.add(RawSegment(video, label, start, end, score, src, where, meta))
    return raw


def _ordered(order: list[str], values: dict[str, Any]) -> dict[str, Any]:
    out = {k: values[k] for k in order if k in values}
    out.update({k: v for k, v in values.items() if k not in out})
    return out


def write_activitynet(
    annotations: AnnotationSet,
    path: Path,
    *,
    style: Literal["database", "bsn"] | None = None,
    subset: str = "validation",
    **_: Any,
) -> list[Path]:
    """Write one JSON file (``database`` style, or BSN ``duration_second`` style).

    ``style`` defaults to the style of the file the annotations came from (else ``database``);
    ``subset`` is written for videos whose file gave none.
    """
    file_meta = set_meta(annotations, FMT)
    style = style or file_meta.get("style") or "database"
    db: dict[str, Any] = {}
    for video, va in annotations.items():
        anns = []
        for i, s in enumerate(va.segments):
            m = va.meta_of(i, FMT)
            a: dict[str, Any] = {"label": s.label, "segment": [float(s.start), float(s.end)]}
            if s.score is not None:
                a["score"] = s.score
            src = va.source_of(i)
            if src is not None and (src != "manual" or not m or "source" in (m.get("order") or [])):
                a["source"] = src
            a.update(m.get("fields") or {})
            anns.append(_ordered(m.get("order") or [], a))
        vm = va.video_meta(FMT)
        for i, ann in sorted(vm.get("empty") or [], key=lambda x: x[0]):
            anns.insert(min(int(i), len(anns)), ann)
        fields = dict(vm.get("fields") or {})
        if style == "bsn":
            entry: dict[str, Any] = {"duration_second": va.duration, "annotations": anns}
        else:
            entry = {"subset": fields.pop("subset", subset), "duration": va.duration, "annotations": anns}
            if vm.get("duration_key") == "duration_second":
                entry["duration_second"] = entry.pop("duration")
        if va.fps is not None and (not vm or "fps" in (vm.get("order") or [])):
            entry["fps"] = va.fps
        entry.update(fields)
        db[video] = _ordered(vm.get("order") or [], entry)
    if style == "bsn":
        doc: dict[str, Any] = db
    else:
        top = dict(file_meta.get("top") or {"version": "otstudio"})
        top["database"] = db
        doc = _ordered(file_meta.get("order") or ["version", "database"], top)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    return [path]
