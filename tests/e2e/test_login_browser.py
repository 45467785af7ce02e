"""Team mode requires login through Streamlit's OpenID Connect support, tested against a real
local OIDC provider (``oidc-provider-mock``) that the test starts: an anonymous session gets the
login page and nothing else; logging in through the provider reaches the app, and the edits the
session makes carry the signed-in user."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO_ROOT, _free_port, browser_page, run_app

VIDEO = "v_GGSY1Qvo990.mp4"
USER = "alice@example.org"


@pytest.fixture()
def oidc_provider() -> Iterator[str]:
    """Base URL of a local OpenID Connect provider (any client id/secret is accepted)."""
    oidc_provider_mock = pytest.importorskip("oidc_provider_mock")
    with oidc_provider_mock.run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


def _secrets(tmp_path: Path, provider: str, app_port: int) -> Path:
    path = tmp_path / "secrets.toml"
    path.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{app_port}/oauth2callback"\n'
        'cookie_secret = "a-test-cookie-secret-that-is-long-enough-0123456789"\n'
        'client_id = "otstudio"\n'
        'client_secret = "otstudio-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n'
    )
    return path


@pytest.fixture()
def team_app(
    tmp_path: Path, streamlit_data_dir: Path, oidc_provider: str, shared_data: Path
) -> Iterator[str]:
    """The app in team mode on 127.0.0.1, with one project and one real video."""
    from otcore import service
    from otcore.settings import load_settings

    settings = load_settings(streamlit_data_dir)
    store = service.open_store(settings)
    project = store.create_project("team")
    service.add_video(store, settings, project.id, shared_data / "videos" / VIDEO, extract=False)
    store.ensure_label(project.id, "lift", "#e45756")
    store.close()
    port = _free_port()
    secrets = _secrets(tmp_path, oidc_provider, port)
    with run_app(
        streamlit_data_dir, port=port, env_extra={"OTSTUDIO_TEAM": "1"}, args=(f"--secrets.files={secrets}",)
    ) as url:
        yield url


def test_anonymous_session_gets_the_login_page_only_apptest(tmp_path: Path, monkeypatch):
    """Without a browser: app.py in team mode draws the login button and nothing of the app."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("OTSTUDIO_TEAM", "1")
    monkeypatch.setenv("OTSTUDIO_DATA_DIR", str(tmp_path / "data"))
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
    at.secrets["auth"] = {
        "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
        "cookie_secret": "x" * 40,
        "client_id": "c",
        "client_secret": "s",
        "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
    }
    at.run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Log in"]
    assert len(at.selectbox) == 0 and len(at.sidebar.caption) == 0  # no project selector, no data dir
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())  # nothing opened


def test_other_addresses_need_team_mode(streamlit_data_dir: Path):
    """Outside team mode the server refuses to listen beyond loopback, with a one-line reason."""
    env = {k: v for k, v in os.environ.items() if k != "OTSTUDIO_TEAM"}
    env["OTSTUDIO_DATA_DIR"] = str(streamlit_data_dir)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "serve.py",
            "--server.headless=true",
            "--server.address=0.0.0.0",
            f"--server.port={_free_port()}",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "refusing to listen on '0.0.0.0' without login" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.browser
def test_anonymous_browser_sees_only_the_login_page(team_app: str):
    with browser_page(team_app) as page:
        page.get_by_role("button", name="Log in").wait_for(timeout=30_000)
        body = page.locator("body").inner_text()
        assert "requires login" in body
        assert "Data:" not in body and "New project" not in body
        assert page.get_by_role("link", name="Annotate").count() == 0
        # a page's own URL (the app's page path or the script's file name) does not get around it
        for path in ("/annotation?project=1&video=1", "/annotate"):
            page.goto(team_app + path)
            page.get_by_role("button", name="Log in").wait_for(timeout=30_000)
            page.wait_for_timeout(1500)
            assert page.locator('iframe[title*="timeline"]').count() == 0
            assert "Segments (" not in page.locator("body").inner_text()


@pytest.mark.browser
def test_login_through_the_provider_reaches_the_app_and_edits_carry_the_user(
    team_app: str, streamlit_data_dir: Path
):
    with browser_page(team_app) as page:
        page.get_by_role("button", name="Log in").click()
        page.locator('input[name="sub"]').wait_for(timeout=30_000)  # the provider's own form
        assert "localhost" in page.url
        page.locator('input[name="sub"]').fill(USER)
        page.get_by_role("button", name="Authorize").click()
        page.get_by_text(f"Signed in as {USER}").wait_for(timeout=60_000)
        assert page.url.startswith(team_app)
        page.get_by_role("link", name="Annotate").click()
        page.wait_for_url(re.compile(r"/annotation(\?.*)?$"), timeout=30_000)
        tl = page.frame_locator('iframe[title*="timeline"]')
        tl.locator("#timeline").wait_for(timeout=60_000)
        page.wait_for_function(
            "() => { const f = document.querySelector('iframe[title*=timeline]');"
            " const v = f && f.contentDocument && f.contentDocument.getElementById('video');"
            " return v && v.readyState >= 1; }",
            timeout=60_000,
        )
        tl.locator("#timeline").click(position={"x": 60, "y": 40})
        page.keyboard.press("Home")
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        page.keyboard.press("i")
        for _ in range(10):
            page.keyboard.press("ArrowRight")
        page.keyboard.press("o")
        page.get_by_text("Segments (1)", exact=True).wait_for(timeout=30_000)

    from otcore.settings import load_settings
    from otcore.store import EditLog, Store

    store = Store.from_settings(load_settings(streamlit_data_dir))
    try:
        video = store.list_videos(store.list_projects()[0].id)[0]
        users = [e.user for e in EditLog(store).history(video.id)]
    finally:
        store.close()
    assert users == [USER]
