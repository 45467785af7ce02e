"""The timeline's video comes from the app's own origin: played and frame-stepped in headless
Chromium with the page opened at 127.0.0.2 (not 127.0.0.1), and through an HTTPS reverse proxy
(Debian's nginx with a self-signed certificate, from scripts/test-services.sh)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.conftest import REPO_ROOT, _free_port, browser_page, run_app

pytestmark = pytest.mark.browser

VIDEO = "v_GGSY1Qvo990.mp4"  # real ActivityNet sample, H.264, 19.62 fps


@pytest.fixture()
def seeded(streamlit_data_dir: Path, shared_data: Path) -> np.ndarray:
    from otcore import service
    from otcore.settings import load_settings

    settings = load_settings(streamlit_data_dir)
    store = service.open_store(settings)
    project = store.create_project("origin")
    added = service.add_video(store, settings, project.id, shared_data / "videos" / VIDEO, extract=False)
    store.ensure_label(project.id, "lift", "#e45756")
    times = store.frame_times(added.video.id)
    store.close()
    assert times is not None and len(times) > 30
    return np.asarray(times)


_VIDEO_JS = (
    "() => { const f = document.querySelector('iframe[title*=timeline]');"
    " return f && f.contentDocument && f.contentDocument.getElementById('video'); }"
)


def _play_and_step(page, origin: str, times: np.ndarray) -> None:
    """Open Annotate, check the video's URL is on ``origin``, play it, pause, step frames."""
    page.get_by_role("link", name="Annotate").click()
    page.wait_for_url(re.compile(r"/annotate$"), timeout=30_000)
    tl = page.frame_locator('iframe[title*="timeline"]')
    tl.locator("#timeline").wait_for(timeout=60_000)
    page.wait_for_function(
        f"() => {{ const v = ({_VIDEO_JS})(); return v && v.readyState >= 2; }}", timeout=60_000
    )
    src = tl.locator("#video").evaluate("v => v.currentSrc")
    assert src.startswith(origin + "/otstudio/video/"), (src, origin)
    # play for real: the playhead moves through the streamed file
    tl.locator("#video").evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function(f"() => ({_VIDEO_JS})().currentTime > 0.5", timeout=30_000)
    tl.locator("#video").evaluate("v => v.pause()")
    # frame stepping with the keyboard lands on real frame starts, after a seek (a byte range)
    tl.locator("#timeline").click(position={"x": 60, "y": 40})
    page.keyboard.press("Home")
    for _ in range(12):
        page.keyboard.press("ArrowRight")
    assert "frame 12 /" in tl.locator("#clock").inner_text()
    page.wait_for_function(
        f"() => {{ const v = ({_VIDEO_JS})(); return !v.seeking && v.readyState >= 2; }}", timeout=30_000
    )
    t = float(tl.locator("#video").evaluate("v => v.currentTime"))
    assert float(times[12]) <= t < float(times[13]), (t, times[12], times[13])  # inside frame 12
    err = tl.locator("#video").evaluate("v => v.error && v.error.code")
    assert err is None


def test_video_plays_from_a_second_loopback_address(seeded, streamlit_data_dir: Path):
    with run_app(streamlit_data_dir, address="127.0.0.2") as url, browser_page(url) as page:
        assert url.startswith("http://127.0.0.2:")
        _play_and_step(page, url, seeded)
        # the route is the app's own: nothing listens for video on 127.0.0.1
        port = int(url.rsplit(":", 1)[1])
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
            pass


@pytest.fixture()
def https_proxy(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """nginx on 127.0.0.1:<free port> with TLS, proxying to an app port chosen here:
    yields (proxy port, app port)."""
    nginx = os.environ.get("OTSTUDIO_TEST_NGINX")
    cert, key = os.environ.get("OTSTUDIO_TEST_TLS_CERT"), os.environ.get("OTSTUDIO_TEST_TLS_KEY")
    if not (nginx and cert and key and Path(cert).is_file()):
        pytest.skip("no nginx / certificate (scripts/test-services.sh prepares them when run as root)")
    proxy_port, app_port = _free_port(), _free_port()
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    conf = (REPO_ROOT / "scripts" / "nginx-otstudio.conf").read_text()
    for k, v in {
        "@LISTEN@": f"127.0.0.1:{proxy_port}",
        "@APP@": f"127.0.0.1:{app_port}",
        "@CERT@": cert,
        "@KEY@": key,
        "@PREFIX@": str(prefix),
    }.items():
        conf = conf.replace(k, v)
    (prefix / "nginx.conf").write_text(conf)
    proc = subprocess.Popen(
        [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", proxy_port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("nginx did not start: " + (proc.stderr.read() if proc.stderr else b"").decode())
            time.sleep(0.2)
    try:
        yield proxy_port, app_port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_video_plays_through_an_https_reverse_proxy(seeded, streamlit_data_dir: Path, https_proxy):
    proxy_port, app_port = https_proxy
    with run_app(streamlit_data_dir, port=app_port):
        origin = f"https://127.0.0.1:{proxy_port}"
        with browser_page(origin, ignore_https_errors=True) as page:
            _play_and_step(page, origin, seeded)
