"""CSV, one segment per row (seconds), with a header::

    video,label,start,end,score,source
    v_GGSY1Qvo990,Clean and jerk,1.2,5.834,,manual

``score`` and ``source`` may be empty (or absent as columns); extra columns are kept (as meta)
and written back. Text cells a spreadsheet would run as a formula (a leading ``=``, ``+``,
``-``, ``@``, tab or carriage return, OWASP's rule) are written with a leading ``'``; one
leading ``'`` before such a character is removed when reading, so the escaping round-trips.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from otcore.formats.base import RawData, RawSegment, ReadContext, fmt_seconds, parse_float
from otcore.formats.model import AnnotationSet, FormatError, set_meta
from otcore.formats.text import read_text

__all__ = ["read_csv", "write_csv", "CSV_COLUMNS", "escape_cell", "unescape_cell"]

FMT = "csv"
CSV_COLUMNS = ("video", "label", "start", "end", "score", "source")
_FORMULA = re.compile(r"^'*[=+\-@\t\r]")


def escape_cell(text: str) -> str:
    """``text`` safe for a spreadsheet: a ``'`` in front when it could start a formula."""
    return "'" + text if _FORMULA.match(text) else text


def unescape_cell(text: str) -> str:
    """The inverse of :func:`escape_cell`."""
    return text[1:] if text.startswith("'") and _FORMULA.match(text) else text


def read_csv(path: Path, ctx: ReadContext, **_: Any) -> RawData:
    """Read a segments CSV (header with at least video, label, start, end)."""
    raw = RawData()
    text = read_text(Path(path), ctx.encoding)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in ("video", "label", "start", "end") if c not in header]
        if missing:
            raise FormatError(
                f"{Path(path).name}: CSV header lacks column(s) {missing} (need {','.join(CSV_COLUMNS)})"
            )
        if len(set(header)) != len(header):
            raise FormatError(f"{Path(path).name}: CSV header repeats a column: {header}")
        reader.fieldnames = header
        extra_cols = [h for h in header if h not in CSV_COLUMNS]
        raw.meta[FMT] = {"columns": header}
        for row in reader:
            where = f"line {reader.line_num}"
            if None in row:
                raw.bad(where, f"{len(row[None])} more cells than header columns")  # type: ignore[index]
                continue
            video = unescape_cell((row.get("video") or "").strip())
            label = unescape_cell((row.get("label") or "").strip())
            if not video or not label:
                raw.bad(where, "empty video or label", video=video[:200] or None, label=label[:200] or None)
                continue
            try:
                start, end = parse_float(row.get("start") or ""), parse_float(row.get("end") or "")
                score_text = (row.get("score") or "").strip()
                score = parse_float(score_text) if score_text else None
            except ValueError as exc:
                raw.bad(where, f"bad number: {exc}", video=video[:200], label=label[:200])
                continue
            source = unescape_cell((row.get("source") or "").strip()) or None
            extra = {c: unescape_cell(row.get(c) or "") for c in extra_cols}
            raw.add(
                RawSegment(
                    video, label, start, end, score, source, where, {FMT: {"extra": extra}} if extra else None
                )
            )
    except csv.Error as exc:
        raise FormatError(f"{Path(path).name}: not a readable CSV at line {reader.line_num}: {exc}") from exc
    return raw


def write_csv(annotations: AnnotationSet, path: Path, **_: Any) -> list[Path]:
    """Write one CSV with columns ``video,label,start,end,score,source`` (and the extra columns
    of the file the annotations came from)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(set_meta(annotations, FMT).get("columns") or CSV_COLUMNS)
    columns += [c for c in CSV_COLUMNS if c not in columns]
    extra_cols = [c for c in columns if c not in CSV_COLUMNS]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([escape_cell(c) for c in columns])
        for video, va in annotations.items():
            for i, s in enumerate(va.segments):
                extra = va.meta_of(i, FMT).get("extra") or {}
                cells = {
                    "video": escape_cell(video),
                    "label": escape_cell(s.label),
                    "start": fmt_seconds(s.start),
                    "end": fmt_seconds(s.end),
                    "score": "" if s.score is None else repr(float(s.score)),
                    "source": escape_cell(va.source_of(i) or ""),
                    **{c: escape_cell(str(extra.get(c, ""))) for c in extra_cols},
                }
                w.writerow([cells[c] for c in columns])
    return [path]
