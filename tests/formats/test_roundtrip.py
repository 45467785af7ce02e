"""Export -> import gives the same segments, for every format."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from otcore.formats import FORMATS, VideoAnnotations, VideoMeta, detect_format, read, write
from otcore.types import Segment

FPS_A = 29.97
FPS_B = 25.0


def _sample() -> dict[str, VideoAnnotations]:
    return {
        "v_alpha.mp4": VideoAnnotations(
            duration=60.0,
            fps=FPS_A,
            segments=[
                Segment("HighJump", 8.86, 15.01),
                Segment("Long Jump", 20.1234, 31.5),
                Segment("HighJump", 40.0, 59.99, score=0.75),
            ],
            sources=["manual", "corrected", "predicted"],
        ),
        "video_test_0000004": VideoAnnotations(
            duration=33.83,
            fps=FPS_B,
            segments=[Segment("CricketBowling", 0.2, 1.1), Segment("CricketShot", 1.5, 2.04)],
        ),
    }


FRAME_BASED = {"frames", "labelstudio"}


def _assert_same(a: dict[str, VideoAnnotations], b: dict[str, VideoAnnotations], fmt: str) -> None:
    assert set(a) == set(b), fmt
    for video, va in a.items():
        vb = b[video]
        tol = (1.0 / va.fps + 1e-9) if fmt in FRAME_BASED else 0.0005 + 1e-9
        sa = sorted(va.segments, key=lambda s: (s.start, s.label))
        sb = sorted(vb.segments, key=lambda s: (s.start, s.label))
        assert [s.label for s in sa] == [s.label for s in sb], (fmt, video)
        for x, y in zip(sa, sb):
            assert abs(x.start - y.start) <= tol and abs(x.end - y.end) <= tol, (fmt, video, x, y)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_export_import_roundtrip(tmp_path: Path, fmt: str):
    ann = _sample()
    target = tmp_path / {"activitynet": "a.json", "labelstudio": "ls.json", "csv": "a.csv"}.get(fmt, "out")
    written = write(ann, target, fmt)
    assert written and all(p.exists() for p in written)
    assert detect_format(target) == fmt
    # per-frame files carry no fps: the real one comes from the known videos (as from the store)
    known = {v: VideoMeta(va.duration, va.fps) for v, va in ann.items()} if fmt == "frames" else None
    back, report = read(target, "auto", known_videos=known)
    assert report.fmt == fmt and not report.skipped, report.summary()
    assert report.imported == 5
    _assert_same(ann, back, fmt)
    # durations survive where the format has room for them
    if fmt in {"activitynet", "labelstudio", "eaf", "vtt"}:
        assert back["v_alpha.mp4"].duration == pytest.approx(60.0)
        assert back["v_alpha.mp4"].fps == pytest.approx(FPS_A)
    if fmt == "frames":
        assert back["v_alpha.mp4"].duration == pytest.approx(60.0)
    if fmt in {"activitynet", "csv"}:
        assert back["v_alpha.mp4"].sources == ["manual", "corrected", "predicted"]
        assert back["v_alpha.mp4"].segments[2].score == 0.75


def test_frames_roundtrip_at_a_chosen_fps(tmp_path: Path):
    ann = _sample()
    write(ann, tmp_path / "gt", "frames", fps=15.0, background="SIL")
    lines = (tmp_path / "gt" / "video_test_0000004.txt").read_text().splitlines()
    assert len(lines) == round(33.83 * 15) and lines[0] == "SIL" and lines[3] == "CricketBowling"
    with pytest.raises(Exception, match="fps"):
        read(tmp_path / "gt", "frames", background="SIL")
    back, report = read(tmp_path / "gt", "frames", fps=15.0, background="SIL")
    assert not report.skipped
    for video, va in ann.items():
        for x, y in zip(va.segments, back[video].segments):
            assert x.label == y.label
            assert abs(x.start - y.start) <= 1 / 15 and abs(x.end - y.end) <= 1 / 15


def test_frames_overlap_warns(tmp_path: Path):
    ann = {"v": VideoAnnotations(10.0, 10.0, [Segment("a", 0, 5), Segment("b", 4, 6)])}
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        write(ann, tmp_path / "f", "frames")
    assert any("several segments" in str(x.message) for x in w)


def test_labelstudio_frames_are_one_based_inclusive(tmp_path: Path):
    import json

    ann = {"v.mp4": VideoAnnotations(10.0, 30.0, [Segment("Jump", 1.0, 2.0)])}
    write(ann, tmp_path / "ls.json", "labelstudio")
    task = json.loads((tmp_path / "ls.json").read_text())[0]
    region = task["annotations"][0]["result"][0]
    assert region["type"] == "timelinelabels"
    assert region["value"] == {"ranges": [{"start": 31, "end": 60}], "timelinelabels": ["Jump"]}
    assert task["data"] == {"video": "v.mp4", "fps": 30.0, "duration": 10.0}


def test_labelstudio_external_file_needs_real_fps(tmp_path: Path):
    import json

    from otcore.formats import FpsRequiredError, VideoMeta

    doc = [
        {
            "id": 7,
            "data": {"video": "/data/local-files/?d=clips/highjump.mp4"},
            "annotations": [
                {
                    "result": [
                        {
                            "type": "timelinelabels",
                            "value": {"ranges": [{"start": 1, "end": 61}], "timelinelabels": ["A"]},
                        }
                    ]
                }
            ],
        }
    ]
    p = tmp_path / "export.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(FpsRequiredError):
        read(p)
    ann, rep = read(p, known_videos={"highjump": VideoMeta(duration=24.0, fps=30.0)})
    assert rep.renamed == {"highjump.mp4": "highjump"}
    assert ann["highjump"].segments == [Segment("A", 0.0, 61 / 30)]
    ann, _ = read(p, fps=20.0)
    assert ann["highjump.mp4"].segments == [Segment("A", 0.0, 61 / 20)]


def test_eaf_reads_tier_labels_and_media_name(tmp_path: Path):
    xml = """<?xml version="1.0" encoding="UTF-8"?>
<ANNOTATION_DOCUMENT AUTHOR="" DATE="2020-01-01T00:00:00+00:00" FORMAT="3.0" VERSION="3.0">
  <HEADER MEDIA_FILE="" TIME_UNITS="milliseconds">
    <MEDIA_DESCRIPTOR MEDIA_URL="file:///home/x/tennis26.mp4" MIME_TYPE="video/mp4"/>
  </HEADER>
  <TIME_ORDER>
    <TIME_SLOT TIME_SLOT_ID="ts1" TIME_VALUE="1200"/>
    <TIME_SLOT TIME_SLOT_ID="ts2" TIME_VALUE="2500"/>
    <TIME_SLOT TIME_SLOT_ID="ts3"/>
  </TIME_ORDER>
  <TIER LINGUISTIC_TYPE_REF="default-lt" TIER_ID="TennisSwing">
    <ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a1" TIME_SLOT_REF1="ts1" TIME_SLOT_REF2="ts2">
      <ANNOTATION_VALUE></ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>
    <ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a2" TIME_SLOT_REF1="ts2" TIME_SLOT_REF2="ts3">
      <ANNOTATION_VALUE>x</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>
  </TIER>
  <LINGUISTIC_TYPE LINGUISTIC_TYPE_ID="default-lt" TIME_ALIGNABLE="true"/>
</ANNOTATION_DOCUMENT>
"""
    p = tmp_path / "whatever.eaf"
    p.write_text(xml)
    ann, rep = read(p)
    assert ann["tennis26.mp4"].segments == [Segment("TennisSwing", 1.2, 2.5)]
    assert rep.counts() == {"malformed row": 1}
