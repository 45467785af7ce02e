"""A corpus of bad and hostile annotation files, generated (nothing binary is committed).

Each entry: ``(case id, file name, content bytes, import options, message the import must give)``.
Every one of them must be refused with that message and leave the store unchanged.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

HEADER = b"video,label,start,end\n"


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _anet(entry: dict[str, Any]) -> bytes:
    return json.dumps({"database": {"v1": entry}}).encode()


def _anet_ann(ann: dict[str, Any], duration: Any = 10.0) -> bytes:
    return _anet({"duration": duration, "annotations": [ann]})


def _ls(task: Any) -> bytes:
    return json.dumps([task]).encode()


def _ls_region(value: Any, **extra: Any) -> bytes:
    region = {"id": "r1", "type": "timelinelabels", "value": value, **extra}
    return _ls({"id": 1, "data": {"video": "v1.mp4", "fps": 25}, "annotations": [{"result": [region]}]})


def _vtt(cue: str) -> bytes:
    return f"WEBVTT\n\n{cue}\nJump\n".encode()


def _eaf(body: str, header: str = '<HEADER TIME_UNITS="milliseconds"/>') -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<ANNOTATION_DOCUMENT>{header}{body}</ANNOTATION_DOCUMENT>'.encode()


_EAF_OK_TIER = (
    '<TIME_ORDER><TIME_SLOT TIME_SLOT_ID="ts1" TIME_VALUE="{a}"/><TIME_SLOT TIME_SLOT_ID="ts2" TIME_VALUE="{b}"/>'
    '</TIME_ORDER><TIER TIER_ID="{tier}"><ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a1" '
    'TIME_SLOT_REF1="ts1" TIME_SLOT_REF2="ts2"><ANNOTATION_VALUE>{value}</ANNOTATION_VALUE>'
    "</ALIGNABLE_ANNOTATION></ANNOTATION></TIER>"
)

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>\n'
    b"<ANNOTATION_DOCUMENT><HEADER/><TIER TIER_ID='&lol2;'/></ANNOTATION_DOCUMENT>"
)

# (id, file name, content, options, expected message)
CORPUS: list[tuple[str, str, bytes, dict[str, Any], str]] = [
    # --- text that is not UTF-8, binary files
    ("csv-latin1", "a.csv", HEADER + "v1,Caf\xe9,1,2\n".encode("latin-1"), {}, "not UTF-8 text"),
    (
        "json-latin1",
        "a.json",
        '{"database": {"v1": {"annotations": [{"label": "Caf\xe9", "segment": [1, 2]}]}}}'.encode("latin-1"),
        {},
        "not UTF-8 text",
    ),
    (
        "vtt-latin1",
        "a.vtt",
        "WEBVTT\n\n00:01.000 --> 00:02.000\nCaf\xe9\n".encode("latin-1"),
        {},
        "not UTF-8 text",
    ),
    (
        "thumos-cp1252",
        "Jump.txt",
        "v1 1.0 2.0 \u201cq\u201d\n".encode("cp1252"),
        {"fmt": "thumos"},
        "not UTF-8 text",
    ),
    ("random-binary", "labels", bytes(range(256)) * 40, {"fmt": "frames", "fps": 25.0}, "binary file"),
    (
        "random-binary-auto",
        "blob.bin",
        b"\x89PNG\r\n\x1a\n" + bytes((i * 37) % 251 for i in range(5000)),
        {},
        "binary file",
    ),
    ("nul-in-label", "a.csv", HEADER + b"v1,Ju\x00mp,1,2\n", {}, "binary file"),
    (
        "unknown-encoding",
        "a.csv",
        HEADER + b"v1,Jump,1,2\n",
        {"encoding": "klingon-8"},
        "unknown text encoding",
    ),
    # --- malformed JSON
    ("json-truncated", "a.json", b'{"database": {"v1": {"annotations": [', {}, "not valid JSON"),
    ("json-empty", "a.json", b"", {}, "not valid JSON"),
    ("json-deeply-nested", "a.json", b"[" * 100_000 + b"]" * 100_000, {}, "nested too deeply"),
    (
        "json-nested-100",
        "a.json",
        json.dumps(
            {"database": {"v1": {"annotations": [], "x": json.loads("[" * 100 + "]" * 100)}}}
        ).encode(),
        {},
        "nested too deeply",
    ),
    ("json-neither", "a.json", b'{"foo": 1}', {}, "neither ActivityNet-style nor a Label Studio"),
    (
        "json-400-digit-int",
        "a.json",
        b'{"database": {"v1": {"duration": ' + b"9" * 5000 + b', "annotations": []}}}',
        {},
        "number",
    ),
    # --- ActivityNet values
    (
        "anet-duration-1e300",
        "a.json",
        _anet({"duration": 1e300, "annotations": []}),
        {},
        "duration must be in (0, 1e+07] s",
    ),
    (
        "anet-duration-negative",
        "a.json",
        _anet({"duration": -5, "annotations": []}),
        {},
        "duration must be in",
    ),
    (
        "anet-duration-nan",
        "a.json",
        b'{"database": {"v1": {"duration": NaN, "annotations": []}}}',
        {},
        "not a finite number",
    ),
    (
        "anet-fps-negative",
        "a.json",
        _anet({"duration": 10, "fps": -30, "annotations": []}),
        {},
        "fps must be in (0, 1000]",
    ),
    ("anet-fps-zero", "a.json", _anet({"duration": 10, "fps": 0, "annotations": []}), {}, "fps must be in"),
    ("anet-duration-string", "a.json", _anet({"duration": "long", "annotations": []}), {}, "not a number"),
    (
        "anet-null-label",
        "a.json",
        _anet_ann({"label": None, "segment": [1, 2]}),
        {},
        "label must be text, got NoneType",
    ),
    (
        "anet-number-label",
        "a.json",
        _anet_ann({"label": 7, "segment": [1, 2]}),
        {},
        "label must be text, got int",
    ),
    ("anet-empty-label", "a.json", _anet_ann({"label": "  ", "segment": [1, 2]}), {}, "empty label"),
    (
        "anet-label-bell",
        "a.json",
        _anet_ann({"label": "Ju\u0007mp", "segment": [1, 2]}),
        {},
        "unprintable character U+0007",
    ),
    (
        "anet-label-200kB",
        "a.json",
        _anet_ann({"label": "x" * 200_000, "segment": [1, 2]}),
        {},
        "label is 200000 characters long",
    ),
    (
        "anet-segment-3",
        "a.json",
        _anet_ann({"label": "J", "segment": [1, 2, 3]}),
        {},
        "segment must be [start, end]",
    ),
    (
        "anet-segment-string",
        "a.json",
        _anet_ann({"label": "J", "segment": "1-2"}),
        {},
        "segment must be [start, end]",
    ),
    ("anet-segment-bool", "a.json", _anet_ann({"label": "J", "segment": [True, 2]}), {}, "not a number"),
    (
        "anet-negative-start",
        "a.json",
        _anet_ann({"label": "J", "segment": [-1, 2]}),
        {},
        "negative start time",
    ),
    (
        "anet-end-before-start",
        "a.json",
        _anet_ann({"label": "J", "segment": [5, 2]}),
        {},
        "start must be before end",
    ),
    (
        "anet-end-1e12",
        "a.json",
        _anet_ann({"label": "J", "segment": [1, 1e12]}, duration=None),
        {},
        "is beyond 1e+07 s",
    ),
    (
        "anet-infinity",
        "a.json",
        b'{"database": {"v1": {"annotations": [{"label": "J", "segment": [1, Infinity]}]}}}',
        {},
        "not a finite number",
    ),
    (
        "anet-annotation-not-object",
        "a.json",
        _anet({"duration": 10, "annotations": ["J 1 2"]}),
        {},
        "annotation is not an object",
    ),
    (
        "anet-annotations-not-list",
        "a.json",
        _anet({"duration": 10, "annotations": {"a": 1}}),
        {},
        "'annotations' is not a list",
    ),
    (
        "anet-video-name-nul",
        "a.json",
        json.dumps({"database": {"v\u00001": {"annotations": [{"label": "J", "segment": [1, 2]}]}}}).encode(),
        {},
        "video name holds the unprintable character U+0000",
    ),
    (
        "anet-score-nan",
        "a.json",
        b'{"database": {"v1": {"annotations": [{"label": "J", "segment": [1, 2], "score": NaN}]}}}',
        {},
        "not a finite number",
    ),
    # --- CSV
    ("csv-no-header", "a.csv", b"v1,Jump,1,2\n", {}, "CSV header lacks column"),
    ("csv-empty-label", "a.csv", HEADER + b"v1,,1,2\n", {}, "empty video or label"),
    ("csv-empty-video", "a.csv", HEADER + b",Jump,1,2\n", {}, "empty video or label"),
    ("csv-bad-number", "a.csv", HEADER + b"v1,Jump,one,2\n", {}, "bad number"),
    ("csv-inf", "a.csv", HEADER + b"v1,Jump,1,inf\n", {}, "not a finite number"),
    ("csv-400-digit", "a.csv", HEADER + b"v1,Jump,1," + b"9" * 400 + b"\n", {}, "characters)"),
    ("csv-200kB-field", "a.csv", HEADER + b"v1," + b"x" * 200_000 + b",1,2\n", {}, "not a readable CSV"),
    ("csv-extra-cells", "a.csv", HEADER + b"v1,Jump,1,2,9,9\n", {}, "more cells than header columns"),
    ("csv-repeated-column", "a.csv", b"video,label,start,end,label\nv1,J,1,2,K\n", {}, "repeats a column"),
    ("csv-tab-label", "a.csv", HEADER + b'v1,"Ju\tmp",1,2\n', {}, "unprintable character U+0009"),
    # --- THUMOS
    ("thumos-two-columns", "Jump.txt", b"v1 1.0\n", {"fmt": "thumos"}, "expected 'video start end'"),
    ("thumos-nan", "Jump.txt", b"v1 nan 2.0\n", {"fmt": "thumos"}, "not a finite number"),
    # --- per-frame files
    ("frames-fps-needed", "w1.txt", b"Jump\nJump\n", {"fmt": "frames"}, "w1' is needed"),
    ("frames-empty-line", "v1.txt", b"Jump\n\nJump\n", {"fmt": "frames", "fps": 25.0}, "empty label line"),
    (
        "frames-fps-zero",
        "v1.txt",
        b"Jump\n",
        {"fmt": "frames", "fps": 0.0},
        "fps must be a number in (0, 1000]",
    ),
    # --- Label Studio
    (
        "ls-annotations-string",
        "a.json",
        _ls({"id": 1, "data": {"video": "v1.mp4"}, "annotations": "all"}),
        {},
        "must be lists",
    ),
    (
        "ls-result-not-list",
        "a.json",
        _ls({"id": 1, "data": {"video": "v1.mp4", "fps": 25}, "annotations": [{"result": 5}]}),
        {},
        "'result' is not a list",
    ),
    ("ls-value-not-object", "a.json", _ls_region("HighJump"), {}, "region 'value' is not an object"),
    (
        "ls-ranges-not-list",
        "a.json",
        _ls_region({"ranges": "1-5", "timelinelabels": ["J"]}),
        {},
        "list of timelinelabels and of ranges",
    ),
    (
        "ls-range-not-object",
        "a.json",
        _ls_region({"ranges": [[1, 5]], "timelinelabels": ["J"]}),
        {},
        "a range must be an object",
    ),
    (
        "ls-range-string",
        "a.json",
        _ls_region({"ranges": [{"start": "a", "end": 5}], "timelinelabels": ["J"]}),
        {},
        "not a number",
    ),
    (
        "ls-range-zero",
        "a.json",
        _ls_region({"ranges": [{"start": 0, "end": 5}], "timelinelabels": ["J"]}),
        {},
        "1 <= start <= end",
    ),
    (
        "ls-range-reversed",
        "a.json",
        _ls_region({"ranges": [{"start": 9, "end": 5}], "timelinelabels": ["J"]}),
        {},
        "1 <= start <= end",
    ),
    (
        "ls-label-dict",
        "a.json",
        _ls_region({"ranges": [{"start": 1, "end": 5}], "timelinelabels": [{"x": 1}]}),
        {},
        "label must be text, got dict",
    ),
    (
        "ls-fps-string",
        "a.json",
        _ls({"id": 1, "data": {"video": "v1.mp4", "fps": "fast"}, "annotations": []}),
        {},
        "bad fps or duration",
    ),
    (
        "ls-score-string",
        "a.json",
        _ls_region({"ranges": [{"start": 1, "end": 5}], "timelinelabels": ["J"]}, score="high"),
        {},
        "bad score",
    ),
    ("ls-task-not-object", "a.json", b'[{"data": {"video": "v1.mp4"}}, 5]', {}, "task is not an object"),
    (
        "ls-no-video",
        "a.json",
        _ls({"id": 1, "data": {"text": "hello"}, "annotations": []}),
        {},
        "no video reference",
    ),
    (
        "ls-fps-needed",
        "a.json",
        _ls(
            {
                "id": 1,
                "data": {"video": "w1.mp4"},
                "annotations": [
                    {
                        "result": [
                            {
                                "type": "timelinelabels",
                                "value": {"ranges": [{"start": 1, "end": 2}], "timelinelabels": ["J"]},
                            }
                        ]
                    }
                ],
            }
        ),
        {},
        "the real fps of video 'w1.mp4' is needed",
    ),
    # --- WebVTT
    (
        "vtt-400-digit-hour",
        "a.vtt",
        _vtt("9" * 400 + ":00:01.000 --> 9" + "9" * 399 + ":00:02.000"),
        {},
        "bad WebVTT timestamp",
    ),
    ("vtt-minute-99", "a.vtt", _vtt("00:99:01.000 --> 00:99:02.000"), {}, "minutes and seconds go to 59"),
    ("vtt-no-header", "a.vtt", b"00:01.000 --> 00:02.000\nJump\n", {}, "missing WEBVTT header"),
    ("vtt-no-text", "a.vtt", b"WEBVTT\n\n00:01.000 --> 00:02.000\n", {}, "cue without text"),
    ("vtt-reversed", "a.vtt", _vtt("00:05.000 --> 00:02.000"), {}, "start must be before end"),
    # --- ELAN
    ("eaf-billion-laughs", "a.eaf", BILLION_LAUGHS, {}, "DTD or entities is refused"),
    ("eaf-bad-xml", "a.eaf", b"<?xml version='1.0'?><ANNOTATION_DOCUMENT><HEADER>", {}, "not valid XML"),
    ("eaf-wrong-root", "a.eaf", b"<?xml version='1.0'?><html/>", {}, "not ANNOTATION_DOCUMENT"),
    (
        "eaf-frames-units",
        "a.eaf",
        _eaf("", '<HEADER TIME_UNITS="NTSC-frames"/>'),
        {},
        "unsupported TIME_UNITS",
    ),
    (
        "eaf-unaligned",
        "a.eaf",
        _eaf(
            '<TIME_ORDER><TIME_SLOT TIME_SLOT_ID="ts1"/></TIME_ORDER><TIER TIER_ID="J"><ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a1" TIME_SLOT_REF1="ts1" TIME_SLOT_REF2="ts1"><ANNOTATION_VALUE>J</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION></TIER>'
        ),
        {},
        "time slot missing or unaligned",
    ),
    (
        "eaf-huge-time",
        "a.eaf",
        _eaf(_EAF_OK_TIER.format(a=0, b="1" + "0" * 300, tier="J", value="J")),
        {},
        "bad TIME_VALUE: not a number",
    ),
    (
        "eaf-control-ref",
        "a.eaf",
        _eaf(_EAF_OK_TIER.format(a=0, b=1000, tier="J", value="a&#x1b;[31m")),
        {},
        "not valid XML",
    ),
    (
        "eaf-label-c1-control",
        "a.eaf",
        _eaf(_EAF_OK_TIER.format(a=0, b=1000, tier="J", value="a\u0085b")),
        {},
        "unprintable character U+0085",
    ),
    # --- zips
    (
        "zip-bomb-ratio",
        "a.zip",
        _zip({"Jump.txt": b"v1 1 2\n" + b" " * 50_000_000}),
        {},
        "zip members may expand at most 100-fold",
    ),
    (
        "zip-too-many",
        "a.zip",
        _zip({f"f{i}.txt": b"v1 1 2\n" for i in range(5001)}, zipfile.ZIP_STORED),
        {},
        "a zip import takes at most 5000",
    ),
    ("zip-traversal", "a.zip", _zip({"../evil.txt": b"v1 1 2\n"}), {}, "unsafe path in zip"),
    ("zip-absolute", "a.zip", _zip({"/tmp/evil.txt": b"v1 1 2\n"}), {}, "unsafe path in zip"),
    ("zip-not-a-zip", "a.zip", b"PK\x03\x04 not really", {}, "not a readable zip file"),
    (
        "zip-bad-member",
        "a.zip",
        _zip({"Jump.txt": b"v1 1 2\nv1 x 2\n"}),
        {"fmt": "thumos"},
        "times are not numbers",
    ),
    # --- a failure in the last video leaves nothing of the earlier ones
    (
        "anet-bad-last-video",
        "a.json",
        json.dumps(
            {
                "database": {
                    **{
                        f"v{i}": {"duration": 10, "annotations": [{"label": "J", "segment": [1, 2]}]}
                        for i in range(50)
                    },
                    "v_bad": {"duration": 10, "annotations": [{"label": "J", "segment": [3, "x"]}]},
                }
            }
        ).encode(),
        {},
        "1 invalid row(s), nothing was imported",
    ),
    # --- options
    ("bad-source", "a.csv", HEADER + b"v1,Jump,1,2\n", {"source": "robot"}, "source must be one of"),
    ("bad-project-name", "a.csv", HEADER + b"v1,Jump,1,2\n", {"project": " "}, "bad project name"),
]
