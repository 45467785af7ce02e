"""A tiny range-capable HTTP server that streams registered video files to the browser.

Why not the alternatives:

* ``st.video`` / Streamlit's media file manager reads the whole file into Python memory
  and cannot report the playhead;
* Streamlit's static serving only covers ``./static`` beside ``app.py``;
* a custom component's own ``path`` serves only its frontend folder.

So the app starts (once per process, through ``st.cache_resource``) a
:class:`ThreadingHTTPServer` on a free port of the loopback interface. It serves **only**
files registered with :meth:`MediaServer.register`, each under an unguessable token, and
answers HTTP ``Range`` requests by reading the requested bytes from disk (64 KiB chunks),
so seeking in a long video never loads the file into memory. It needs no network: the
browser, the app and the files are on the same machine.

Nothing here imports streamlit, so it is usable and testable on its own.
"""

from __future__ import annotations

import mimetypes
import os
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = ["MediaServer", "parse_range"]

_CHUNK = 64 * 1024
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
_EXTRA_TYPES = {
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".avi": "video/x-msvideo",
    ".ogv": "video/ogg",
}


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Parse a single-range ``Range: bytes=a-b`` header into an inclusive ``(first, last)``.

    Returns ``None`` when there is no header (whole file). Raises :class:`ValueError`
    for a malformed or unsatisfiable range (the server answers 416).
    Suffix ranges ``bytes=-n`` (the last ``n`` bytes) are supported.
    """
    if not header:
        return None
    m = _RANGE_RE.match(header.strip())
    if not m or (m.group(1) == "" and m.group(2) == ""):
        raise ValueError(f"unsupported range {header!r}")
    if m.group(1) == "":
        n = int(m.group(2))
        if n == 0:
            raise ValueError("empty suffix range")
        return max(0, size - n), size - 1
    first = int(m.group(1))
    last = int(m.group(2)) if m.group(2) else size - 1
    last = min(last, size - 1)
    if first >= size or first > last:
        raise ValueError(f"unsatisfiable range {header!r} for size {size}")
    return first, last


class MediaServer:
    """Serve registered files over HTTP with byte ranges, from a daemon thread.

    >>> srv = MediaServer().start()          # doctest: +SKIP
    >>> url_path = srv.register("/data/videos/a.mp4")   # "/v/<token>/a.mp4"
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._files: dict[str, Path] = {}
        self._tokens: dict[Path, str] = {}
        self._lock = threading.Lock()
        self._host = host
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound TCP port (after :meth:`start`)."""
        if self._httpd is None:
            raise RuntimeError("media server not started")
        return int(self._httpd.server_address[1])

    @property
    def host(self) -> str:
        """The interface the server listens on."""
        return self._host

    def register(self, path: str | os.PathLike[str]) -> str:
        """Allow ``path`` to be served; return its URL path ``/v/<token>/<filename>`` (stable per file)."""
        p = Path(path).resolve()
        with self._lock:
            token = self._tokens.get(p)
            if token is None:
                token = secrets.token_urlsafe(16)
                self._tokens[p] = token
                self._files[token] = p
        return f"/v/{token}/{p.name}"

    def resolve(self, url_path: str) -> Path | None:
        """The registered file for a URL path, or ``None``."""
        parts = url_path.split("?", 1)[0].split("/")
        if len(parts) < 3 or parts[1] != "v":
            return None
        with self._lock:
            return self._files.get(parts[2])

    def start(self) -> MediaServer:
        """Bind and serve in a daemon thread; returns ``self``."""
        if self._httpd is not None:
            return self
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
                return

            def do_HEAD(self) -> None:  # noqa: N802 - stdlib naming
                self._serve(body=False)

            def do_GET(self) -> None:  # noqa: N802 - stdlib naming
                self._serve(body=True)

            def _serve(self, body: bool) -> None:
                path = server.resolve(self.path)
                if path is None or not path.is_file():
                    self.send_error(404, "not a registered video")
                    return
                size = path.stat().st_size
                try:
                    rng = parse_range(self.headers.get("Range"), size)
                except ValueError:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                first, last = rng if rng is not None else (0, size - 1)
                length = max(0, last - first + 1)
                ctype = _EXTRA_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
                self.send_response(206 if rng is not None else 200)
                self.send_header("Content-Type", ctype or "application/octet-stream")
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(length))
                if rng is not None:
                    self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
                self.send_header("Cache-Control", "private, max-age=3600")
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                if not body:
                    return
                try:
                    with path.open("rb") as f:
                        f.seek(first)
                        remaining = length
                        while remaining > 0:
                            chunk = f.read(min(_CHUNK, remaining))
                            if not chunk:
                                break
                            self.wfile.write(chunk)
                            remaining -= len(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the browser cancelled (normal while seeking)

        httpd = ThreadingHTTPServer((self._host, self._port), Handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name="otstudio-media", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
