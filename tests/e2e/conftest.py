"""End-to-end fixtures: a real ``streamlit run serve.py`` (app.py and its video route) on a free localhost port with its own
data dir, and a headless Chromium page driven by Playwright (Debian's chromium binary)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chromium_path() -> str | None:
    return os.environ.get("OTSTUDIO_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture()
def streamlit_data_dir(tmp_path: Path) -> Path:
    """The data dir the app under test uses (populate it through otcore before or after start)."""
    root = tmp_path / "app-data"
    root.mkdir()
    return root


@contextlib.contextmanager
def run_app(
    data_dir: Path,
    *,
    address: str = "127.0.0.1",
    env_extra: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    port: int | None = None,
) -> Iterator[str]:
    """``streamlit run serve.py`` (the app plus its video route) on ``address`` and a free port,
    with its own data dir; yields the base URL and stops the app and its worker afterwards."""
    port = port or _free_port()
    env = dict(os.environ)
    env.update(
        OTSTUDIO_DATA_DIR=str(data_dir),
        STREAMLIT_BROWSER_GATHER_USAGE_STATS="false",
        PYTHONUNBUFFERED="1",
    )
    env.pop("OTSTUDIO_DATABASE_URL", None)
    env.pop("OTSTUDIO_TEAM", None)
    env.update(env_extra or {})
    log_path = data_dir / "streamlit.log"
    log = open(log_path, "ab")  # noqa: SIM115 - closed in teardown
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "serve.py",
            "--server.headless=true",
            f"--server.port={port}",
            f"--server.address={address}",
            "--server.fileWatcherType=none",
            *args,
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://{address}:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            log.close()
            pytest.fail("streamlit did not start:\n" + log_path.read_text()[-3000:])
        time.sleep(0.3)
    try:
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        # the app starts a background worker in its own session; stop it through its pid file
        pid_file = data_dir / "worker.pid"
        if pid_file.is_file():
            with contextlib.suppress(ValueError, KeyError, ProcessLookupError, PermissionError):
                os.kill(int(json.loads(pid_file.read_text())["pid"]), signal.SIGTERM)
        log.close()


@pytest.fixture()
def streamlit_server(streamlit_data_dir: Path) -> Iterator[str]:
    """Base URL of ``streamlit run serve.py`` serving on a free localhost port."""
    with run_app(streamlit_data_dir) as url:
        yield url


@contextlib.contextmanager
def browser_page(url: str, *, ignore_https_errors: bool = False) -> Iterator[Any]:
    """A Playwright page in headless Chromium, opened at ``url``."""
    exe = chromium_path()
    if exe is None:
        pytest.skip("no chromium binary here (make test installs Debian's chromium when run as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_FLAGS)
        context = browser.new_context(
            viewport={"width": 1400, "height": 1000}, ignore_https_errors=ignore_https_errors
        )
        pg = context.new_page()
        pg.set_default_timeout(30_000)
        pg.goto(url)
        try:
            yield pg
        finally:
            context.close()
            browser.close()


@pytest.fixture()
def page(streamlit_server: str):
    """A Playwright page in headless Chromium, at the app's URL."""
    with browser_page(streamlit_server) as pg:
        yield pg


def artifacts_dir() -> Path:
    """Where browser tests leave their screenshots: ``$OTSTUDIO_TEST_ARTIFACTS`` or
    ``test-artifacts/`` at the repository root (kept after the run, ignored by git)."""
    root = Path(os.environ.get("OTSTUDIO_TEST_ARTIFACTS") or REPO_ROOT / "test-artifacts")
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture()
def screenshot():
    """``screenshot(page, name)`` saves a full-page PNG ``<name>.png`` in :func:`artifacts_dir`."""

    def take(pg, name: str) -> Path:
        path = artifacts_dir() / f"{name}.png"
        pg.screenshot(path=str(path), full_page=True)
        return path

    return take
