"""CSV, one segment per row (seconds), with a header::

    video,label,start,end,score,source
    v_GGSY1Qvo990,Clean and jerk,1.2,5.834,,manual

``score`` and ``source`` may be empty (or absent as columns); extra columns are ignored.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from otcore.formats.base import RawData, RawSegment, ReadContext, fmt_seconds, parse_float
from otcore.formats.model import AnnotationSet, FormatError

__all__ = ["read_csv", "write_csv", "CSV_COLUMNS"]

CSV_COLUMNS = ("video", "label", "start", "end", "score", "source")


def read_csv(path: Path, ctx: ReadContext, **_: Any) -> RawData:
    """Read a segments CSV (header with at least video, label, start, end)."""
    raw = RawData()
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in ("video", "label", "start", "end") if c not in header]
        if missing:
            raise FormatError(f"{path}: CSV header lacks column(s) {missing} (need {','.join(CSV_COLUMNS)})")
        reader.fieldnames = header
        for row in reader:
            where = f"line {reader.line_num}"
            video = (row.get("video") or "").strip()
            label = (row.get("label") or "").strip()
            if not video or not label:
                raw.bad(where, "empty video or label", video=video or None, label=label or None)
                continue
            try:
                start, end = parse_float(row.get("start") or ""), parse_float(row.get("end") or "")
                score_text = (row.get("score") or "").strip()
                score = parse_float(score_text) if score_text else None
            except ValueError as exc:
                raw.bad(where, f"bad number: {exc}", video=video, label=label)
                continue
            source = (row.get("source") or "").strip() or None
            raw.add(RawSegment(video, label, start, end, score, source, where))
    return raw


def write_csv(annotations: AnnotationSet, path: Path, **_: Any) -> list[Path]:
    """Write one CSV with columns ``video,label,start,end,score,source``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for video, va in annotations.items():
            for i, s in enumerate(va.segments):
                w.writerow(
                    [
                        video,
                        s.label,
                        fmt_seconds(s.start),
                        fmt_seconds(s.end),
                        "" if s.score is None else repr(float(s.score)),
                        va.source_of(i) or "",
                    ]
                )
    return [path]
