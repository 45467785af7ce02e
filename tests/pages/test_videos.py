"""Videos page and the app shell, through Streamlit's AppTest."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from otcore import service
from otcore.settings import load_settings

REPO = Path(__file__).resolve().parents[2]


def _seed(data_dir: Path, shared_data: Path):
    settings = load_settings(data_dir)
    store = service.open_store(settings)
    project = store.create_project("clips")
    service.add_video(store, settings, project.id, shared_data / "videos" / "example.avi")
    return store, project


def test_videos_page_lists_videos_with_status(data_dir: Path, shared_data: Path):
    store, project = _seed(data_dir, shared_data)
    at = AppTest.from_file(str(REPO / "pages" / "videos.py"), default_timeout=60)
    at.session_state["project_id"] = project.id
    at.run()
    assert not at.exception
    assert at.title[0].value == "Videos"
    frame = at.dataframe[0].value
    assert list(frame["video"]) == ["example.avi"]
    assert frame["duration_s"].iloc[0] > 1
    assert frame["job"].iloc[0] in ("queued", "running", "done", "failed")


def test_videos_page_without_project_says_so(data_dir: Path):
    service.open_store(load_settings(data_dir))
    at = AppTest.from_file(str(REPO / "pages" / "videos.py"), default_timeout=30).run()
    assert not at.exception
    assert "No project yet" in at.info[0].value


def test_app_creates_demo_project_and_selector(data_dir: Path, monkeypatch):
    monkeypatch.setenv("OTSTUDIO_NO_WORKER", "1")
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=90).run()
    assert not at.exception, at.exception
    store = service.open_store(load_settings(data_dir))
    demo = store.get_project(service.DEMO_PROJECT)
    assert demo is not None and len(store.list_videos(demo.id)) == 1
    assert at.sidebar.selectbox[0].value == demo.id


def test_delete_a_video_with_its_files_and_undo(data_dir: Path, shared_data: Path, monkeypatch):
    monkeypatch.setenv("OTSTUDIO_NO_WORKER", "1")
    from otcore.store import EditLog

    store, project = _seed(data_dir, shared_data)
    (video,) = store.list_videos(project.id)
    EditLog(store).add_segment(video.id, "jump", 0.5, 1.0)
    file = store.resolve_path(video.path)
    assert file.is_file()
    at = AppTest.from_file(str(REPO / "pages" / "videos.py"), default_timeout=60)
    at.session_state["project_id"] = project.id
    at.run()
    assert any("deletes its 1 segments" in c.value for c in at.caption)
    at.button(key="videos_delete").click().run()
    assert not at.exception, at.exception
    assert store.list_videos(project.id) == [] and not file.exists()
    assert EditLog(store).history(video.id, limit=1)[0].op == "delete_video"
    at.button(key="videos_undo_delete").click().run()
    assert not at.exception, at.exception
    assert [v.id for v in store.list_videos(project.id)] == [video.id] and file.is_file()
    assert len(EditLog(store).segments(video.id)) == 1


def test_app_opens_the_project_named_in_the_url_and_writes_it_back(data_dir: Path, monkeypatch):
    monkeypatch.setenv("OTSTUDIO_NO_WORKER", "1")
    store = service.open_store(load_settings(data_dir))
    other = store.create_project("Gymnastics")
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=90)
    at.query_params["project"] = str(other.id)
    at.run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox[0].value == other.id
    assert at.query_params["project"] in (str(other.id), [str(other.id)])
    # a stale or bad id falls back to a project that exists, and the URL says which
    at2 = AppTest.from_file(str(REPO / "app.py"), default_timeout=90)
    at2.query_params["project"] = "999"
    at2.run()
    assert not at2.exception, at2.exception
    chosen = at2.sidebar.selectbox[0].value
    assert chosen in {p.id for p in store.list_projects()}
    assert at2.query_params["project"] in (str(chosen), [str(chosen)])
    # (creating, renaming and deleting projects from the sidebar: tests/e2e/test_app_browser.py)
