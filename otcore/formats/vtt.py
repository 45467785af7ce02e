"""WebVTT, one file per video; each cue is one segment and its text is the label. Sample::

    WEBVTT

    NOTE otstudio duration=24.0 fps=29.97

    00:00:08.860 --> 00:00:15.010
    HighJump

Times are rounded to the millisecond. The video name is the file name without ``.vtt``;
the ``NOTE otstudio`` line (written by this module) carries duration and fps. Cue identifiers
and cue settings (``align:start``, ...), the header line and the other NOTE, STYLE and REGION
blocks are kept as meta and written back. Written into a folder (``<video>.vtt`` each, names
from the one sanitiser), or to one ``.vtt`` path when there is a single video.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from otcore.formats.base import RawData, RawSegment, ReadContext, parse_float
from otcore.formats.model import AnnotationSet, FormatError
from otcore.formats.names import NameAllocator, WrittenFiles, inside
from otcore.formats.text import read_text

__all__ = ["read_vtt", "write_vtt", "parse_timestamp", "format_timestamp"]

FMT = "vtt"
# hours: at most 7 digits (WebVTT allows any, but 10 million hours is past every bound)
_TS = re.compile(r"^(?:(\d{1,7}):)?(\d{1,2}):(\d{2})[.,](\d{1,3})$")


def parse_timestamp(text: str) -> float:
    """``hh:mm:ss.ttt`` or ``mm:ss.ttt`` -> seconds (raises ``ValueError``)."""
    m = _TS.match(text.strip())
    if not m:
        raise ValueError(f"bad WebVTT timestamp {text.strip()[:40]!r}")
    h, mi, s, frac = m.groups()
    if int(mi) > 59 or int(s) > 59:
        raise ValueError(f"bad WebVTT timestamp {text.strip()[:40]!r} (minutes and seconds go to 59)")
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


def _read_one(f: Path, raw: RawData, encoding: str | None) -> None:
    text = read_text(f, encoding).replace("\r\n", "\n").replace("\r", "\n")
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
    vmeta: dict[str, Any] = {"header": blocks[0][1] if blocks else ["WEBVTT"], "blocks": []}
    for line_no, lines in blocks[1:]:
        if lines[0].startswith("NOTE"):
            note = "\n".join(lines)
            if note.startswith("NOTE otstudio"):
                try:
                    m = re.search(r"otstudio\s+duration=(\S+)", note)
                    if m and m.group(1) != "None":
                        duration = parse_float(m.group(1))
                    m = re.search(r"otstudio.*\bfps=(\S+)", note)
                    if m and m.group(1) != "None":
                        fps = parse_float(m.group(1))
                except ValueError:
                    raw.bad(f"{f.name}:{line_no}", f"bad otstudio NOTE: {note[:80]!r}", video=video)
            else:
                vmeta["blocks"].append([len(cues), lines])
            continue
        if lines[0].startswith(("STYLE", "REGION")):
            vmeta["blocks"].append([len(cues), lines])
            continue
        timing = 0 if "-->" in lines[0] else 1
        if timing >= len(lines) or "-->" not in lines[timing]:
            raw.bad(f"{f.name}:{line_no}", "cue without a timing line", video=video)
            continue
        ident = lines[0] if timing == 1 else None
        cues.append((line_no + timing, lines[timing], lines[timing + 1 :], ident))
    raw.add_video(video, duration, fps, meta={FMT: vmeta})
    for n, timing_line, text_lines, ident in cues:
        where = f"{f.name}:{n}"
        try:
            a, b = timing_line.split("-->", 1)
            rest = b.split()
            start, end = parse_timestamp(a), parse_timestamp(rest[0])
        except (ValueError, IndexError) as exc:
            raw.bad(where, str(exc), video=video)
            continue
        label = " ".join(ln.strip() for ln in text_lines).strip()
        if not label:
            raw.bad(where, "cue without text (label)", video=video)
            continue
        meta = {"id": ident, "settings": " ".join(rest[1:])}
        if len(text_lines) > 1:
            meta["lines"] = text_lines
        raw.add(RawSegment(video, label, start, end, where=where, meta={FMT: meta}))


def read_vtt(path: Path, ctx: ReadContext, **_: Any) -> RawData:
    """Read one ``.vtt`` file or a folder of them into raw segments (seconds)."""
    files = _files(Path(path))
    if not files and not Path(path).is_dir():  # an empty folder is an empty set
        raise FormatError(f"no .vtt files in {path}")
    raw = RawData()
    for f in files:
        _read_one(f, raw, ctx.encoding)
    return raw


def _cue(s: Any, m: dict[str, Any]) -> str:
    if "-->" in s.label or "\n" in s.label or "\r" in s.label:
        raise FormatError(f"label {s.label!r} cannot be a cue text")
    timing = f"{format_timestamp(s.start)} --> {format_timestamp(s.end)}"
    if m.get("settings"):
        timing += " " + m["settings"]
    lines = (
        m.get("lines")
        if m.get("lines") and " ".join(x.strip() for x in m["lines"]).strip() == s.label
        else None
    )
    body = "\n".join(lines) if lines else s.label
    return (f"{m['id']}\n" if m.get("id") else "") + f"{timing}\n{body}"


def write_vtt(annotations: AnnotationSet, path: Path, **_: Any) -> WrittenFiles:
    """Write one ``<video>.vtt`` per video into the folder ``path`` (or ``path`` for one video)."""
    path = Path(path)
    names = NameAllocator()
    if path.suffix.lower() == ".vtt":
        if len(annotations) != 1:
            raise FormatError(f"{path}: a .vtt file holds one video, got {len(annotations)}; give a folder")
        targets = {next(iter(annotations)): path}
    else:
        targets = {v: inside(path, names.name(v, ".vtt", fallback="video")) for v in annotations}
    out = WrittenFiles()
    for video, target in targets.items():
        va = annotations[video]
        vm = va.video_meta(FMT)
        parts = [
            "\n".join(vm.get("header") or ["WEBVTT"]),
            f"NOTE otstudio duration={va.duration} fps={va.fps}",
        ]
        blocks = sorted(vm.get("blocks") or [], key=lambda b: b[0])
        order = sorted(range(len(va.segments)), key=lambda i: (va.segments[i].start, va.segments[i].end))
        bi = 0
        for n, i in enumerate(order):
            while bi < len(blocks) and blocks[bi][0] <= n:
                parts.append("\n".join(blocks[bi][1]))
                bi += 1
            parts.append(_cue(va.segments[i], va.meta_of(i, FMT)))
        parts.extend("\n".join(b[1]) for b in blocks[bi:])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
        out.append(target)
    out.renamed = dict(names.renamed)
    return out
