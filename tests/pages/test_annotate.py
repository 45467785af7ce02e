"""Annotate page through Streamlit's AppTest (the component's browser side is tested in tests/e2e)."""

from __future__ import annotations

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

PAGE = str(REPO / "pages" / "annotate.py")
TIMES = np.arange(200) / 25.0


@pytest.fixture()
def seeded(data_dir: Path):
    store = Store.from_settings(load_settings(data_dir))
    project = store.create_project("demo")
    np.save(data_dir / "ft.npy", TIMES)
    video = store.add_video(
        project.id, "clip.mp4", "videos/clip.mp4", "a" * 64, 8.0, 25.0, 200, 8, 8, frame_times_path="ft.npy"
    )
    store.ensure_label(project.id, "jump", "#ff0000")
    yield store, project, video
    store.close()


def _run(project_id: int | None = None, state: dict | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    if project_id is not None:
        at.session_state["project_id"] = project_id
    for k, v in (state or {}).items():
        at.session_state[k] = v
    return at.run()


def test_without_project_says_so(data_dir: Path):
    Store.from_settings(load_settings(data_dir)).close()
    at = _run()
    assert not at.exception
    assert "No project yet" in at.info[0].value


def test_page_lists_segments_and_every_shortcut(seeded):
    store, project, video = seeded
    log = EditLog(store)
    log.add_segment(video.id, "jump", 1.0, 2.0)
    log.replace_predictions(video.id, [Segment("jump", 4.0, 5.0, 0.42)], "test")
    at = _run(project.id)
    assert not at.exception, at.exception
    assert at.title[0].value == "Annotate"
    seg = next(d.value for d in at.dataframe if "first frame" in d.value.columns)
    assert list(seg["source"]) == ["manual", "predicted"]
    assert list(seg["first frame"]) == [25, 100] and list(seg["last frame"]) == [49, 124]
    from ui.timeline import SHORTCUTS

    table = at.table[0].value
    assert list(table["key"]) == [k for k, _ in SHORTCUTS]
    assert {"i", "o", "s", "m", "a", "r", "Ctrl+Z"} <= set(table["key"])


def test_component_event_is_applied_once_and_undo_button_works(seeded):
    store, project, video = seeded
    key = f"timeline-{video.id}"
    value = {
        "video_id": video.id,
        "events": [
            {"id": "ev-1", "op": "add", "video_id": video.id, "label": "jump", "start": 1.01, "end": 2.49}
        ],
    }
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["project_id"] = project.id
    at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    segs = EditLog(store).segments(video.id)
    assert [(s.label, s.start, s.end) for s in segs] == [("jump", 1.0, 2.48)]  # snapped to 1/25 s frames
    at.run()  # a rerun with the same component value applies nothing new
    assert len(EditLog(store).segments(video.id)) == 1
    at.button(key="annotate_undo").click().run()
    assert not at.exception
    assert EditLog(store).segments(video.id) == []
    at.button(key="annotate_redo").click().run()
    assert len(EditLog(store).segments(video.id)) == 1


def test_add_label_with_colour(seeded):
    store, project, video = seeded
    at = _run(project.id)
    at.text_input(key="labels_new_name").input("run")
    at.color_picker(key="labels_new_color").pick("#00ff00")
    at.button(key="labels_add").click().run()
    assert not at.exception, at.exception
    labels = {lab.name: lab.color for lab in store.list_labels(project.id)}
    assert labels.get("run", "").lower() == "#00ff00"


def test_edit_segment_by_numbers_and_recolour_label(seeded):
    store, project, video = seeded
    log = EditLog(store)
    sid = log.add_segment(video.id, "jump", 1.0, 2.0)
    at = _run(project.id)
    at.number_input(key=f"annotate_edit_start_{sid}").set_value(1.13)
    at.number_input(key=f"annotate_edit_end_{sid}").set_value(3.01)
    at.button(key="annotate_edit_save").click().run()
    assert not at.exception, at.exception
    seg = log.get_segment(sid)
    assert (seg.start, seg.end) == (pytest.approx(1.12), pytest.approx(3.0))  # snapped to 1/25 s frames
    lab = store.list_labels(project.id)[0]
    at.color_picker(key=f"labels_color_{lab.id}").pick("#123456").run()
    assert not at.exception, at.exception
    assert store.list_labels(project.id)[0].color.lower() == "#123456"


def test_new_labels_get_distinct_colours_rename_reorder_delete_undo(seeded):
    store, project, video = seeded
    log = EditLog(store)
    log.add_segment(video.id, "jump", 1.0, 2.0)
    at = _run(project.id)
    for name in ("run", "fall"):
        at.text_input(key="labels_new_name").input(name)
        at.button(key="labels_add").click().run()
        assert not at.exception, at.exception
    colours = [lab.color.upper() for lab in store.list_labels(project.id)]
    assert len(set(colours)) == 3, colours
    jump = store.list_labels(project.id)[0]
    at.text_input(key=f"labels_name_{jump.id}").input("leap").run()
    assert [lab.name for lab in store.list_labels(project.id)] == ["leap", "run", "fall"]
    assert log.segments(video.id)[0].label == "leap"
    at.button(key=f"labels_down_{jump.id}").click().run()
    assert [lab.name for lab in store.list_labels(project.id)] == ["run", "leap", "fall"]
    at.button(key=f"labels_delete_{jump.id}").click().run()
    assert not at.exception, at.exception
    assert [lab.name for lab in store.list_labels(project.id)] == ["run", "fall"]
    assert log.segments(video.id) == []
    assert any("deleted with its 1 segments" in s.value for s in at.success)
    at.button(key="labels_undo_delete").click().run()
    assert [lab.name for lab in store.list_labels(project.id)] == ["run", "leap", "fall"]
    assert [s.label for s in log.segments(video.id)] == ["leap"]


def test_url_video_wins_and_page_undo_reflects_the_latest_edit(seeded):
    store, project, video = seeded
    other = store.add_video(project.id, "b.mp4", "videos/b.mp4", "b" * 64, 8.0, 25.0, 200, 8, 8)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["project_id"] = project.id
    at.query_params["video"] = str(other.id)
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="annotate_video").value == other.id
    key = f"timeline-{other.id}"
    at.session_state[key] = {
        "video_id": other.id,
        "events": [
            {"id": "e1", "op": "add", "video_id": other.id, "label": "jump", "start": 1.0, "end": 2.0}
        ],
    }
    at.run()
    assert not at.button(key="annotate_undo").disabled  # the edit of this very run already counts


def test_a_mark_over_a_same_label_segment_announces_the_merge(seeded):
    store, project, video = seeded
    log = EditLog(store)
    log.add_segment(video.id, "jump", 1.0, 3.0)
    key = f"timeline-{video.id}"
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["project_id"] = project.id
    at.session_state[key] = {
        "video_id": video.id,
        "events": [
            {"id": "m1", "op": "add", "video_id": video.id, "label": "jump", "start": 2.0, "end": 5.0}
        ],
    }
    at.run()
    assert not at.exception, at.exception
    assert any("merged into jump [1.000, 5.000)" in i.value for i in at.info), [i.value for i in at.info]
    (seg,) = log.segments(video.id)
    assert (seg.start, seg.end) == (1.0, 5.0)
    assert log.undo(video.id) is not None
    assert [(s.start, s.end) for s in log.segments(video.id)] == [(1.0, 3.0)]
