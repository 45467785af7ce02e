"""Import real annotation files from ``../shared/data`` and export them back without loss."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from otcore.formats import OUTSIDE_VIDEO, VideoMeta, read, segment_multiset, write
from otcore.formats.model import EMPTY


def _json_multiset(path: Path, ndigits: int = 3) -> tuple[Counter, Counter, dict[str, float]]:
    """Independent parse: (valid segments, zero-length segments, durations) of an ActivityNet file."""
    doc = json.loads(path.read_text())
    db = doc.get("database", doc)
    good, empty = Counter(), Counter()
    durations = {}
    for vid, v in db.items():
        durations[vid] = float(v.get("duration", v.get("duration_second")))
        for a in v["annotations"]:
            s, e = (float(x) for x in a["segment"])
            key = (vid, a["label"], round(s, ndigits), round(e, ndigits))
            (good if e > s else empty)[key] += 1
    return good, empty, durations


def _roundtrip(ann, tmp_path: Path, fmt: str, name: str, **kw):
    target = tmp_path / name
    write(ann, target, fmt, **kw)
    back, report = read(target, fmt, fps=kw.get("fps"), on_outside="keep")
    assert not report.skipped, report.summary()
    return back


def test_thumos_json_import_and_export_back(shared_data: Path, tmp_path: Path):
    path = shared_data / "thumos14" / "thumos14.json"
    good, empty, durations = _json_multiset(path)
    ann, report = read(path, on_outside="keep")
    assert report.fmt == "activitynet" and not report.skipped and not empty
    assert segment_multiset(ann) == good and report.imported == sum(good.values()) == 6365
    assert {v: va.duration for v, va in ann.items()} == durations
    # default import keeps the 30 instances annotated beyond the end of their video, and flags them
    _, rep = read(path)
    assert rep.imported == 6365 and not rep.skipped
    assert rep.flag_counts()[OUTSIDE_VIDEO] == 30
    # with --on-outside skip they are reported as skipped instead
    ann_checked, rep = read(path, on_outside="skip")
    assert rep.counts() == {OUTSIDE_VIDEO: 30}
    assert rep.imported + 30 == 6365 and {s.video for s in rep.skipped} >= {"video_test_0000270"}
    # every seconds-based format reproduces the set to the millisecond
    for fmt, name in [
        ("activitynet", "a.json"),
        ("csv", "a.csv"),
        ("thumos", "txt"),
        ("eaf", "eaf"),
        ("vtt", "vtt"),
    ]:
        back = _roundtrip(ann, tmp_path, fmt, name)
        assert segment_multiset(back) == good, fmt
    # Label Studio stores frames at each video's real fps (from the file: 30, 29.97, 25, 24)
    back = _roundtrip(ann, tmp_path, "labelstudio", "ls.json")
    assert sum(len(v.segments) for v in back.values()) == 6365
    for vid, va in ann.items():
        one_frame = 1.0 / va.fps + 1e-9
        for x, y in zip(va.segments, back[vid].segments):
            assert (
                x.label == y.label and abs(x.start - y.start) <= one_frame and abs(x.end - y.end) <= one_frame
            )


def test_activitynet_bsn_import_and_export_back(shared_data: Path, tmp_path: Path):
    path = shared_data / "activitynet13" / "anet_anno_action.json"
    good, empty, durations = _json_multiset(path, ndigits=6)
    ann, report = read(path, on_outside="keep")
    # the only rows not imported as segments are the zero-length ones: kept as metadata, flagged
    assert not report.skipped and sum(empty.values()) == 12
    assert report.flag_counts()[EMPTY] == 12
    assert segment_multiset(ann, 6) == good
    assert len(ann) == 19228 and {v: va.duration for v, va in ann.items()} == durations
    for fmt, name, kw in [
        ("activitynet", "a.json", {}),
        ("activitynet", "bsn.json", {"style": "bsn"}),
        ("csv", "a.csv", {}),
    ]:
        back = _roundtrip(ann, tmp_path, fmt, name, **kw)
        assert segment_multiset(back, 6) == good, fmt
        if fmt == "activitynet":  # videos without annotations survive too
            assert len(back) == 19228
            assert {v: va.duration for v, va in back.items()} == durations
    back = _roundtrip(ann, tmp_path, "thumos", "txt")
    assert segment_multiset(back, 6) == good
    # --on-outside skip clips the rounding-level overruns and reports the real ones
    _, rep = read(path, on_outside="skip")
    assert rep.clipped > 0 and rep.counts().get(OUTSIDE_VIDEO, 0) < 10


def test_official_thumos_txt_folder(shared_data: Path, tmp_path: Path):
    folder = shared_data / "thumos14" / "official_txt"
    ann, report = read(folder)
    assert report.fmt == "thumos" and not report.skipped
    # independent count of the instance lines
    files = [p for p in folder.rglob("*.txt") if not p.name.lower().startswith("readme")]
    n_lines = sum(1 for p in files for ln in p.read_text().splitlines() if ln.strip())
    assert report.imported == n_lines
    labels = {s.label for va in ann.values() for s in va.segments}
    assert "HighJump" in labels and "Ambiguous" in labels and not any(lb.endswith("_test") for lb in labels)
    original = segment_multiset(ann)
    for fmt, name in [("thumos", "txt"), ("activitynet", "a.json"), ("csv", "a.csv")]:
        back = _roundtrip(ann, tmp_path, fmt, name)
        assert segment_multiset(back) == original, fmt
    # a single class file reads too
    one = folder / "thumos14" / "annotations" / "original" / "annotations_test" / "HighJump_test.txt"
    a1, r1 = read(one)
    assert r1.fmt == "thumos" and {s.label for va in a1.values() for s in va.segments} == {"HighJump"}
    assert a1["video_test_0000188"].segments[0].start == pytest.approx(14.0)


def test_breakfast_ground_truth_frames(shared_data: Path, tmp_path: Path):
    folder = shared_data / "breakfast_cte" / "dummy_data" / "groundTruth"
    ann, report = read(folder, fps=15.0, background="SIL")
    assert report.fmt == "frames" and not report.skipped and len(ann) == 5
    for f in folder.iterdir():
        lines = f.read_text().splitlines()
        va = ann[f.name]
        assert va.duration == pytest.approx(len(lines) / 15.0)
        covered = sum(round((s.end - s.start) * 15) for s in va.segments)
        assert covered == sum(1 for ln in lines if ln.strip() != "SIL")
    write(ann, tmp_path / "gt", "frames", fps=15.0, background="SIL", extension="")
    for f in folder.iterdir():
        assert (tmp_path / "gt" / f.name).read_text().split() == f.read_text().split()


def test_known_videos_match_by_stem(shared_data: Path):
    path = shared_data / "thumos14" / "thumos14.json"
    known = {"video_test_0000004.mp4": VideoMeta(duration=33.83, fps=30.0)}
    ann, rep = read(path, known_videos=known)
    assert list(ann) == ["video_test_0000004.mp4"]
    assert rep.renamed == {"video_test_0000004": "video_test_0000004.mp4"}
    assert rep.counts()["unknown video"] == 6365 - len(ann["video_test_0000004.mp4"].segments)
