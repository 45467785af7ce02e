"""The media route streams registered files with byte ranges from the app's server, per session,
with expiring tokens, no CORS header, no symlink following, and quietly when a client aborts."""

from __future__ import annotations

import http.client
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ui.media import MediaRefused, MediaRegistry, media_routes, parse_range


def test_parse_range():
    assert parse_range(None, 100) is None
    assert parse_range("bytes=0-9", 100) == (0, 9)
    assert parse_range("bytes=90-", 100) == (90, 99)
    assert parse_range("bytes=95-200", 100) == (95, 99)
    assert parse_range("bytes=-10", 100) == (90, 99)
    for bad in ("bytes=100-", "bytes=5-2", "items=0-1", "bytes=-", "bytes=0-1,3-4"):
        with pytest.raises(ValueError):
            parse_range(bad, 100)


class _Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_tokens_are_per_session_stable_and_expire(tmp_path: Path):
    f = tmp_path / "a.mp4"
    f.write_bytes(b"x" * 10)
    clock = _Clock()
    alive = {"s1", "s2"}
    reg = MediaRegistry(ttl_s=60, clock=clock, session_alive=lambda s: s in alive)
    u1 = reg.register(f, "s1")
    assert u1.startswith("/otstudio/video/") and u1.endswith("/a.mp4")
    assert reg.register(f, "s1") == u1  # stable while valid
    u2 = reg.register(f, "s2")
    assert u2 != u1  # one token per session
    t1, t2 = u1.split("/")[3], u2.split("/")[3]
    os.close(reg.open(t1).fd)
    clock.t += 59  # used within the ttl: renewed
    os.close(reg.open(t1).fd)
    clock.t += 59
    os.close(reg.open(t1).fd)
    clock.t += 61  # idle past the ttl: gone
    with pytest.raises(MediaRefused, match="expired"):
        reg.open(t1)
    assert reg.register(f, "s1") != u1  # a fresh token after expiry
    alive.discard("s2")  # the session ended (t2 was last used 61 s ago but ttl 60: also expired)
    u3 = reg.register(f, "s2")
    with pytest.raises(MediaRefused, match="session"):
        reg.open(u3.split("/")[3])
    with pytest.raises(MediaRefused):
        reg.open(t2)
    assert reg.revoke_session("s1") == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def served(caplog: pytest.LogCaptureFixture) -> Iterator[tuple[MediaRegistry, int]]:
    """The route in a real Starlette app under uvicorn (as Streamlit serves it), on a free port."""
    import uvicorn
    from starlette.applications import Starlette

    reg = MediaRegistry(ttl_s=600)
    app = Starlette(routes=media_routes(reg))
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info", lifespan="off")
    )
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    caplog.set_level(logging.INFO)
    try:
        yield reg, port
    finally:
        server.should_exit = True
        th.join(timeout=10)


def _get(
    port: int, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, headers=headers or {})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def test_serves_ranges_of_registered_files_only(served: tuple[MediaRegistry, int], tmp_path: Path):
    reg, port = served
    data = bytes(range(256)) * 1000  # 256 kB, bigger than one read chunk
    f = tmp_path / "clip.mp4"
    f.write_bytes(data)
    url = reg.register(f, "sess")

    status, headers, body = _get(port, url)
    assert status == 200 and body == data
    assert headers["content-type"] == "video/mp4" and headers["accept-ranges"] == "bytes"
    assert headers["content-length"] == str(len(data))
    assert "access-control-allow-origin" not in headers  # same origin: no CORS at all

    status, headers, body = _get(port, url, {"Range": "bytes=1000-200999"})
    assert status == 206 and body == data[1000:201000]
    assert headers["content-range"] == f"bytes 1000-200999/{len(data)}"
    status, headers, body = _get(port, url, {"Range": "bytes=-10"})
    assert status == 206 and body == data[-10:]

    status, headers, body = _get(port, url, method="HEAD")
    assert status == 200 and body == b"" and headers["content-length"] == str(len(data))

    status, headers, _ = _get(port, url, {"Range": f"bytes={len(data)}-"})
    assert status == 416 and headers["content-range"] == f"bytes */{len(data)}"

    other = tmp_path / "secret.txt"
    other.write_text("no")
    token = url.split("/")[3]
    assert _get(port, "/otstudio/video/not-a-token/secret.txt")[0] == 404
    # the token decides, not the name
    assert _get(port, f"/otstudio/video/{token}/secret.txt")[2] == data
    assert _get(port, "/secret.txt")[0] == 404


def test_a_registered_file_replaced_by_a_symlink_is_refused(
    served: tuple[MediaRegistry, int], tmp_path: Path
):
    reg, port = served
    f = tmp_path / "clip.mp4"
    f.write_bytes(b"video" * 100)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"do not serve")
    url = reg.register(f, "sess")
    assert _get(port, url)[0] == 200
    f.unlink()
    f.symlink_to(secret)
    status, _, body = _get(port, url)
    assert status == 404 and b"do not serve" not in body
    # a file replaced by another regular file (another inode) is refused too
    f.unlink()
    f.write_bytes(b"other")  # (another size: a reused inode number is not enough to pass)
    assert _get(port, url)[0] == 404
    # a parent directory turned into a symlink: refused
    real = tmp_path / "real"
    real.mkdir()
    g = real / "b.mp4"
    g.write_bytes(b"b" * 50)
    url_g = reg.register(g, "sess")
    assert _get(port, url_g)[0] == 200
    real.rename(tmp_path / "moved")
    (tmp_path / "real").symlink_to(tmp_path / "moved")
    assert _get(port, url_g)[0] == 404
    # registering a symlink registers its target, which is then served as itself
    link = tmp_path / "link.mp4"
    link.symlink_to(secret)
    assert reg.register(link, "sess").endswith("/secret.bin")


def test_aborted_requests_are_quiet(
    served: tuple[MediaRegistry, int], tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    reg, port = served
    f = tmp_path / "big.mp4"
    f.write_bytes(os.urandom(8 * 1024 * 1024))
    url = reg.register(f, "sess")
    for _ in range(5):  # start the body, then hang up mid-stream
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    time.sleep(1.0)
    assert _get(port, url, {"Range": "bytes=0-3"})[2] == f.read_bytes()[:4]  # still serving
    noisy = [
        r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR or "Traceback" in r.getMessage()
    ]
    assert noisy == [], [r.getMessage() for r in noisy]
