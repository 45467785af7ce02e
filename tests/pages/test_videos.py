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
    assert at.sidebar.selectbox(key="project_id").value == demo.id
