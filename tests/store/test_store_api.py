"""Repository API of the store: projects, videos, labels, artifacts, dedupe constraints."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from otcore.store import (
    LABEL_PALETTE,
    DuplicateError,
    NotFoundError,
    ProjectInfo,
    Store,
    StoreError,
    VideoInfo,
)
from otcore.store.models import Label


def _video(store: Store, project_id: int, sha: str = "a" * 64, name: str = "a.mp4") -> VideoInfo:
    return store.add_video(project_id, name, f"videos/{sha}.mp4", sha, 10.0, 25.0, 250, 320, 240)


def test_project_crud_returns_frozen_infos(store: Store) -> None:
    p = store.create_project("Cooking")
    assert isinstance(p, ProjectInfo) and p.name == "Cooking"
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.name = "x"  # type: ignore[misc]
    assert store.get_project("Cooking") == p
    assert store.get_project(p.id) == p
    assert store.get_project("nope") is None
    store.create_project("Sports")
    assert [x.name for x in store.list_projects()] == ["Cooking", "Sports"]
    assert store.ensure_project("Cooking").id == p.id


def test_duplicate_project_name_is_refused(store: Store) -> None:
    p = store.create_project("A")
    with pytest.raises(DuplicateError) as err:
        store.create_project("A")
    assert err.value.existing == p
    assert len(store.list_projects()) == 1


def test_video_crud_and_dedupe_by_content(store: Store) -> None:
    p = store.create_project("P")
    v = _video(store, p.id)
    assert v.status == "new" and v.duration == 10.0 and v.fps == 25.0 and v.n_frames == 250
    assert store.get_video(v.id) == v
    assert store.find_video(p.id, sha256="a" * 64) == v
    assert store.find_video(p.id, filename="a.mp4") == v
    with pytest.raises(DuplicateError) as err:
        _video(store, p.id, name="copy.mp4")
    assert err.value.existing.id == v.id
    assert [x.id for x in store.list_videos(p.id)] == [v.id]
    # the same file in another project is fine
    q = store.create_project("Q")
    assert _video(store, q.id).project_id == q.id
    v2 = store.set_video_status(v.id, "failed", "decoder error")
    assert (v2.status, v2.error) == ("failed", "decoder error")
    v3 = store.update_video(v.id, duration=12.5, frame_times_path="videos/a.frames.npy")
    assert v3.duration == 12.5 and v3.frame_times_path == "videos/a.frames.npy"
    with pytest.raises(StoreError):
        store.update_video(v.id, sha256="b")
    with pytest.raises(NotFoundError):
        store.set_video_status(99999, "ready")
    with pytest.raises(NotFoundError):
        store.add_video(99999, "x.mp4", "videos/x.mp4", "c" * 64, 1.0, 1.0, 1, 1, 1)


def test_unique_constraint_holds_in_the_database(store: Store) -> None:
    """The dedupe is a real constraint, not only a check in Python."""
    p = store.create_project("P")
    store.ensure_label(p.id, "jump")
    with pytest.raises(IntegrityError), store.write() as s:
        s.add(Label(project_id=p.id, name="jump", color="#000000"))


def test_labels_get_palette_colours_in_order(store: Store) -> None:
    p = store.create_project("P")
    a = store.ensure_label(p.id, "a")
    b = store.ensure_label(p.id, "b")
    c = store.ensure_label(p.id, "c", color="#123456")
    assert (a.color, b.color, c.color) == (LABEL_PALETTE[0], LABEL_PALETTE[1], "#123456")
    assert store.ensure_label(p.id, "a") == a  # idempotent
    assert [x.name for x in store.list_labels(p.id)] == ["a", "b", "c"]
    assert store.set_label_color(a.id, "#ffffff").color == "#ffffff"
    q = store.create_project("Q")
    assert store.ensure_label(q.id, "a").color == LABEL_PALETTE[0]  # per-project order
    with pytest.raises(StoreError):
        store.ensure_label(p.id, "  ")


def test_artifacts_and_video_features(store: Store) -> None:
    p = store.create_project("P")
    v = _video(store, p.id)
    art = store.add_artifact(
        "features", "sha:m:2", "features/x.npy", {"model_id": "m", "fps": 2.0, "dim": 512}
    )
    assert store.find_artifact("features", "sha:m:2") == art
    again = store.add_artifact("features", "sha:m:2", "features/y.npy", {"model_id": "m", "fps": 2.0})
    assert again.id == art.id and again.path == "features/y.npy"
    assert len(store.list_artifacts("features")) == 1
    link = store.set_video_features(v.id, art.id)
    assert (link.model_id, link.fps) == ("m", 2.0)
    assert store.get_video_features(v.id).id == art.id
    assert store.get_video_features(v.id, model_id="other") is None
    art2 = store.add_artifact("features", "sha:m:4", "features/z.npy", {"model_id": "m", "fps": 4.0})
    store.set_video_features(v.id, art2.id)
    assert store.get_video_features(v.id, fps=4.0).id == art2.id
    assert store.get_video_features(v.id, fps=2.0).id == art.id
    assert len(store.list_video_features(v.id)) == 2
    art3 = store.add_artifact("features", "sha:m:2b", "features/w.npy", {})
    store.set_video_features(v.id, art3.id, model_id="m", fps=2.0)  # replaces the (m, 2.0) link
    assert store.get_video_features(v.id, model_id="m", fps=2.0).id == art3.id
    with pytest.raises(StoreError):
        store.set_video_features(v.id, store.add_artifact("features", "k", "p", {}).id)


def test_delete_video_cascades(store: Store) -> None:
    from otcore.store import EditLog

    p = store.create_project("P")
    v = _video(store, p.id)
    EditLog(store).add_segment(v.id, "jump", 1.0, 2.0)
    store.delete_video(v.id)
    assert store.get_video(v.id) is None
    with store.read() as s:
        assert s.execute(text("SELECT COUNT(*) FROM segment")).scalar() == 0
        assert s.execute(text("SELECT COUNT(*) FROM edit")).scalar() == 0


def test_sqlite_pragmas(tmp_path) -> None:
    st = Store(f"sqlite:///{tmp_path / 'x.db'}")
    with st.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    assert set(inspect(st.engine).get_table_names()) >= {"project", "video", "segment", "job"}
    st.close()


def test_from_settings_puts_sqlite_in_the_data_dir(data_dir) -> None:
    from otcore.settings import load_settings

    settings = load_settings()
    st = Store.from_settings(settings)
    assert (data_dir / "otstudio.db").is_file()
    assert st.resolve_path("videos/a.mp4") == data_dir / "videos" / "a.mp4"
    assert st.resolve_path("/abs/a.mp4").as_posix() == "/abs/a.mp4"
    st.close()
