"""Timeline events go through the edit log: each applied once, refusals reported, undo/redo persisted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from otcore.settings import load_settings
from otcore.store import EditLog, Store
from ui.timeline.events import apply_event, apply_events

# irregular frame times (variable frame rate): 0.04 s and 0.06 s alternating, 100 frames
TIMES = np.concatenate([[0.0], np.cumsum(np.tile([0.04, 0.06], 50))[:-1]])
DURATION = float(TIMES[-1] + 0.04)


@pytest.fixture()
def setup(data_dir: Path):
    settings = load_settings(data_dir)
    store = Store.from_settings(settings)
    project = store.create_project("p")
    np.save(data_dir / "ft.npy", TIMES)
    video = store.add_video(
        project.id,
        "v.mp4",
        "videos/v.mp4",
        "0" * 64,
        DURATION,
        20.0,
        len(TIMES),
        8,
        8,
        frame_times_path="ft.npy",
    )
    store.ensure_label(project.id, "jump")
    store.ensure_label(project.id, "run")
    yield store, EditLog(store), video
    store.close()


def _ev(i: int, op: str, vid: int, **kw):
    return {"id": f"e{i}", "op": op, "video_id": vid, **kw}


def test_add_snaps_to_real_frames_and_is_applied_once(setup):
    store, log, video = setup
    seen: set[str] = set()
    value = {"video_id": video.id, "events": [_ev(1, "add", video.id, label="jump", start=0.41, end=1.02)]}
    res = apply_events(log, video.id, value, seen)
    assert len(res) == 1 and res[0].ok and res[0].select_id is not None
    segs = log.segments(video.id)
    assert len(segs) == 1
    # snapped to the nearest real frame starts (0.4 and 1.0 are frame starts of TIMES)
    assert segs[0].start in TIMES and segs[0].end in TIMES
    assert segs[0].start == pytest.approx(0.4) and segs[0].end == pytest.approx(1.0)
    # a rerun sees the same value: nothing applied twice
    assert apply_events(log, video.id, value, seen) == []
    assert len(log.segments(video.id)) == 1


def test_every_op_and_undo_redo(setup):
    store, log, video = setup
    seen: set[str] = set()
    v = video.id
    r = apply_event(log, v, _ev(1, "add", v, label="jump", start=0.0, end=2.0))
    sid = r.select_id
    assert apply_event(log, v, _ev(2, "split", v, seg_id=sid, t=1.0)).ok
    a, b = sorted(log.segments(v), key=lambda s: s.start)
    assert (a.end, b.start) == (pytest.approx(1.0), pytest.approx(1.0))
    assert apply_event(log, v, _ev(3, "merge", v, a_id=a.id, b_id=b.id)).ok
    (m,) = log.segments(v)
    assert (m.start, m.end) == (0.0, pytest.approx(2.0))
    assert apply_event(log, v, _ev(4, "update", v, seg_id=m.id, end=1.5, label="run")).ok
    (m,) = log.segments(v)
    assert m.label == "run" and m.end == pytest.approx(1.5)
    assert apply_event(log, v, _ev(5, "delete", v, seg_id=m.id)).ok
    assert log.segments(v) == []
    # undo the delete, then redo it
    res = apply_events(log, v, {"events": [_ev(6, "undo", v), _ev(7, "redo", v), _ev(8, "undo", v)]}, seen)
    assert [x.ok for x in res] == [True, True, True]
    assert [s.label for s in log.segments(v)] == ["run"]
    # undo survives a new EditLog / Store (a reload)
    log2 = EditLog(Store.from_settings(load_settings(store.data_dir)))
    assert apply_event(log2, v, _ev(9, "undo", v)).ok
    (m,) = log2.segments(v)
    assert m.label == "jump" and m.end == pytest.approx(2.0)


def test_accept_and_reject_proposals(setup):
    store, log, video = setup
    from otcore.types import Segment

    ids = log.replace_predictions(
        video.id, [Segment("jump", 0.4, 1.0, 0.3), Segment("run", 2.0, 3.0, 0.8)], "test"
    )
    assert apply_event(log, video.id, _ev(1, "accept", video.id, seg_id=ids[0])).ok
    assert apply_event(log, video.id, _ev(2, "reject", video.id, seg_id=ids[1])).ok
    segs = log.segments(video.id)
    assert [(s.label, s.source) for s in segs] == [("jump", "corrected")]
    # accepting a manual segment is refused, not raised
    r = apply_event(log, video.id, _ev(3, "accept", video.id, seg_id=segs[0].id))
    assert not r.ok and "accept" in r.message


def test_refusals_are_reported_not_raised(setup):
    store, log, video = setup
    v = video.id
    cases = [
        _ev(1, "add", v, label="jump", start=2.0, end=1.0),  # start after end
        _ev(2, "add", v, label="jump", start=0.0, end=DURATION + 5),  # outside the video
        _ev(3, "add", v, label="", start=0.0, end=1.0),  # no label
        _ev(4, "delete", v, seg_id="tmp-abc"),  # not saved yet
        _ev(5, "delete", v, seg_id=999999),  # unknown
        _ev(6, "add", v, label="jump", start=float("nan"), end=1.0),
        _ev(7, "explode", v),
        _ev(8, "add", v + 1, label="jump", start=0.0, end=1.0),  # made on another video
    ]
    for ev in cases:
        r = apply_event(log, v, ev)
        assert not r.ok, ev
        assert r.message
    assert log.segments(v) == []
    assert apply_event(log, v, _ev(9, "undo", v)).message == "nothing to undo"
