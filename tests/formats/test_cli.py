"""``otstudio import`` / ``otstudio export`` against a real store in a temporary data dir."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from otcore.formats import VideoAnnotations, VideoMeta, read, write
from otcore.transfer import ABSENT_STATUS, export_main, import_main
from otcore.types import Segment

store_mod = pytest.importorskip("otcore.store")
if not hasattr(store_mod, "EditLog"):
    pytest.skip("otcore.store has no Store/EditLog yet", allow_module_level=True)

N_VIDEOS = 12


def _thumos_subset(shared_data: Path, tmp_path: Path) -> tuple[Path, dict]:
    db = json.loads((shared_data / "thumos14" / "thumos14.json").read_text())["database"]
    names = sorted(db)[:N_VIDEOS]
    doc = {"version": "thumos14 subset", "database": {n: db[n] for n in names}}
    p = tmp_path / "thumos_subset.json"
    p.write_text(json.dumps(doc))
    return p, doc["database"]


def _store(data_dir: Path):
    from otcore.settings import load_settings

    return store_mod.Store.from_settings(load_settings(data_dir))


def test_import_creates_project_and_videos_then_exports_every_format(
    shared_data: Path, tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
):
    src, db = _thumos_subset(shared_data, tmp_path)
    n_segments = sum(len(v["annotations"]) for v in db.values())
    assert import_main([str(src), "--project", "th", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert f"imported {n_segments} segments in {N_VIDEOS} videos" in out

    store = _store(data_dir)
    try:
        proj = store.get_project("th")
        assert proj is not None
        videos = store.list_videos(proj.id)
        assert sorted(v.filename for v in videos) == sorted(db)
        for v in videos:
            assert v.status == ABSENT_STATUS and v.duration == pytest.approx(db[v.filename]["duration"])
            assert v.fps == pytest.approx(db[v.filename]["fps"])
    finally:
        store.close()

    # importing the same file again adds nothing
    assert import_main([str(src), "--project", "th", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "imported 0 segments" in out and f"already in project: {n_segments}" in out

    original, _ = read(src)
    for fmt, name in [
        ("activitynet", "a.json"),
        ("thumos", "txt"),
        ("csv", "a.csv"),
        ("frames", "frames"),
        ("labelstudio", "ls.json"),
        ("eaf", "eaf"),
        ("vtt", "vtt"),
    ]:
        target = tmp_path / "export" / name
        argv = ["--project", "th", "--format", fmt, "--out", str(target), "--data-dir", str(data_dir)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # per-frame files warn about overlapping instances
            assert export_main(argv) == 0
        # per-frame files carry no fps: the real one comes from the known videos
        known_meta = (
            {v: VideoMeta(va.duration, va.fps) for v, va in original.items()} if fmt == "frames" else None
        )
        back, rep = read(target, fmt, known_videos=known_meta)
        assert not rep.skipped, (fmt, rep.summary())
        for vid, va in original.items():
            one_frame = 1.0 / va.fps + 1e-6  # the store snaps times to the video's frames
            a = sorted(va.segments, key=lambda s: (s.start, s.label))
            b = sorted(back[vid].segments, key=lambda s: (s.start, s.label))
            if fmt == "frames":  # per-frame files cannot hold overlapping instances
                assert {s.label for s in b} <= {s.label for s in a}
                continue
            assert [s.label for s in a] == [s.label for s in b], (fmt, vid)
            for x, y in zip(a, b):
                assert abs(x.start - y.start) <= one_frame and abs(x.end - y.end) <= one_frame, (
                    fmt,
                    vid,
                    x,
                    y,
                )
    capsys.readouterr()


def test_import_matches_existing_videos_and_reports(tmp_path: Path, data_dir: Path, capsys):
    store = _store(data_dir)
    try:
        proj = store.create_project("p")
        store.add_video(proj.id, "clip.mp4", "videos/clip.mp4", "0" * 64, 10.0, 25.0, 250, 320, 240)
        store.ensure_label(proj.id, "Jump")
    finally:
        store.close()
    ann = {
        "clip": VideoAnnotations(
            10.0, None, [Segment("Jump", 1.0, 2.0), Segment("Dance", 3.0, 4.0), Segment("Jump", 9.5, 11.0)]
        ),
        "other": VideoAnnotations(5.0, None, [Segment("Jump", 0.0, 1.0)]),
    }
    src = tmp_path / "in.csv"
    write(ann, src, "csv")
    argv = [str(src), "--project", "p", "--data-dir", str(data_dir), "--strict-labels", "--no-create-videos"]
    argv += ["--on-outside", "skip"]  # the default keeps segments past the video (flagged)
    assert import_main(argv) == 0
    out = capsys.readouterr().out
    assert "imported 1 segments in 1 videos" in out
    assert (
        "label not in project: 1" in out and "unknown video: 1" in out and "times outside the video: 1" in out
    )
    target = tmp_path / "out.csv"
    assert (
        export_main(["--project", "p", "--format", "csv", "--out", str(target), "--data-dir", str(data_dir)])
        == 0
    )
    rows = target.read_text().splitlines()
    assert rows == ["video,label,start,end,score,source", "clip.mp4,Jump,1.0,2.0,,manual"]


def test_cli_errors(tmp_path: Path, data_dir: Path, capsys):
    bad = tmp_path / "x.json"
    bad.write_text('{"foo": 1}')
    assert import_main([str(bad), "--project", "p", "--data-dir", str(data_dir)]) == 1
    assert "neither" in capsys.readouterr().err
    assert (
        export_main(
            [
                "--project",
                "nope",
                "--format",
                "csv",
                "--out",
                str(tmp_path / "o.csv"),
                "--data-dir",
                str(data_dir),
            ]
        )
        == 1
    )
    with pytest.raises(SystemExit):
        import_main(["--project", "p"])


def test_sources_and_scores_survive_import_and_export(tmp_path: Path, data_dir: Path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("video,label,start,end,score,source\nv1,A,1.0,2.0,,manual\nv1,A,3.0,4.0,0.25,predicted\n")
    # a video known only by name: no duration, no fps, so times stay as given
    assert import_main([str(src), "--project", "q", "--data-dir", str(data_dir)]) == 0
    out = tmp_path / "out.csv"
    assert (
        export_main(["--project", "q", "--format", "csv", "--out", str(out), "--data-dir", str(data_dir)])
        == 0
    )
    assert out.read_text().splitlines()[1:] == ["v1,A,1.0,2.0,,manual", "v1,A,3.0,4.0,0.25,predicted"]
    only = tmp_path / "only.csv"
    argv = [
        "--project",
        "q",
        "--format",
        "csv",
        "--out",
        str(only),
        "--data-dir",
        str(data_dir),
        "--sources",
        "manual",
    ]
    assert export_main(argv) == 0
    assert only.read_text().splitlines()[1:] == ["v1,A,1.0,2.0,,manual"]
    # --source forces the source of everything imported
    assert (
        import_main([str(src), "--project", "r", "--data-dir", str(data_dir), "--source", "predicted"]) == 0
    )
    out2 = tmp_path / "out2.csv"
    assert (
        export_main(["--project", "r", "--format", "csv", "--out", str(out2), "--data-dir", str(data_dir)])
        == 0
    )
    assert [r.split(",")[-1] for r in out2.read_text().splitlines()[1:]] == ["predicted", "predicted"]
    capsys.readouterr()
