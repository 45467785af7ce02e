"""The import report: every row not imported is listed with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from otcore.formats import (
    MALFORMED,
    OUTSIDE_VIDEO,
    UNKNOWN_LABEL,
    UNKNOWN_VIDEO,
    FormatError,
    VideoMeta,
    read,
)
from otcore.types import Segment

CSV = """video,label,start,end,score,source
a.mp4,Jump,1.0,2.0,,manual
a.mp4,Jump,oops,2.0,,
a.mp4,Jump,3.0,3.0,,
a.mp4,,1.0,2.0,,
a.mp4,Dance,1.0,2.0,,
b.mp4,Jump,1.0,2.0,,
a.mp4,Jump,8.0,12.0,,
a.mp4,Jump,9.0,10.04,0.5,predicted
"""


def test_csv_bad_rows_are_reported(tmp_path: Path):
    p = tmp_path / "x.csv"
    p.write_text(CSV)
    ann, rep = read(
        p,
        known_videos={"a.mp4": VideoMeta(duration=10.0, fps=25.0)},
        known_labels={"Jump"},
        on_outside="skip",
    )
    assert rep.imported == 2 and rep.clipped == 1
    assert ann["a.mp4"].segments == [Segment("Jump", 1.0, 2.0), Segment("Jump", 9.0, 10.0, 0.5)]
    assert ann["a.mp4"].sources == ["manual", "predicted"]
    by_reason = {}
    for item in rep.skipped:
        by_reason.setdefault(item.reason, []).append(item)
    assert {k: len(v) for k, v in by_reason.items()} == {
        MALFORMED: 3,
        UNKNOWN_LABEL: 1,
        UNKNOWN_VIDEO: 1,
        OUTSIDE_VIDEO: 1,
    }
    assert sorted(i.where for i in by_reason[MALFORMED]) == ["line 3", "line 4", "line 5"]
    assert by_reason[UNKNOWN_VIDEO][0].video == "b.mp4"
    assert by_reason[UNKNOWN_LABEL][0].label == "Dance"
    assert by_reason[OUTSIDE_VIDEO][0].where == "line 8"
    text = rep.summary()
    assert "imported 2 segments" in text and "label not in project: 1" in text and "line 8" in text


def test_outside_policies(tmp_path: Path):
    p = tmp_path / "x.csv"
    p.write_text("video,label,start,end\na,J,8,12\na,J,11,13\n")
    known = {"a": VideoMeta(duration=10.0)}
    # default: kept as given, flagged
    ann, rep = read(p, known_videos=known)
    assert ann["a"].segments == [Segment("J", 8, 12), Segment("J", 11, 13)] and not rep.skipped
    assert rep.flag_counts() == {OUTSIDE_VIDEO: 2, "overlaps a same-label segment": 1}
    _, rep = read(p, known_videos=known, on_outside="skip")
    assert rep.imported == 0 and rep.counts() == {OUTSIDE_VIDEO: 2}
    ann, rep = read(p, known_videos=known, on_outside="clip")
    assert ann["a"].segments == [Segment("J", 8, 10)] and rep.counts() == {OUTSIDE_VIDEO: 1}
    ann, rep = read(p, known_videos=known, on_outside="keep")
    assert len(ann["a"].segments) == 2 and not rep.skipped
    ann, rep = read(p, known_videos=known, on_outside="skip", tolerance=2.5)
    assert ann["a"].segments == [Segment("J", 8, 10)] and rep.clipped == 1


def test_thumos_malformed_lines(tmp_path: Path):
    p = tmp_path / "Jump.txt"
    p.write_text("v1 1.0 2.0\nv1 1.0\nv1 x 2\n\nv2 5 4\n")
    ann, rep = read(p, "thumos")
    assert ann["v1"].segments == [Segment("Jump", 1.0, 2.0)]
    assert rep.counts() == {MALFORMED: 3}
    assert sorted(i.where for i in rep.skipped) == ["Jump.txt:2", "Jump.txt:3", "Jump.txt:5"]


def test_unknown_video_without_segments_is_reported(tmp_path: Path):
    p = tmp_path / "a.json"
    p.write_text('{"database": {"v1": {"duration": 5, "annotations": []}}}')
    ann, rep = read(p, known_videos=["v2"])
    assert ann == {} and rep.counts() == {UNKNOWN_VIDEO: 1}


def test_errors(tmp_path: Path):
    with pytest.raises(FormatError):
        read(tmp_path / "missing.json")
    p = tmp_path / "x.json"
    p.write_text('{"foo": 1}')
    with pytest.raises(FormatError):
        read(p)
    p.write_text("not json")
    with pytest.raises(FormatError):
        read(p, "activitynet")
    q = tmp_path / "y.csv"
    q.write_text("a,b\n1,2\n")
    with pytest.raises(FormatError, match="header"):
        read(q)


def test_vtt_cues_and_bad_cues(tmp_path: Path):
    p = tmp_path / "clip.vtt"
    p.write_text(
        "WEBVTT\n\nNOTE a comment\n\n1\n00:01.000 --> 00:02.500 align:start\nJump\n\n"
        "00:00:03.000 --> 00:00:xx\nJump\n\n00:00:05.000 --> 00:00:06.000\n\nStray text\n"
    )
    ann, rep = read(p)
    assert rep.fmt == "vtt"
    assert ann["clip"].segments == [Segment("Jump", 1.0, 2.5)]
    assert sorted(i.where for i in rep.skipped) == ["clip.vtt:12", "clip.vtt:14", "clip.vtt:9"]
    assert rep.counts() == {MALFORMED: 3}


def test_labelstudio_video_references():
    from otcore.formats.labelstudio import video_name_from_url

    assert video_name_from_url("/data/local-files/?d=clips/high%20jump.mp4") == "high jump.mp4"
    assert video_name_from_url("/data/upload/3/1a2b3c4d-v_x.mp4") == "v_x.mp4"
    assert video_name_from_url("https://host/media/v_y.webm") == "v_y.webm"


def test_known_videos_accept_objects_with_duration_and_fps(tmp_path: Path):
    from types import SimpleNamespace

    p = tmp_path / "x.csv"
    p.write_text("video,label,start,end\nclip,J,1,2\nclip,J,9,12\n")
    ann, rep = read(
        p, known_videos={"clip.mp4": SimpleNamespace(duration=10.0, fps=25.0, id=3)}, on_outside="skip"
    )
    assert ann["clip.mp4"].fps == 25.0 and ann["clip.mp4"].segments == [Segment("J", 1.0, 2.0)]
    assert rep.counts() == {OUTSIDE_VIDEO: 1}
