"""ELAN annotation documents (``.eaf`` XML, times in milliseconds), one tier per label.

One file per video; the media is referenced by the header's ``MEDIA_DESCRIPTOR``. Sample::

    <TIME_SLOT TIME_SLOT_ID="ts1" TIME_VALUE="8860"/> ...
    <TIER LINGUISTIC_TYPE_REF="default-lt" TIER_ID="HighJump">
      <ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a1" TIME_SLOT_REF1="ts1" TIME_SLOT_REF2="ts2">
        <ANNOTATION_VALUE>HighJump</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION></TIER>

Reading: the label is the annotation value, or the tier id when the value is empty; the video
name is the basename of the media URL, else the file name; duration/fps come back from the
``PROPERTY`` elements this module writes (``otstudio:duration``, ``otstudio:fps``). Label
descriptions are the ``DESCRIPTION`` of controlled vocabulary entries whose value is the label
(``<CV_ENTRY_ML><CVE_VALUE DESCRIPTION="..">jump</CVE_VALUE>``, EAF 2.8+, or ``<CV_ENTRY
DESCRIPTION="..">jump</CV_ENTRY>`` before); writing puts each description on the entry of a
vocabulary the document already has for that label, else on an entry of an ``otstudio-labels``
vocabulary it adds (with a ``LANGUAGE`` for EAF 2.8+), in the schema's element order. What the
document holds besides (document and header attributes, media descriptors, properties, every
tier with its attributes and order, linguistic types and other top-level elements, annotation
ids and attributes) is kept as meta and written back. Written into a folder (``<video>.eaf``
each, names from the one sanitiser), or to one ``.eaf`` path when there is a single video.
Documents with a DTD or entities are refused (no entity expansion).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from otcore.formats.base import RawData, RawSegment, ReadContext, parse_float
from otcore.formats.model import AnnotationSet, FormatError, VideoAnnotations, label_descriptions
from otcore.formats.names import NameAllocator, WrittenFiles, inside
from otcore.formats.text import read_text

__all__ = ["read_eaf", "write_eaf"]

FMT = "eaf"
_MIME = {".mp4": "video/mp4", ".webm": "video/webm", ".mkv": "video/x-matroska", ".avi": "video/x-msvideo"}
_OWN_PROPS = ("otstudio:duration", "otstudio:fps", "lastUsedAnnotationId")
_KNOWN_ROOT = ("HEADER", "TIME_ORDER", "TIER")


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.glob("*.eaf") if p.is_file())
    return [path]


def _read_one(f: Path, raw: RawData, encoding: str | None) -> None:
    text = read_text(f, encoding)
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raw.bad(f.name, "XML with a DTD or entities is refused")
        return
    try:
        root = ET.fromstring(text.encode("utf-8"))
    except ET.ParseError as exc:
        raw.bad(f.name, f"not valid XML: {exc}")
        return
    if root.tag != "ANNOTATION_DOCUMENT":
        raw.bad(f.name, f"root element is {root.tag!r:.60}, not ANNOTATION_DOCUMENT")
        return
    header = root.find("HEADER")
    video = f.stem
    duration = fps = None
    meta: dict[str, Any] = {
        "root": dict(root.attrib),
        "header": {},
        "media": [],
        "properties": [],
        "tiers": [dict(t.attrib) for t in root.findall("TIER")],
        "others": [ET.tostring(el, encoding="unicode") for el in root if el.tag not in _KNOWN_ROOT],
    }
    if header is not None:
        if header.get("TIME_UNITS", "milliseconds") != "milliseconds":
            raw.bad(f.name, f"unsupported TIME_UNITS {header.get('TIME_UNITS')!r:.40}")
            return
        meta["header"] = dict(header.attrib)
        mds = header.findall("MEDIA_DESCRIPTOR")
        meta["media"] = [dict(md.attrib) for md in mds]
        if mds:
            url = mds[0].get("RELATIVE_MEDIA_URL") or mds[0].get("MEDIA_URL") or ""
            name = url.replace("\\", "/").rstrip("/").split("/")[-1]
            if name:
                video = name
        for prop in header.findall("PROPERTY"):
            try:
                if prop.get("NAME") == "otstudio:duration":
                    duration = parse_float(prop.text or "")
                elif prop.get("NAME") == "otstudio:fps":
                    fps = parse_float(prop.text or "")
                elif prop.get("NAME") != "lastUsedAnnotationId":
                    meta["properties"].append([prop.get("NAME"), prop.text])
            except ValueError:
                raw.bad(f.name, f"bad PROPERTY {prop.get('NAME')}: {prop.text!r:.40}", video=video)
    raw.add_video(video, duration, fps, meta={FMT: meta})
    _read_descriptions(root, raw)
    slots: dict[str, float | None] = {}
    for ts in root.iter("TIME_SLOT"):
        v = ts.get("TIME_VALUE")
        try:
            slots[ts.get("TIME_SLOT_ID", "")] = None if v is None else parse_float(v) / 1000.0
        except ValueError as exc:
            slots[ts.get("TIME_SLOT_ID", "")] = None
            raw.bad(f"{f.name}:{ts.get('TIME_SLOT_ID', '')[:40]}", f"bad TIME_VALUE: {exc}", video=video)
    for tier in root.findall("TIER"):
        tier_id = tier.get("TIER_ID", "")
        for ann in tier.iter("ALIGNABLE_ANNOTATION"):
            aid = ann.get("ANNOTATION_ID", "?")
            where = f"{f.name}:{tier_id[:60]}/{aid[:40]}"
            value = ann.findtext("ANNOTATION_VALUE") or ""
            label = value.strip() or tier_id
            s = slots.get(ann.get("TIME_SLOT_REF1", ""))
            e = slots.get(ann.get("TIME_SLOT_REF2", ""))
            if s is None or e is None:
                raw.bad(where, "time slot missing or unaligned", video=video, label=label[:200])
                continue
            if not label:
                raw.bad(where, "empty label and tier id", video=video)
                continue
            attrs = {k: v for k, v in ann.attrib.items() if k not in ("TIME_SLOT_REF1", "TIME_SLOT_REF2")}
            seg_meta = {FMT: {"tier": tier_id, "attrs": attrs, "value": value}}
            raw.add(RawSegment(video, label, s, e, where=where, meta=seg_meta))


def _cv_entries(root: ET.Element) -> list[tuple[ET.Element, str, str]]:
    """``(element holding DESCRIPTION, value, description)`` of every controlled vocabulary entry."""
    out: list[tuple[ET.Element, str, str]] = []
    for cv in root.findall("CONTROLLED_VOCABULARY"):
        for entry in cv.findall("CV_ENTRY"):  # EAF ≤ 2.7
            out.append((entry, (entry.text or "").strip(), entry.get("DESCRIPTION") or ""))
        for entry in cv.findall("CV_ENTRY_ML"):  # EAF 2.8+: one CVE_VALUE per language
            for value in entry.findall("CVE_VALUE"):
                out.append((value, (value.text or "").strip(), value.get("DESCRIPTION") or ""))
    return out


def _read_descriptions(root: ET.Element, raw: RawData) -> None:
    for _, value, text in _cv_entries(root):
        if value and text.strip() and value not in raw.descriptions:
            raw.descriptions[value] = text


def read_eaf(path: Path, ctx: ReadContext, **_: Any) -> RawData:
    """Read one ``.eaf`` file or a folder of them into raw segments (seconds)."""
    files = _files(Path(path))
    if not files and not Path(path).is_dir():  # an empty folder is an empty set
        raise FormatError(f"no .eaf files in {path}")
    raw = RawData()
    for f in files:
        _read_one(f, raw, ctx.encoding)
    return raw


#: Top-level elements that come before a LANGUAGE / a CONTROLLED_VOCABULARY in the EAF schema.
_BEFORE_LANGUAGE = ("HEADER", "TIME_ORDER", "TIER", "LINGUISTIC_TYPE", "LOCALE", "LANGUAGE")
_BEFORE_CV = (*_BEFORE_LANGUAGE, "CONSTRAINT", "CONTROLLED_VOCABULARY")
CV_ID = "otstudio-labels"


def _insert_after(root: ET.Element, tags: tuple[str, ...], element: ET.Element) -> None:
    at = max((i + 1 for i, el in enumerate(root) if el.tag in tags), default=len(root))
    root.insert(at, element)


def _write_descriptions(root: ET.Element, descriptions: dict[str, str]) -> None:
    """Put ``descriptions`` on the document's vocabulary entries (see the module doc)."""
    todo = dict(descriptions)
    for holder, value, _ in _cv_entries(root):
        if value in descriptions:
            holder.set("DESCRIPTION", descriptions[value])
            todo.pop(value, None)
    if not todo:
        return
    try:
        multilingual = float(root.get("FORMAT") or "3.0") >= 2.8
    except ValueError:
        multilingual = True
    cv = ET.Element("CONTROLLED_VOCABULARY", {"CV_ID": CV_ID})
    if not multilingual:
        cv.set("DESCRIPTION", "labels of the otstudio project")
        for k, (label, text) in enumerate(todo.items(), start=1):
            ET.SubElement(cv, "CV_ENTRY", {"DESCRIPTION": text, "CVE_ID": f"otstudio_cve{k}"}).text = label
    else:
        lang = next((el.get("LANG_ID") for el in root.findall("LANGUAGE") if el.get("LANG_ID")), None)
        if lang is None:
            lang = "eng"
            _insert_after(
                root,
                _BEFORE_LANGUAGE,
                ET.Element(
                    "LANGUAGE",
                    {
                        "LANG_DEF": "http://cdb.iso.org/lg/CDB-00130975-001",
                        "LANG_ID": lang,
                        "LANG_LABEL": "English (eng)",
                    },
                ),
            )
        ET.SubElement(cv, "DESCRIPTION", {"LANG_REF": lang}).text = "labels of the otstudio project"
        for k, (label, text) in enumerate(todo.items(), start=1):
            entry = ET.SubElement(cv, "CV_ENTRY_ML", {"CVE_ID": f"otstudio_cve{k}"})
            ET.SubElement(entry, "CVE_VALUE", {"DESCRIPTION": text, "LANG_REF": lang}).text = label
    _insert_after(root, _BEFORE_CV, cv)


def _document(video: str, va: VideoAnnotations, descriptions: dict[str, str] | None = None) -> ET.ElementTree:
    vm = va.video_meta(FMT)
    root = ET.Element(
        "ANNOTATION_DOCUMENT",
        vm.get("root")
        or {
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",  # first, as ElementTree writes it back
            "AUTHOR": "otstudio",
            "DATE": datetime.now(UTC).isoformat(timespec="seconds"),
            "FORMAT": "3.0",
            "VERSION": "3.0",
            "xsi:noNamespaceSchemaLocation": "http://www.mpi.nl/tools/elan/EAFv3.0.xsd",
        },
    )
    header = ET.SubElement(
        root, "HEADER", vm.get("header") or {"MEDIA_FILE": "", "TIME_UNITS": "milliseconds"}
    )
    ext = Path(video).suffix.lower()
    for md in vm.get("media") or [
        {"MEDIA_URL": video, "RELATIVE_MEDIA_URL": f"./{video}", "MIME_TYPE": _MIME.get(ext, "video/*")}
    ]:
        ET.SubElement(header, "MEDIA_DESCRIPTOR", md)
    for name, text in vm.get("properties") or []:
        ET.SubElement(header, "PROPERTY", {"NAME": name} if name is not None else {}).text = text
    if va.duration is not None:
        ET.SubElement(header, "PROPERTY", {"NAME": "otstudio:duration"}).text = repr(float(va.duration))
    if va.fps is not None:
        ET.SubElement(header, "PROPERTY", {"NAME": "otstudio:fps"}).text = repr(float(va.fps))
    ET.SubElement(header, "PROPERTY", {"NAME": "lastUsedAnnotationId"}).text = str(len(va.segments))
    order = ET.SubElement(root, "TIME_ORDER")
    for k, s in enumerate(va.segments, start=1):
        t1, t2 = f"ts{2 * k - 1}", f"ts{2 * k}"
        ET.SubElement(order, "TIME_SLOT", {"TIME_SLOT_ID": t1, "TIME_VALUE": str(int(round(s.start * 1000)))})
        ET.SubElement(order, "TIME_SLOT", {"TIME_SLOT_ID": t2, "TIME_VALUE": str(int(round(s.end * 1000)))})
    tiers: dict[str, ET.Element] = {}
    for attrs in vm.get("tiers") or []:
        tiers[attrs.get("TIER_ID", "")] = ET.SubElement(root, "TIER", attrs)
    used_ids = {
        str(va.meta_of(k, FMT).get("attrs", {}).get("ANNOTATION_ID")) for k in range(len(va.segments))
    }
    fresh = 0
    for k, s in enumerate(va.segments, start=1):
        m = va.meta_of(k - 1, FMT)
        tier_id = str(m["tier"]) if m.get("tier") in tiers else s.label
        if tier_id not in tiers:
            tiers[tier_id] = ET.SubElement(
                root, "TIER", {"LINGUISTIC_TYPE_REF": "default-lt", "TIER_ID": tier_id}
            )
        ann = ET.SubElement(ET.SubElement(tiers[tier_id], "ANNOTATION"), "ALIGNABLE_ANNOTATION")
        attrs = dict(m.get("attrs") or {})
        if "ANNOTATION_ID" not in attrs:
            fresh += 1
            while f"a{fresh}" in used_ids:
                fresh += 1
            attrs["ANNOTATION_ID"] = f"a{fresh}"
        ann.set("ANNOTATION_ID", attrs.pop("ANNOTATION_ID"))
        ann.set("TIME_SLOT_REF1", f"ts{2 * k - 1}")
        ann.set("TIME_SLOT_REF2", f"ts{2 * k}")
        for key, val in attrs.items():
            ann.set(key, val)
        value = (
            m.get("value") if "value" in m and (m.get("value", "").strip() or tier_id) == s.label else s.label
        )
        ET.SubElement(ann, "ANNOTATION_VALUE").text = value
    others = vm.get("others")
    if others is None:
        ET.SubElement(
            root,
            "LINGUISTIC_TYPE",
            {"GRAPHIC_REFERENCES": "false", "LINGUISTIC_TYPE_ID": "default-lt", "TIME_ALIGNABLE": "true"},
        )
    else:
        for xml in others:
            root.append(ET.fromstring(xml))
        if not any(el.tag == "LINGUISTIC_TYPE" for el in root):
            ET.SubElement(
                root,
                "LINGUISTIC_TYPE",
                {"GRAPHIC_REFERENCES": "false", "LINGUISTIC_TYPE_ID": "default-lt", "TIME_ALIGNABLE": "true"},
            )
    if descriptions:
        _write_descriptions(root, descriptions)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    return tree


def write_eaf(annotations: AnnotationSet, path: Path, **_: Any) -> WrittenFiles:
    """Write one ``.eaf`` per video into the folder ``path`` (or to ``path`` itself for one video);
    every document carries the label descriptions of the set (see the module doc)."""
    path = Path(path)
    names = NameAllocator()
    if path.suffix.lower() == ".eaf":
        if len(annotations) != 1:
            raise FormatError(f"{path}: an .eaf file holds one video, got {len(annotations)}; give a folder")
        targets = {next(iter(annotations)): path}
    else:
        targets = {v: inside(path, names.name(v, ".eaf", fallback="video")) for v in annotations}
    out = WrittenFiles(renamed={})
    descriptions = label_descriptions(annotations)
    for video, target in targets.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        doc = _document(video, annotations[video], descriptions)
        doc.write(target, encoding="UTF-8", xml_declaration=True)
        out.append(target)
    out.renamed = {v: targets[v].name for v in targets if targets[v].name != f"{v}.eaf"}
    return out
