"""Round trips of real files through the store: import then export in the same format gives the
same content back (seconds to 0.1 ms, frame formats frame for frame), metadata included; and the
frame formats follow the frames PyAV itself decodes from a real video."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from otcore.formats import read
from otcore.store import EditLog, Store
from otcore.transfer import export_from_store, import_into_store

TOL = 1e-4  # 0.1 ms


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    st = Store(f"sqlite:///{tmp_path / 'data' / 'otstudio.db'}", data_dir=tmp_path / "data")
    yield st
    st.close()


def _segments(ann) -> list[tuple[str, str, float, float]]:
    return sorted((v, s.label, s.start, s.end) for v, va in ann.items() for s in va.segments)


def _close(a, b, tol: float = TOL) -> bool:
    return len(a) == len(b) and all(
        x[:2] == y[:2] and abs(x[2] - y[2]) <= tol and abs(x[3] - y[3]) <= tol
        for x, y in zip(a, b, strict=True)
    )


def test_thumos14_json_comes_back_identical(store: Store, shared_data: Path, tmp_path: Path):
    src = shared_data / "thumos14" / "thumos14.json"
    report = import_into_store(store, src, "th")
    assert report.imported == 6365 and report.videos == 412 and not report.skipped
    assert report.flag_counts() == {"times outside the video": 30, "overlaps a same-label segment": 8}
    out = tmp_path / "th.json"
    export_from_store(store, "th", out, "activitynet")
    assert json.loads(out.read_text()) == json.loads(src.read_text())  # subset, fps, label_id, ... kept
    # importing it again adds nothing
    again = import_into_store(store, out, "th")
    assert again.imported == 0 and again.counts() == {"already in project": 6365}


def test_activitynet13_comes_back_identical(store: Store, shared_data: Path, tmp_path: Path):
    src = shared_data / "activitynet13" / "anet_anno_action.json"
    report = import_into_store(store, src, "anet")
    assert report.videos_created == 19228 and report.imported == 22140 and not report.skipped
    assert report.flag_counts()["zero-length annotation, kept as metadata"] == 12
    out = tmp_path / "anet.json"
    export_from_store(store, "anet", out, "activitynet")
    assert json.loads(out.read_text()) == json.loads(src.read_text())  # BSN style, duration_frame, ...


def test_official_thumos_txt_come_back(store: Store, shared_data: Path, tmp_path: Path):
    folder = (
        shared_data
        / "thumos14"
        / "official_txt"
        / "thumos14"
        / "annotations"
        / "original"
        / "annotations_test"
    )
    report = import_into_store(store, folder, "official", "thumos")
    assert not report.skipped and report.imported > 3000
    out = tmp_path / "txt"
    written = export_from_store(store, "official", out, "thumos")
    originals = sorted(p.name for p in folder.glob("*.txt") if p.name != "readme.txt")
    assert sorted(p.name for p in written) == originals  # HighJump_test.txt, ...
    for name in originals:
        a = [ln.split() for ln in (folder / name).read_text().splitlines() if ln.strip()]
        b = [ln.split() for ln in (out / name).read_text().splitlines() if ln.strip()]
        assert [x[0] for x in a] == [y[0] for y in b], name
        assert all(
            abs(float(x[i]) - float(y[i])) <= TOL for x, y in zip(a, b, strict=True) for i in (1, 2)
        ), name


def test_per_frame_files_at_30_fps_come_back_frame_for_frame(store: Store, shared_data: Path, tmp_path: Path):
    folder = shared_data / "breakfast_cte" / "dummy_data" / "groundTruth"
    files = sorted(p for p in folder.iterdir() if p.is_file())
    assert files
    report = import_into_store(store, folder, "bf", "frames", fps=30.0, background="SIL")
    assert not report.skipped
    out = tmp_path / "frames"
    export_from_store(store, "bf", out, "frames", fps=30.0, background="SIL")
    for f in files:
        back = out / f.name  # files without extension come back without one
        assert back.read_text().splitlines() == [ln.strip() for ln in f.read_text().splitlines()], f.name


@pytest.mark.parametrize("fmt", ["labelstudio", "eaf", "vtt", "csv"])
def test_other_formats_round_trip_through_the_store(
    store: Store, shared_data: Path, tmp_path: Path, fmt: str
):
    """thumos14.json -> store -> FMT -> a second project -> FMT: the same file twice, and the
    segments of the original to 0.1 ms (Label Studio: a segment covers the frames whose own
    timestamp lies inside it, so its bounds move to the next frame start: less than one frame)."""
    src = shared_data / "thumos14" / "thumos14.json"
    import_into_store(store, src, "a")
    first = tmp_path / ("one" + (".json" if fmt == "labelstudio" else ".csv" if fmt == "csv" else ""))
    export_from_store(store, "a", first, fmt)
    report = import_into_store(store, first, "b", fmt)
    assert not report.skipped, report.summary()
    second = tmp_path / ("two" + first.suffix)
    export_from_store(store, "b", second, fmt)
    if first.is_dir():
        names = sorted(p.name for p in first.iterdir())
        assert names == sorted(p.name for p in second.iterdir())
        assert all((first / n).read_text() == (second / n).read_text() for n in names)
    else:
        assert first.read_text() == second.read_text()
    original, _ = read(src)
    back, _ = read(second, fmt, known_videos={v: va for v, va in original.items()})
    a, b = _segments(original), _segments(back)
    if fmt == "labelstudio":
        fps = {v: va.fps for v, va in original.items()}
        assert len(a) == len(b) and all(
            x[:2] == y[:2] and -1e-9 <= y[2] - x[2] < 1 / fps[x[0]] and -1e-9 <= y[3] - x[3] < 1 / fps[x[0]]
            for x, y in zip(a, b, strict=True)
        )
    else:
        assert _close(a, b)


def _pyav_times(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        pts = [f.pts for f in c.decode(s)]
        base = float(s.time_base)
    arr = np.asarray(sorted(pts), dtype=np.float64)
    return (arr - arr[0]) * base


def test_real_video_frames_follow_pyav_decode(shared_data: Path, tmp_path: Path, data_dir: Path):
    """highjump.mp4: PyAV decodes 726 frames; the per-frame export has 726 lines, a segment on
    frames 268-456 is exported on exactly those lines, and Label Studio says 269-457 (1-based)."""
    from otcore.formats.frames import frame_span
    from otcore.service import add_video
    from otcore.settings import load_settings

    video_file = shared_data / "clips_labeled" / "highjump.mp4"
    decoded = _pyav_times(video_file)
    assert len(decoded) == 726
    settings = load_settings(data_dir)
    st = Store.from_settings(settings)
    try:
        project = st.ensure_project("hj")
        video = add_video(st, settings, project.id, video_file, extract=False).video
        times = st.frame_times(video.id)
        np.testing.assert_allclose(times, decoded, atol=1e-6)  # the one frame truth
        seg_id = EditLog(st).add_segment(video.id, "HighJump", float(times[268]), float(times[457]))
        seg = EditLog(st).get_segment(seg_id)
        assert frame_span(times, seg.start, seg.end) == (268, 457)  # the Annotate table: frames 268..456
        out = tmp_path / "frames"
        (path,) = export_from_store(st, "hj", out, "frames")
        lines = path.read_text().splitlines()
        expected = ["HighJump" if seg.start <= t < seg.end else "background" for t in decoded]
        assert len(lines) == 726 and lines == expected
        assert [i for i, x in enumerate(lines) if x == "HighJump"] == list(range(268, 457))
        ls = tmp_path / "ls.json"
        export_from_store(st, "hj", ls, "labelstudio")
        (task,) = json.loads(ls.read_text())
        (region,) = task["annotations"][0]["result"]
        assert region["value"]["ranges"] == [{"start": 269, "end": 457}]
        # and both come back to the same seconds in a second project with the same video
        p2 = st.ensure_project("hj2")
        add_video(st, settings, p2.id, video_file, extract=False)
        report = import_into_store(st, out, "hj2", "frames")
        assert report.videos_created == 0 and report.imported == 1, report.summary()
        report = import_into_store(st, ls, "hj2", "labelstudio")  # the very same seconds
        assert report.imported == 0 and report.counts() == {"already in project": 1}, report.summary()
        got = EditLog(st).project_segments(p2.id)
        assert {(s.start, s.end) for s in got} == {(seg.start, seg.end)}
    finally:
        st.close()
