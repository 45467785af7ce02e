"""Review & Export page through AppTest: uncertainty order, accept/reject/adjust, export, import report."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # the ui package sits at the repository root
    sys.path.insert(0, str(REPO))

from otcore.settings import load_settings  # noqa: E402
from otcore.store import EditLog, Store  # noqa: E402
from otcore.types import Segment  # noqa: E402

PAGE = str(REPO / "pages" / "review.py")


@pytest.fixture()
def seeded(data_dir: Path):
    store = Store.from_settings(load_settings(data_dir))
    project = store.create_project("demo")
    np.save(data_dir / "ft.npy", np.arange(250) / 25.0)
    v1 = store.add_video(
        project.id, "a.mp4", "videos/a.mp4", "a" * 64, 10.0, 25.0, 250, 8, 8, frame_times_path="ft.npy"
    )
    v2 = store.add_video(
        project.id, "b.mp4", "videos/b.mp4", "b" * 64, 10.0, 25.0, 250, 8, 8, frame_times_path="ft.npy"
    )
    store.ensure_label(project.id, "jump")
    store.ensure_label(project.id, "run")
    log = EditLog(store)
    log.add_segment(v1.id, "jump", 0.0, 1.0)
    p1 = log.replace_predictions(v1.id, [Segment("jump", 2.0, 3.0, 0.9), Segment("run", 4.0, 5.0, 0.6)], "t")
    p2 = log.replace_predictions(v2.id, [Segment("run", 1.0, 2.0, 0.3), Segment("jump", 6.0, 7.0, 0.5)], "t")
    yield store, project, (v1, v2), (p1, p2)
    store.close()


def _app(project_id: int) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["project_id"] = project_id
    return at.run()


def test_proposals_lowest_confidence_first_and_next_video(seeded):
    store, project, (v1, v2), _ = seeded
    at = _app(project.id)
    assert not at.exception, at.exception
    assert "Review next: b.mp4" in at.success[0].value
    table = next(d.value for d in at.dataframe if "uncertainty" in d.value.columns)
    assert list(table["score"]) == [0.3, 0.5, 0.6, 0.9]
    assert at.selectbox(key="review_pick").value == int(table["id"].iloc[0])


def test_accept_reject_adjust(seeded):
    store, project, (v1, v2), (p1, p2) = seeded
    log = EditLog(store)
    at = _app(project.id)
    at.button(key="review_accept").click().run()  # the least certain: run [1, 2) on b.mp4
    assert not at.exception, at.exception
    assert {(s.label, s.source) for s in log.segments(v2.id)} == {("run", "corrected"), ("jump", "predicted")}
    assert at.selectbox(key="review_pick").value == p2[1]  # next least certain
    at.button(key="review_reject").click().run()
    assert [s.label for s in log.segments(v2.id)] == ["run"]
    pick = at.selectbox(key="review_pick").value
    assert pick == p1[1]
    at.number_input(key=f"review_start_{pick}").set_value(4.013)
    at.number_input(key=f"review_end_{pick}").set_value(5.51)
    at.button(key="review_adjust").click().run()
    assert not at.exception, at.exception
    seg = log.get_segment(pick)
    assert seg.source == "corrected"  # an adjusted proposal is a person's segment now
    assert (seg.start, seg.end) == (pytest.approx(4.0), pytest.approx(5.52))  # snapped to 1/25 s frames


def test_export_csv_and_import_report(seeded, tmp_path: Path):
    store, project, (v1, v2), _ = seeded
    at = _app(project.id)
    at.selectbox(key="export_format").set_value("csv").run()
    at.button(key="export_prepare").click().run()
    assert not at.exception, at.exception
    bundle = at.session_state["export_bundle"][1]  # (what it was made from, the file)
    assert bundle.filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(bundle.data.decode())))
    assert [(r["label"], float(r["start"]), float(r["end"]), r["source"]) for r in rows] == [
        ("jump", 0.0, 1.0, "manual")
    ]

    # every format exports without error
    for fmt in ("activitynet", "thumos", "frames", "labelstudio", "eaf", "vtt"):
        at.selectbox(key="export_format").set_value(fmt).run()
        at.button(key="export_prepare").click().run()
        assert not at.exception and not at.error, (fmt, [e.value for e in at.error])
        assert at.session_state["export_bundle"][1].data

    # per-frame files at a chosen rate: one line per 1/10 s of each 10 s video
    import zipfile

    at.selectbox(key="export_format").set_value("frames").run()
    at.radio(key="export_rate").set_value("a chosen rate").run()
    at.number_input(key="export_fps").set_value(10.0)
    at.button(key="export_prepare").click().run()
    assert not at.exception and not at.error
    with zipfile.ZipFile(io.BytesIO(at.session_state["export_bundle"][1].data)) as zf:
        lines = {n: zf.read(n).decode().splitlines() for n in zf.namelist()}
    a_lines = next(v for k, v in lines.items() if Path(k).name.startswith("a."))  # e.g. demo_frames/a.mp4.txt
    assert len(a_lines) == 100
    assert set(a_lines[:10]) == {"jump"} and "jump" not in a_lines[10:]

    from ui.review import import_upload

    text = (
        "video,label,start,end\n"
        "b.mp4,jump,3.0,4.0\n"  # ok
        "c.mp4,jump,1.0,2.0\n"  # unknown video
        "b.mp4,swim,1.0,2.0\n"  # label not in project
        "b.mp4,run,20.0,30.0\n"
    )  # outside the video
    report = import_upload(store, project.id, "ann.csv", text.encode())
    # stored as given: the segment past the video's end is kept and flagged, not dropped
    assert report.imported == 2
    reasons = sorted(s.reason for s in report.skipped)
    assert reasons == ["label not in project", "unknown video"]
    assert [(f.reason, f.where) for f in report.flagged] == [("times outside the video", "line 5")]
    # and through the page, the report is shown with its reasons
    at.session_state["import_report"] = report
    at.run()
    assert not at.exception
    assert any("skipped 2" in w.value for w in at.warning)
    md = " ".join(m.value for m in at.markdown)
    assert "unknown video" in md and "label not in project" in md
    assert any("times outside the video" in i.value for i in at.info)


def test_bulk_accept_and_reject_by_score(seeded):
    store, project, (v1, v2), (p1, p2) = seeded
    log = EditLog(store)
    at = _app(project.id)
    at.number_input(key="review_bulk_hi").set_value(0.55)
    at.button(key="review_bulk_accept").click().run()  # 0.9 and 0.6
    assert not at.exception, at.exception
    at.number_input(key="review_bulk_lo").set_value(0.4)
    at.button(key="review_bulk_reject").click().run()  # 0.3
    sources = {s.id: s.source for s in store.project_segments(project.id)}
    assert sources[p1[0]] == sources[p1[1]] == "corrected"
    assert p2[0] not in sources  # rejected
    assert sources[p2[1]] == "predicted"  # 0.5: left for a person
    assert [it.value for it in at.success if "Review next" in it.value][0].startswith("**Review next: b.mp4")
    assert log.can_undo(v2.id)


def test_bulk_accept_is_one_undo_step_and_export_is_never_stale(seeded):
    store, project, (v1, v2), (p1, p2) = seeded
    log = EditLog(store)
    at = _app(project.id)
    at.number_input(key="review_bulk_hi").set_value(0.55)
    at.button(key="review_bulk_accept").click().run()
    assert not at.exception, at.exception
    assert {s.source for s in log.segments(v1.id) if s.id in p1} == {"corrected"}
    at.button(key="review_bulk_undo").click().run()
    assert not at.exception, at.exception
    assert {s.source for s in log.segments(v1.id) if s.id in p1} == {"predicted"}  # both back at once
    # an export made for one format is not offered after the format changed
    at.selectbox(key="export_format").set_value("csv").run()
    at.button(key="export_prepare").click().run()
    assert len(at.get("download_button")) == 1
    at.selectbox(key="export_format").set_value("vtt").run()
    assert not at.get("download_button")
    assert any("prepare it again" in c.value for c in at.caption)


def test_keyboard_review_next_accept_reject(seeded):
    store, project, (v1, v2), (p1, p2) = seeded
    log = EditLog(store)
    at = _app(project.id)
    first = at.selectbox(key="review_pick").value
    at.button(key="review_next").click().run()
    second = at.selectbox(key="review_pick").value
    assert second != first
    at.button(key="review_prev").click().run()
    assert at.selectbox(key="review_pick").value == first
    at.button(key="review_accept").click().run()
    assert not at.exception, at.exception
    assert log.get_segment(first).source == "corrected"
    assert at.selectbox(key="review_pick").value != first  # moved on to the next one
    nxt = at.selectbox(key="review_pick").value
    at.button(key="review_reject").click().run()
    assert log.get_segment(nxt).status == "rejected"
