"""Property and concurrency tests of the edit log (the property test on SQLite only, to stay
fast; the concurrency test on both databases)."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otcore.store import EditError, EditLog, Store
from otcore.types import Segment

LABELS = ["a", "b"]

op_strategy = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(LABELS), st.integers(0, 95), st.integers(1, 30)),
    st.tuples(st.just("update"), st.integers(0, 50), st.integers(0, 95), st.integers(1, 30)),
    st.tuples(st.just("delete"), st.integers(0, 50)),
    st.tuples(st.just("split"), st.integers(0, 50), st.integers(0, 100)),
    st.tuples(st.just("merge"), st.integers(0, 50), st.integers(0, 50)),
    st.tuples(st.just("accept"), st.integers(0, 50)),
    st.tuples(st.just("reject"), st.integers(0, 50)),
    st.tuples(st.just("predict"), st.integers(0, 80), st.integers(1, 20)),
)


def _state(log: EditLog, video_id: int) -> list[tuple]:
    return sorted((s.id, s.label, s.start, s.end, s.source, s.score) for s in log.segments(video_id))


def _apply(log: EditLog, video_id: int, op: tuple) -> None:
    active = [s.id for s in log.segments(video_id)]
    pick = (lambda i: active[i % len(active)]) if active else (lambda i: -1)
    kind = op[0]
    if kind == "add":
        log.add_segment(video_id, op[1], op[2] / 10, (op[2] + op[3]) / 10)
    elif kind == "update":
        log.update_segment(pick(op[1]), start=op[2] / 10, end=(op[2] + op[3]) / 10)
    elif kind == "delete":
        log.delete_segment(pick(op[1]))
    elif kind == "split":
        log.split_segment(pick(op[1]), op[2] / 10)
    elif kind == "merge":
        log.merge_segments(pick(op[1]), pick(op[2]))
    elif kind == "accept":
        log.accept(pick(op[1]))
    elif kind == "reject":
        log.reject(pick(op[1]))
    elif kind == "predict":
        log.replace_predictions(video_id, [Segment("a", op[1] / 10, (op[1] + op[2]) / 10, 0.5)], "m")


def _owned_overlaps(log: EditLog, video_id: int) -> bool:
    segs = log.segments(video_id, sources=["manual", "corrected"])
    for i, x in enumerate(segs):
        for y in segs[i + 1 :]:
            if x.label == y.label and x.start < y.end and y.start < x.end:
                return True
    return False


@settings(max_examples=12, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op_strategy, min_size=1, max_size=12))
def test_undo_then_redo_walks_back_and_forth_through_every_state(ops: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'p.db'}", data_dir=tmp)
        p = store.create_project("P")
        v = store.add_video(p.id, "v.mp4", "videos/v.mp4", "0" * 64, 10.0, 10.0, 100, 8, 8)
        log = EditLog(store)
        states = [_state(log, v.id)]
        for op in ops:
            before = _state(log, v.id)
            try:
                _apply(log, v.id, op)
            except (EditError, LookupError):
                assert _state(log, v.id) == before  # a refused edit changes nothing
                continue
            assert not _owned_overlaps(log, v.id)
            for s in log.segments(v.id):
                assert 0 <= s.start < s.end <= 10.0
            states.append(_state(log, v.id))
        # a fresh store (another process) undoes every step exactly, then redoes them
        log = EditLog(Store(store.url, data_dir=tmp))
        for expected in reversed(states[:-1]):
            assert log.undo(v.id) is not None
            assert _state(log, v.id) == expected
        assert log.undo(v.id) is None
        for expected in states[1:]:
            assert log.redo(v.id) is not None
            assert _state(log, v.id) == expected
        assert log.redo(v.id) is None
        log.store.close()
        store.close()


def test_concurrent_edits_on_one_video_are_serialised(store_url: str, tmp_path: Path) -> None:
    """Writers in parallel (own connections) never lose an edit nor break the overlap rule."""
    url = store_url
    store = Store(url, data_dir=tmp_path)
    p = store.create_project("P")
    v = store.add_video(p.id, "v.mp4", "videos/v.mp4", "0" * 64, 100.0, 10.0, 1000, 8, 8)
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        log = EditLog(Store(url, data_dir=tmp_path), user=f"u{k}")
        try:
            for i in range(10):
                log.add_segment(v.id, "a", k * 2 + i * 0.5, k * 2 + i * 0.5 + 1.2)  # overlapping chain
                log.add_segment(v.id, "b", 50 + k * 10 + i, 50 + k * 10 + i + 0.5)  # disjoint
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            log.store.close()

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    log = EditLog(store)
    assert len(log.history(v.id)) == 80
    b = [s for s in log.segments(v.id) if s.label == "b"]
    assert len(b) == 40
    a = [s for s in log.segments(v.id) if s.label == "a"]
    assert [(s.start, s.end) for s in a] == [(0.0, 11.7)]  # all chains overlap into one
    store.close()
