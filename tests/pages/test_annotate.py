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
    at.text_input(key="annotate_label_name").input("run")
    at.color_picker(key="annotate_label_color").pick("#00ff00")
    submit = [b for b in at.button if b.label == "Add label"]
    submit[0].click().run()
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
    at.color_picker(key=f"annotate_recolor_{lab.id}").pick("#123456")
    at.button(key="annotate_recolor_apply").click().run()
    assert not at.exception, at.exception
    assert store.list_labels(project.id)[0].color.lower() == "#123456"
