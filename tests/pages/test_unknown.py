"""Unknown actions through AppTest: the Annotate timeline's lane, the Review list, "New label from span"."""

from __future__ import annotations

import json
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
from tests.unknown_scores import two_videos_scores, write_scores  # noqa: E402

ANNOTATE = str(REPO / "pages" / "annotate.py")
REVIEW = str(REPO / "pages" / "review.py")


@pytest.fixture()
def seeded(data_dir: Path):
    settings = load_settings(data_dir)
    store = Store.from_settings(settings)
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
    EditLog(store).add_segment(v1.id, "jump", 0.0, 1.0)
    yield store, settings, project, (v1, v2)
    store.close()


def _app(page: str, project_id: int, state: dict | None = None) -> AppTest:
    at = AppTest.from_file(page, default_timeout=60)
    at.session_state["project_id"] = project_id
    for k, v in (state or {}).items():
        at.session_state[k] = v
    return at.run()


def _lane(at: AppTest) -> dict | None:
    """The ``unknown`` argument the page passed to the timeline component."""
    (comp,) = at.get("component_instance")
    return json.loads(comp.proto.json_args).get("unknown")


def test_annotate_lane_shades_spans_above_the_threshold(seeded):
    store, settings, project, (v1, v2) = seeded
    at = _app(ANNOTATE, project.id, {"annotate_video": v2.id})
    assert not at.exception, at.exception
    assert _lane(at) is None  # nothing scored yet: no lane
    aid = write_scores(store, settings, project.id, dict(zip((v1.id, v2.id), two_videos_scores())), 0.5)
    at = _app(ANNOTATE, project.id, {"annotate_video": v2.id})
    assert not at.exception, at.exception
    lane = _lane(at)
    assert lane["threshold"] == 0.5
    assert [(s["start"], s["end"]) for s in lane["spans"]] == [(5.0, 6.5), (8.0, 9.0)]
    # the threshold is adjustable: above 0.6 only the strongest span stays
    at.number_input(key=f"annotate_unknown_thr_{aid}").set_value(0.6).run()
    assert not at.exception, at.exception
    assert [(s["start"], s["end"]) for s in _lane(at)["spans"]] == [(5.0, 6.5)]
    # video a: the high stretch over its jump mark [0, 1) s is not unknown
    at = _app(ANNOTATE, project.id, {"annotate_video": v1.id})
    assert [(s["start"], s["end"]) for s in _lane(at)["spans"]] == [(3.0, 5.0)]


def test_annotate_new_label_from_a_span_of_the_video(seeded):
    store, settings, project, (v1, v2) = seeded
    write_scores(store, settings, project.id, dict(zip((v1.id, v2.id), two_videos_scores())), 0.5)
    at = _app(ANNOTATE, project.id, {"annotate_video": v2.id})
    at.selectbox(key=f"annotate_unknown_pick_{v2.id}").set_value(1)  # [8, 9) s
    at.text_input(key="annotate_unknown_name").set_value("wave")
    at.button(key="annotate_unknown_new").click().run()
    assert not at.exception, at.exception
    segs = EditLog(store).segments(v2.id)
    assert [(s.label, s.start, s.end, s.source) for s in segs] == [("wave", 8.0, 9.0, "manual")]
    assert [(s["start"], s["end"]) for s in _lane(at)["spans"]] == [(5.0, 6.5)]
    assert any("new label **wave**" in s.value for s in at.success)
    # undo (the page's button) removes the mark
    at.button(key="annotate_undo").click().run()
    assert EditLog(store).segments(v2.id) == []


def test_review_lists_strongest_spans_and_makes_a_label(seeded):
    store, settings, project, (v1, v2) = seeded
    at = _app(REVIEW, project.id)
    assert not at.exception, at.exception
    assert any("No unknown-action scores yet" in i.value for i in at.info)
    write_scores(store, settings, project.id, dict(zip((v1.id, v2.id), two_videos_scores())), 0.5)
    at = _app(REVIEW, project.id)
    assert not at.exception, at.exception
    table = next(d.value for d in at.dataframe if "peak" in d.value.columns)
    assert list(zip(table["video"], table["start (s)"], table["end (s)"])) == [
        ("b.mp4", 5.0, 6.5),
        ("a.mp4", 3.0, 5.0),
        ("b.mp4", 8.0, 9.0),
    ]
    assert list(table["score"]) == sorted(table["score"], reverse=True)
    # a duplicate name: a clear message, nothing stored
    at.text_input(key="review_unknown_name").set_value("Run")
    at.button(key="review_unknown_new").click().run()
    assert not at.exception, at.exception
    assert any("label named 'run' already" in e.value for e in at.error)
    assert EditLog(store).segments(v2.id) == []
    # the strongest span becomes label "spin" with it as its first mark
    at.text_input(key="review_unknown_name").set_value("spin")
    at.button(key="review_unknown_new").click().run()
    assert not at.exception, at.exception
    (seg,) = EditLog(store).segments(v2.id)
    assert (seg.label, seg.start, seg.source) == ("spin", 5.0, "manual")
    assert "spin" in [x.name for x in store.list_labels(project.id)]
    table = next(d.value for d in at.dataframe if "peak" in d.value.columns)
    assert len(table) == 2  # the named span left the list
