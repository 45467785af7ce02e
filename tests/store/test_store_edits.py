"""The editing model: snapping, overlap rule, sources, undo/redo persisted across processes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from otcore.store import EditError, EditLog, Store, VideoInfo
from otcore.store.edits import snap_time
from otcore.types import Segment


def _video(
    store: Store,
    *,
    fps: float | None = 10.0,
    duration: float = 10.0,
    frame_times: np.ndarray | None = None,
    name: str = "v",
) -> VideoInfo:
    p = store.ensure_project("P")
    ft_path = None
    if frame_times is not None:
        assert store.data_dir is not None
        (store.data_dir / "videos").mkdir(parents=True, exist_ok=True)
        ft_path = f"videos/{name}.frames.npy"
        np.save(store.data_dir / ft_path, frame_times)
    n = None if fps is None else int(duration * fps)
    return store.add_video(
        p.id,
        f"{name}.mp4",
        f"videos/{name}.mp4",
        name * 8,
        duration,
        fps,
        n,
        64,
        48,
        frame_times_path=ft_path,
    )


def _spans(log: EditLog, video_id: int, **kw) -> list[tuple[str, float, float, str]]:
    return [(s.label, round(s.start, 6), round(s.end, 6), s.source) for s in log.segments(video_id, **kw)]


def test_add_snaps_to_fps_grid_and_validates(store: Store) -> None:
    v = _video(store, fps=25.0)
    log = EditLog(store)
    sid = log.add_segment(v.id, "jump", 1.013, 2.029)
    seg = log.get_segment(sid)
    assert (seg.start, seg.end) == pytest.approx((1.0, 2.04))
    assert log.get_segment(log.add_segment(v.id, "run", 9.5, 10.01)).end == pytest.approx(
        10.0
    )  # clamped overshoot
    for bad in [(2.0, 2.0), (3.0, 2.0), (-1.0, 2.0), (5.0, 11.0), (1.0, 1.01)]:
        with pytest.raises(EditError):
            log.add_segment(v.id, "jump", *bad)
    with pytest.raises(EditError):
        log.add_segment(v.id, "jump", 1.0, 2.0, source="guessed")
    assert len(log.segments(v.id)) == 2


def test_snaps_to_real_frame_times(store: Store) -> None:
    # variable frame rate: frame starts are irregular
    ft = np.array([0.0, 0.03, 0.1, 0.21, 0.25, 0.4, 0.55, 0.6])
    v = _video(store, fps=None, duration=0.7, frame_times=ft)
    log = EditLog(store)
    seg = log.get_segment(log.add_segment(v.id, "a", 0.09, 0.22))
    assert (seg.start, seg.end) == (0.1, 0.21)
    seg = log.get_segment(log.add_segment(v.id, "b", 0.5, 0.69))
    assert (seg.start, seg.end) == (0.55, 0.7)  # end may snap to the video's end
    with pytest.raises(EditError):  # both ends land on the same frame start
        log.add_segment(v.id, "c", 0.11, 0.12)


def test_snap_time_function() -> None:
    ft = np.array([0.0, 0.5, 1.0])
    assert snap_time(0.74, frame_times=ft) == 0.5
    assert snap_time(0.76, frame_times=ft) == 1.0
    assert snap_time(1.4, frame_times=ft, duration=1.5, is_end=True) == 1.5
    assert snap_time(1.4, frame_times=ft, duration=1.5) == 1.0
    assert snap_time(0.26, fps=4.0) == 0.25
    assert snap_time(-3, fps=4.0, duration=2.0) == 0.0
    assert snap_time(0.123) == 0.123


def test_overlap_rule_merges_same_label_owned_segments(store: Store) -> None:
    v = _video(store)
    log = EditLog(store)
    a = log.add_segment(v.id, "jump", 1.0, 2.0)
    log.add_segment(v.id, "jump", 3.0, 4.0)
    log.add_segment(v.id, "run", 1.5, 3.5)  # other label: overlaps freely
    log.add_segment(v.id, "jump", 2.0, 3.0)  # touches both: separate instances
    assert len(log.segments(v.id)) == 4
    merged = log.add_segment(v.id, "jump", 1.5, 3.5)  # overlaps all three jumps
    assert _spans(log, v.id) == [("jump", 1.0, 4.0, "manual"), ("run", 1.5, 3.5, "manual")]
    assert log.get_segment(a).status == "merged"  # hidden, not lost
    assert log.get_segment(merged).start == 1.0
    log.undo(v.id)
    assert len(log.segments(v.id)) == 4


def test_edit_ops_and_sources(store: Store) -> None:
    v = _video(store)
    log = EditLog(store)
    m = log.add_segment(v.id, "jump", 1.0, 2.0)
    log.replace_predictions(
        v.id,
        [Segment("jump", 4.0, 5.0, 0.9), Segment("run", 6.0, 7.0, 0.3), Segment("run", 8.0, 9.0, 0.5)],
        method="plot",
    )
    preds = log.segments(v.id, sources=["predicted"])
    assert [(p.label, p.score, p.method) for p in preds] == [
        ("jump", 0.9, "plot"),
        ("run", 0.3, "plot"),
        ("run", 0.5, "plot"),
    ]
    p_jump, p_run, p_run2 = (p.id for p in preds)
    # accept: predicted -> corrected, score kept
    log.accept(p_jump)
    got = log.get_segment(p_jump)
    assert (got.source, got.score) == ("corrected", 0.9)
    # reject: hidden
    log.reject(p_run)
    assert log.get_segment(p_run).status == "rejected"
    with pytest.raises(EditError):
        log.reject(m)  # manual segments are deleted, not rejected
    with pytest.raises(EditError):
        log.accept(m)
    # editing a proposal makes it corrected
    log.update_segment(p_run2, start=7.5)
    got = log.get_segment(p_run2)
    assert (got.start, got.source) == (7.5, "corrected")
    # relabel + move
    log.update_segment(m, end=2.5, label="hop")
    assert _spans(log, v.id, sources=["manual"]) == [("hop", 1.0, 2.5, "manual")]
    # split and merge
    left, right = log.split_segment(m, 1.73)
    assert [(s.start, s.end) for s in log.segments(v.id, sources=["manual"])] == [(1.0, 1.7), (1.7, 2.5)]
    with pytest.raises(EditError):
        log.split_segment(left, 1.0)  # not strictly inside
    assert log.merge_segments(left, right) == left
    assert _spans(log, v.id, sources=["manual"]) == [("hop", 1.0, 2.5, "manual")]
    log.delete_segment(left)
    assert log.segments(v.id, sources=["manual"]) == []
    with pytest.raises(EditError):
        log.update_segment(left, start=1.1)  # deleted rows are not editable
    assert [e.op for e in log.history(v.id)][:3] == ["delete", "merge", "split"]


def test_replace_predictions_never_touches_manual_or_corrected(store: Store) -> None:
    v = _video(store)
    log = EditLog(store)
    m = log.add_segment(v.id, "jump", 1.0, 2.0)
    log.replace_predictions(v.id, [Segment("jump", 1.2, 1.8, 0.7), Segment("jump", 5.0, 6.0, 0.6)], "a")
    c = log.segments(v.id, sources=["predicted"])[1].id
    log.update_segment(c, end=6.5)  # now corrected
    log.replace_predictions(v.id, [Segment("run", 3.0, 12.0, 0.1), Segment("run", 10.5, 11.0, 0.1)], "b")
    assert _spans(log, v.id) == [
        ("jump", 1.0, 2.0, "manual"),
        ("run", 3.0, 10.0, "predicted"),
        ("jump", 5.0, 6.5, "corrected"),
    ]
    assert log.get_segment(m).source == "manual"
    assert len(log.project_segments(store.get_video(v.id).project_id)) == 3


def test_undo_redo_persist_across_fresh_store(open_store: Callable[[], Store]) -> None:
    first = open_store()
    v = _video(first)
    log = EditLog(first)
    a = log.add_segment(v.id, "jump", 1.0, 2.0)
    log.update_segment(a, end=3.0)
    log.add_segment(v.id, "run", 4.0, 5.0)
    first.close()

    # "a new process": a fresh engine and EditLog see the same stacks
    second = EditLog(open_store())
    assert second.can_undo(v.id) and not second.can_redo(v.id)
    assert second.undo(v.id).op == "add"
    assert _spans(second, v.id) == [("jump", 1.0, 3.0, "manual")]
    assert second.undo(v.id).op == "update"
    assert _spans(second, v.id) == [("jump", 1.0, 2.0, "manual")]

    third = EditLog(open_store())
    assert third.can_redo(v.id)
    assert third.redo(v.id).op == "update"
    assert _spans(third, v.id) == [("jump", 1.0, 3.0, "manual")]
    # a new edit clears the redo stack (the undone "add run" is discarded), persistently
    third.add_segment(v.id, "hop", 6.0, 7.0)
    assert not EditLog(open_store()).can_redo(v.id)
    assert EditLog(open_store()).redo(v.id) is None
    states = [(e.op, e.state) for e in third.history(v.id)]
    assert states == [("add", "applied"), ("add", "discarded"), ("update", "applied"), ("add", "applied")]
    # undo everything, then nothing is left to undo
    while third.undo(v.id) is not None:
        pass
    assert third.segments(v.id) == []
    assert third.undo(v.id) is None


def test_undo_of_replace_predictions_restores_previous_proposals(store: Store) -> None:
    v = _video(store)
    log = EditLog(store)
    log.replace_predictions(v.id, [Segment("a", 1.0, 2.0, 0.5)], "m1")
    log.replace_predictions(v.id, [Segment("b", 3.0, 4.0, 0.5)], "m2")
    assert _spans(log, v.id) == [("b", 3.0, 4.0, "predicted")]
    log.undo(v.id)
    assert _spans(log, v.id) == [("a", 1.0, 2.0, "predicted")]
    log.redo(v.id)
    assert _spans(log, v.id) == [("b", 3.0, 4.0, "predicted")]


def test_undo_refuses_when_rows_changed_outside_the_log(store: Store) -> None:
    from sqlalchemy import update

    from otcore.store.models import SegmentRow

    v = _video(store)
    log = EditLog(store)
    sid = log.add_segment(v.id, "jump", 1.0, 2.0)
    with store.write() as s:
        s.execute(update(SegmentRow).where(SegmentRow.id == sid).values(start=1.5))
    with pytest.raises(EditError):
        log.undo(v.id)


def test_add_segments_bulk_is_one_undo_step(store: Store) -> None:
    v = _video(store)
    log = EditLog(store)
    ids = log.add_segments(v.id, [Segment("a", 1.0, 2.0), Segment("a", 1.5, 3.0), Segment("b", 4.0, 5.0)])
    assert _spans(log, v.id) == [("a", 1.0, 3.0, "manual"), ("b", 4.0, 5.0, "manual")]
    assert len(ids) == 2
    kept = log.add_segments(v.id, [Segment("c", 1.0, 2.0), Segment("c", 1.5, 3.0)], merge_overlaps=False)
    assert len(kept) == 2
    with pytest.raises(EditError):  # all or nothing
        log.add_segments(v.id, [Segment("d", 1.0, 2.0), Segment("d", 9.0, 30.0)])
    assert not [s for s in log.segments(v.id) if s.label == "d"]
    log.undo(v.id)
    log.undo(v.id)
    assert log.segments(v.id) == []


def test_edit_log_records_author(store: Store, tmp_path: Path) -> None:
    v = _video(store)
    log = EditLog(store, user="ana")
    log.add_segment(v.id, "a", 1.0, 2.0)
    log.add_segment(v.id, "a", 3.0, 4.0, user="ben")
    assert [e.user for e in log.history(v.id)] == ["ben", "ana"]
