"""The media server streams registered files with byte ranges, and nothing else."""

from __future__ import annotations

import http.client
from pathlib import Path

import pytest

from ui.timeline.media import MediaServer, parse_range


def test_parse_range():
    assert parse_range(None, 100) is None
    assert parse_range("bytes=0-9", 100) == (0, 9)
    assert parse_range("bytes=90-", 100) == (90, 99)
    assert parse_range("bytes=95-200", 100) == (95, 99)
    assert parse_range("bytes=-10", 100) == (90, 99)
    for bad in ("bytes=100-", "bytes=5-2", "items=0-1", "bytes=-", "bytes=0-1,3-4"):
        with pytest.raises(ValueError):
            parse_range(bad, 100)


@pytest.fixture()
def server():
    srv = MediaServer().start()
    yield srv
    srv.stop()


def _get(
    srv: MediaServer, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    conn.request("GET", path, headers=headers or {})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def test_serves_ranges_of_registered_files_only(server: MediaServer, tmp_path: Path):
    data = bytes(range(256)) * 1000  # 256 kB, bigger than one read chunk
    f = tmp_path / "clip.mp4"
    f.write_bytes(data)
    url = server.register(f)
    assert url.startswith("/v/") and url.endswith("/clip.mp4")
    assert server.register(f) == url  # stable token per file

    status, headers, body = _get(server, url)
    assert status == 200 and body == data
    assert headers["content-type"] == "video/mp4" and headers["accept-ranges"] == "bytes"

    status, headers, body = _get(server, url, {"Range": "bytes=1000-200999"})
    assert status == 206 and body == data[1000:201000]
    assert headers["content-range"] == f"bytes 1000-200999/{len(data)}"

    status, headers, _ = _get(server, url, {"Range": f"bytes={len(data)}-"})
    assert status == 416 and headers["content-range"] == f"bytes */{len(data)}"

    other = tmp_path / "secret.txt"
    other.write_text("no")
    token = url.split("/")[2]
    assert _get(server, "/v/not-a-token/secret.txt")[0] == 404
    assert _get(server, f"/v/{token}/../secret.txt")[1].get("content-length") == str(
        len(data)
    )  # token decides, not the name
    assert _get(server, "/secret.txt")[0] == 404
