"""WebVTT, one file per video; each cue is one segment and its text is the label. Sample::

    WEBVTT

    NOTE otstudio duration=24.0 fps=29.97

    00:00:08.860 --> 00:00:15.010
    HighJump

Times are rounded to the millisecond. The video name is the file name without ``.vtt``;
the ``NOTE otstudio`` line (written by this module) carries duration and fps. Written into a
folder (``<video>.vtt`` each), or to one ``.vtt`` path when there is a single video.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from otcore.formats.base import RawData, RawSegment, ReadContext, parse_float
from otcore.formats.model import AnnotationSet, FormatError

__all__ = ["read_vtt", "write_vtt", "parse_timestamp", "format_timestamp"]

_TS = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})$")


def parse_timestamp(text: str) -> float:
    """``hh:mm:ss.ttt`` or ``mm:ss.ttt`` -> seconds (raises ``ValueError``)."""
    m = _TS.match(text.strip())
    if not m:
        raise ValueError(f"bad WebVTT timestamp {text!r}")
    h, mi, s, frac = m.groups()
    return int(h or 0) * 3600 + int(mi) * 60 + int(s) + int(frac.ljust(3, "0")) / 1000.0


def format_timestamp(t: float) -> str:
    """Seconds -> ``hh:mm:ss.ttt`` (rounded to the millisecond)."""
    ms = int(round(t * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.glob("*.vtt") if p.is_file())
    return [path]


def _read_one(f: Path, raw: RawData) -> None:
    text = f.read_text(encoding="utf-8-sig", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    video = f.stem
    if not text.lstrip().startswith("WEBVTT"):
        raw.bad(f.name, "missing WEBVTT header", video=video)
        return
    blocks: list[tuple[int, list[str]]] = []  # (first line number, lines)
    current: list[str] = []
    for n, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            if not current:
                blocks.append((n, current))
            current.append(line)
        else:
            current = []
    duration = fps = None
    cues = []
    for line_no, lines in blocks[1:]:
        if lines[0].startswith("NOTE"):
            note = "\n".join(lines)
            try:
                m = re.search(r"otstudio\s+duration=(\S+)", note)
                if m and m.group(1) != "None":
                    duration = parse_float(m.group(1))
                m = re.search(r"otstudio.*\bfps=(\S+)", note)
                if m and m.group(1) != "None":
                    fps = parse_float(m.group(1))
            except ValueError:
                raw.bad(f"{f.name}:{line_no}", f"bad otstudio NOTE: {note!r}", video=video)
            continue
        if lines[0].startswith(("STYLE", "REGION")):
            continue
        timing = 0 if "-->" in lines[0] else 1
        if timing >= len(lines) or "-->" not in lines[timing]:
            raw.bad(f"{f.name}:{line_no}", "cue without a timing line", video=video)
            continue
        cues.append(
            (line_no + timing, lines[timing], " ".join(ln.strip() for ln in lines[timing + 1 :]).strip())
        )
    raw.add_video(video, duration, fps)
    for n, timing_line, label in cues:
        where = f"{f.name}:{n}"
        try:
            a, b = timing_line.split("-->", 1)
            start, end = parse_timestamp(a), parse_timestamp(b.split()[0])
        except (ValueError, IndexError) as exc:
            raw.bad(where, str(exc), video=video)
            continue
        if not label:
            raw.bad(where, "cue without text (label)", video=video)
            continue
        raw.add(RawSegment(video, label, start, end, where=where))


def read_vtt(path: Path, ctx: ReadContext, **_: Any) -> RawData:
    """Read one ``.vtt`` file or a folder of them into raw segments (seconds)."""
    files = _files(Path(path))
    if not files and not Path(path).is_dir():  # an empty folder is an empty set
        raise FormatError(f"no .vtt files in {path}")
    raw = RawData()
    for f in files:
        _read_one(f, raw)
    return raw


def write_vtt(annotations: AnnotationSet, path: Path, **_: Any) -> list[Path]:
    """Write one ``<video>.vtt`` per video into the folder ``path`` (or ``path`` for one video)."""
    path = Path(path)
    if path.suffix.lower() == ".vtt":
        if len(annotations) != 1:
            raise FormatError(f"{path}: a .vtt file holds one video, got {len(annotations)}; give a folder")
        targets = {next(iter(annotations)): path}
    else:
        targets = {v: path / f"{v}.vtt" for v in annotations}
    out = []
    for video, target in targets.items():
        va = annotations[video]
        parts = ["WEBVTT", f"NOTE otstudio duration={va.duration} fps={va.fps}"]
        for s in sorted(va.segments, key=lambda s: (s.start, s.end)):
            if "-->" in s.label or "\n" in s.label:
                raise FormatError(f"label {s.label!r} cannot be a cue text")
            parts.append(f"{format_timestamp(s.start)} --> {format_timestamp(s.end)}\n{s.label}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
        out.append(target)
    return out
