"""Smoke test: every page opens without an exception on the demo project (its video's features
extracted by an in-process worker), and the app shell around them does too."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from otcore import service
from otcore.jobs.worker import run_worker
from otcore.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
PAGES = {
    "videos.py": "Videos",
    "annotate.py": "Annotate",
    "train.py": "Train",
    "inspect.py": "Inspect",
    "review.py": "Review & Export",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A data dir holding the demo project with its features extracted (built once per module)."""
    data_dir = tmp_path_factory.mktemp("smoke") / "data"
    mp = pytest.MonkeyPatch()
    mp.setenv("OTSTUDIO_DATA_DIR", str(data_dir))
    mp.delenv("OTSTUDIO_DATABASE_URL", raising=False)
    mp.setenv("OTSTUDIO_CLIP_MODEL", service.OFFLINE_MODEL)  # no CLIP download in a test
    try:
        settings = load_settings(data_dir)
        store = service.open_store(settings)
        project = service.ensure_demo_project(store, settings)
        assert run_worker(settings, once=True, store=store) == 1
        (video,) = store.list_videos(project.id)
        assert store.get_video(video.id).status == "ready"
        store.close()
    finally:
        mp.undo()
    return data_dir, project.id


@pytest.fixture()
def demo_env(demo: tuple[Path, int], monkeypatch: pytest.MonkeyPatch) -> int:
    data_dir, project_id = demo
    monkeypatch.setenv("OTSTUDIO_DATA_DIR", str(data_dir))
    monkeypatch.delenv("OTSTUDIO_DATABASE_URL", raising=False)
    monkeypatch.setenv("OTSTUDIO_CLIP_MODEL", service.OFFLINE_MODEL)
    monkeypatch.setenv("OTSTUDIO_NO_WORKER", "1")
    return project_id


@pytest.mark.slow
@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_page_opens_on_the_demo_project(demo_env: int, page: str) -> None:
    at = AppTest.from_file(str(REPO / "pages" / page), default_timeout=120)
    at.session_state["project_id"] = demo_env
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value == PAGES[page]
    assert not at.error, [e.value for e in at.error]


@pytest.mark.slow
def test_the_app_shell_opens_on_the_demo_project(demo_env: int) -> None:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox[0].value == demo_env


def test_a_bad_setting_is_one_message_on_the_page(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTSTUDIO_MAX_UPLOAD_MB", "abc")
    at = AppTest.from_file(str(REPO / "pages" / "videos.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [
        "Settings: OTSTUDIO_MAX_UPLOAD_MB='abc' is not a whole number (allowed: 1..1048576)"
    ]
