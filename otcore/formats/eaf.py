"""ELAN annotation documents (``.eaf`` XML, times in milliseconds), one tier per label.

One file per video; the media is referenced by the header's ``MEDIA_DESCRIPTOR``. Sample::

    <TIME_SLOT TIME_SLOT_ID="ts1" TIME_VALUE="8860"/> ...
    <TIER LINGUISTIC_TYPE_REF="default-lt" TIER_ID="HighJump">
      <ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a1" TIME_SLOT_REF1="ts1" TIME_SLOT_REF2="ts2">
        <ANNOTATION_VALUE>HighJump</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION></TIER>

Reading: the label is the annotation value, or the tier id when the value is empty; the video
name is the basename of the media URL, else the file name; duration/fps come back from the
``PROPERTY`` elements this module writes (``otstudio:duration``, ``otstudio:fps``). Times are
rounded to the millisecond. Written into a folder (``<video>.eaf`` each), or to one ``.eaf``
path when there is a single video.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from otcore.formats.base import RawData, RawSegment, ReadContext, parse_float
from otcore.formats.model import AnnotationSet, FormatError

__all__ = ["read_eaf", "write_eaf"]

_MIME = {".mp4": "video/mp4", ".webm": "video/webm", ".mkv": "video/x-matroska", ".avi": "video/x-msvideo"}


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.glob("*.eaf") if p.is_file())
    return [path]


def _read_one(f: Path, raw: RawData) -> None:
    try:
        root = ET.parse(f).getroot()
    except ET.ParseError as exc:
        raw.bad(f.name, f"not valid XML: {exc}")
        return
    if root.tag != "ANNOTATION_DOCUMENT":
        raw.bad(f.name, f"root element is {root.tag!r}, not ANNOTATION_DOCUMENT")
        return
    header = root.find("HEADER")
    video = f.stem
    duration = fps = None
    unit = 1000.0
    if header is not None:
        if header.get("TIME_UNITS", "milliseconds") != "milliseconds":
            raw.bad(f.name, f"unsupported TIME_UNITS {header.get('TIME_UNITS')!r}")
            return
        md = header.find("MEDIA_DESCRIPTOR")
        if md is not None:
            url = md.get("RELATIVE_MEDIA_URL") or md.get("MEDIA_URL") or ""
            name = url.replace("\\", "/").rstrip("/").split("/")[-1]
            if name:
                video = name
        for prop in header.findall("PROPERTY"):
            try:
                if prop.get("NAME") == "otstudio:duration":
                    duration = parse_float(prop.text or "")
                elif prop.get("NAME") == "otstudio:fps":
                    fps = parse_float(prop.text or "")
            except ValueError:
                raw.bad(f.name, f"bad PROPERTY {prop.get('NAME')}: {prop.text!r}", video=video)
    raw.add_video(video, duration, fps)
    slots: dict[str, float | None] = {}
    for ts in root.iter("TIME_SLOT"):
        v = ts.get("TIME_VALUE")
        try:
            slots[ts.get("TIME_SLOT_ID", "")] = None if v is None else parse_float(v) / unit
        except ValueError:
            slots[ts.get("TIME_SLOT_ID", "")] = None
    for tier in root.findall("TIER"):
        tier_id = tier.get("TIER_ID", "")
        for ann in tier.iter("ALIGNABLE_ANNOTATION"):
            aid = ann.get("ANNOTATION_ID", "?")
            where = f"{f.name}:{tier_id}/{aid}"
            value = (ann.findtext("ANNOTATION_VALUE") or "").strip()
            label = value or tier_id
            s = slots.get(ann.get("TIME_SLOT_REF1", ""))
            e = slots.get(ann.get("TIME_SLOT_REF2", ""))
            if s is None or e is None:
                raw.bad(where, "time slot missing or unaligned", video=video, label=label)
                continue
            if not label:
                raw.bad(where, "empty label and tier id", video=video)
                continue
            raw.add(RawSegment(video, label, s, e, where=where))


def read_eaf(path: Path, ctx: ReadContext, **_: Any) -> RawData:
    """Read one ``.eaf`` file or a folder of them into raw segments (seconds)."""
    files = _files(Path(path))
    if not files and not Path(path).is_dir():  # an empty folder is an empty set
        raise FormatError(f"no .eaf files in {path}")
    raw = RawData()
    for f in files:
        _read_one(f, raw)
    return raw


def _document(video: str, va: Any) -> ET.ElementTree:
    root = ET.Element(
        "ANNOTATION_DOCUMENT",
        {
            "AUTHOR": "otstudio",
            "DATE": datetime.now(UTC).isoformat(timespec="seconds"),
            "FORMAT": "3.0",
            "VERSION": "3.0",
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsi:noNamespaceSchemaLocation": "http://www.mpi.nl/tools/elan/EAFv3.0.xsd",
        },
    )
    header = ET.SubElement(root, "HEADER", {"MEDIA_FILE": "", "TIME_UNITS": "milliseconds"})
    ext = Path(video).suffix.lower()
    ET.SubElement(
        header,
        "MEDIA_DESCRIPTOR",
        {"MEDIA_URL": video, "RELATIVE_MEDIA_URL": f"./{video}", "MIME_TYPE": _MIME.get(ext, "video/*")},
    )
    if va.duration is not None:
        ET.SubElement(header, "PROPERTY", {"NAME": "otstudio:duration"}).text = repr(float(va.duration))
    if va.fps is not None:
        ET.SubElement(header, "PROPERTY", {"NAME": "otstudio:fps"}).text = repr(float(va.fps))
    ET.SubElement(header, "PROPERTY", {"NAME": "lastUsedAnnotationId"}).text = str(len(va.segments))
    order = ET.SubElement(root, "TIME_ORDER")
    tiers: dict[str, ET.Element] = {}
    for k, s in enumerate(va.segments, start=1):
        t1, t2 = f"ts{2 * k - 1}", f"ts{2 * k}"
        ET.SubElement(order, "TIME_SLOT", {"TIME_SLOT_ID": t1, "TIME_VALUE": str(int(round(s.start * 1000)))})
        ET.SubElement(order, "TIME_SLOT", {"TIME_SLOT_ID": t2, "TIME_VALUE": str(int(round(s.end * 1000)))})
    for k, s in enumerate(va.segments, start=1):
        if s.label not in tiers:
            tiers[s.label] = ET.SubElement(
                root, "TIER", {"LINGUISTIC_TYPE_REF": "default-lt", "TIER_ID": s.label}
            )
        ann = ET.SubElement(ET.SubElement(tiers[s.label], "ANNOTATION"), "ALIGNABLE_ANNOTATION")
        ann.set("ANNOTATION_ID", f"a{k}")
        ann.set("TIME_SLOT_REF1", f"ts{2 * k - 1}")
        ann.set("TIME_SLOT_REF2", f"ts{2 * k}")
        ET.SubElement(ann, "ANNOTATION_VALUE").text = s.label
    ET.SubElement(
        root,
        "LINGUISTIC_TYPE",
        {"GRAPHIC_REFERENCES": "false", "LINGUISTIC_TYPE_ID": "default-lt", "TIME_ALIGNABLE": "true"},
    )
    tree = ET.ElementTree(root)
    ET.indent(tree)
    return tree


def write_eaf(annotations: AnnotationSet, path: Path, **_: Any) -> list[Path]:
    """Write one ``.eaf`` per video into the folder ``path`` (or to ``path`` itself for one video)."""
    path = Path(path)
    if path.suffix.lower() == ".eaf":
        if len(annotations) != 1:
            raise FormatError(f"{path}: an .eaf file holds one video, got {len(annotations)}; give a folder")
        targets = {next(iter(annotations)): path}
    else:
        targets = {v: path / f"{v}.eaf" for v in annotations}
    out = []
    for video, target in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        _document(video, annotations[video]).write(target, encoding="UTF-8", xml_declaration=True)
        out.append(target)
    return out
