"""Managing labels, videos and projects: distinct colours, rename, reorder, delete with undo,
bulk review as one edit (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from otcore import service
from otcore.store import LABEL_PALETTE, DuplicateError, EditLog, Store, StoreError, VideoInfo
from otcore.store.management import delete_label, label_usage, restore_label


def _video(store: Store, project_id: int, sha: str = "a" * 64, name: str = "a.mp4") -> VideoInfo:
    return store.add_video(project_id, name, f"videos/{sha}.mp4", sha, 10.0, 25.0, 250, 320, 240)


def test_new_labels_get_distinct_palette_colours(store: Store) -> None:
    p = store.create_project("p")
    colours = [store.ensure_label(p.id, f"l{i}").color for i in range(7)]
    assert len(set(colours)) == 7
    assert colours == list(LABEL_PALETTE[:7])
    assert store.next_label_color(p.id) == LABEL_PALETTE[7]


def test_rename_and_reorder_labels(store: Store) -> None:
    p = store.create_project("p")
    a, b, c = (store.ensure_label(p.id, n) for n in ("a", "b", "c"))
    v = _video(store, p.id)
    log = EditLog(store)
    sid = log.add_segment(v.id, "a", 1.0, 2.0)
    assert store.rename_label(a.id, "jump").name == "jump"
    assert log.get_segment(sid).label == "jump"
    with pytest.raises(DuplicateError):
        store.rename_label(b.id, "jump")
    store.reorder_labels(p.id, [c.id, a.id, b.id])
    assert [lab.name for lab in store.list_labels(p.id)] == ["c", "jump", "b"]
    with pytest.raises(StoreError):
        store.reorder_labels(p.id, [c.id, a.id])
    assert store.ensure_label(p.id, "d").name == "d"
    assert [lab.name for lab in store.list_labels(p.id)][-1] == "d"


def test_delete_label_states_and_undoes(store: Store) -> None:
    p = store.create_project("p")
    lab = store.ensure_label(p.id, "jump")
    store.ensure_label(p.id, "run")
    v1, v2 = _video(store, p.id), _video(store, p.id, "b" * 64, "b.mp4")
    log = EditLog(store)
    log.add_segment(v1.id, "jump", 1.0, 2.0)
    log.add_segment(v2.id, "jump", 3.0, 4.0)
    keep = log.add_segment(v2.id, "run", 5.0, 6.0)
    usage = label_usage(store, lab.id)
    assert (usage.n_segments, usage.n_videos) == (2, 2)
    removal = delete_label(store, lab.id)
    assert removal.n_segments == 2
    assert [x.name for x in store.list_labels(p.id)] == ["run"]
    assert [s.id for s in log.segments(v2.id)] == [keep]
    assert log.history(v1.id, limit=1)[0].op == "delete_label"
    restore_label(store, removal)
    assert [x.name for x in store.list_labels(p.id)] == ["jump", "run"]
    assert len(log.segments(v1.id)) == 1 and len(log.segments(v2.id)) == 2


def test_review_many_is_one_undo_step(store: Store) -> None:
    from otcore.types import Segment

    p = store.create_project("p")
    v = _video(store, p.id)
    log = EditLog(store)
    ids = log.replace_predictions(
        v.id, [Segment("jump", float(i), i + 0.5, 0.9 if i % 2 else 0.05) for i in range(6)], method="m"
    )
    good = [i for i, s in zip(ids, log.segments(v.id), strict=True) if s.score > 0.5]
    bad = [i for i in ids if i not in good]
    acc, rej = log.review_many(v.id, accept=good, reject=bad)
    assert sorted(acc) == sorted(good) and sorted(rej) == sorted(bad)
    assert {s.source for s in log.segments(v.id)} == {"corrected"}
    assert log.undo(v.id) is not None
    after = log.segments(v.id)
    assert len(after) == 6 and {s.source for s in after} == {"predicted"}
    with pytest.raises(Exception, match="not a proposal"):
        log.review_many(v.id, accept=[log.add_segment(v.id, "jump", 8.0, 9.0)])
    assert len(log.segments(v.id, sources=("predicted",))) == 6  # all or nothing


def test_delete_video_moves_files_and_undoes(store: Store, tmp_path: Path) -> None:
    p = store.create_project("p")
    v = _video(store, p.id)
    (tmp_path / "videos").mkdir(exist_ok=True)
    (tmp_path / v.path).write_bytes(b"video")
    log = EditLog(store)
    log.add_segment(v.id, "jump", 1.0, 2.0)
    removal = service.delete_video(store, v.id)
    assert removal.n_segments == 1 and removal.moved == (v.path,)
    assert not (tmp_path / v.path).exists()
    assert store.list_videos(p.id) == []
    assert log.history(v.id, limit=1)[0].op == "delete_video"
    assert service.project_summary(store, p.id).n_segments == 0
    assert service.restore_video(store, removal) == 1
    assert (tmp_path / v.path).read_bytes() == b"video"
    assert [x.id for x in store.list_videos(p.id)] == [v.id]
    assert len(log.segments(v.id)) == 1


def test_rename_and_delete_project(store: Store) -> None:
    p = store.create_project("p")
    store.create_project("q")
    assert service.rename_project(store, p.id, "p2") == "p2"
    with pytest.raises(DuplicateError):
        service.rename_project(store, p.id, "q")
    _video(store, p.id)
    store.ensure_label(p.id, "jump")
    gone = service.delete_project(store, p.id)
    assert (gone.n_videos, gone.n_labels) == (1, 1)
    assert [x.name for x in store.list_projects()] == ["q"]
