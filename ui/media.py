"""Video for the timeline, streamed from the app's own origin (same host and port as the app).

Why not the alternatives:

* ``st.video`` / Streamlit's media file manager reads the whole file into Python memory
  and cannot report the playhead;
* Streamlit's static serving only covers ``./static`` beside ``app.py``;
* a second HTTP server on its own port is unreachable from other machines and is mixed
  content behind an HTTPS proxy.

So the app is started through ``serve.py`` (``make run``), an ``st.App`` launcher that adds
one route, :data:`ROUTE_PREFIX` ``/otstudio/video/<token>/<name>``, to Streamlit's own
server (:func:`media_routes`). It serves **only** files registered with
:meth:`MediaRegistry.register`:

* each token is bound to one Streamlit session and one file, and expires ``ttl_s`` seconds
  after its last use (a render or a request renews it), or as soon as its session is gone;
* ``Range`` requests are answered by reading just those bytes (64 KiB at a time), so seeking
  in a long video never loads the file into memory;
* the file is opened with ``O_NOFOLLOW`` and must still be the registered regular file (same
  device, inode, size and mtime, no symlink anywhere on its path): a file replaced by a symlink is refused;
* no CORS header is sent (the request is same-origin), and a request the browser aborts
  (normal while seeking) ends quietly.

A video kept in an object store (``OTSTUDIO_STORAGE_URL``, :mod:`otcore.storage`) is registered
by its key with :meth:`MediaRegistry.register_stored`: a request is answered by ranged reads of
the object (:meth:`~otcore.storage.Storage.read_range`, at most :data:`_STORED_CHUNK` bytes each,
never more than the range asked for), so nothing is copied to the server's disk; the object's
size and ETag must still be the registered ones.

Nothing here imports streamlit (``serve.py`` imports this module before Streamlit's runtime
exists, so it must not import :mod:`ui.timeline`, whose component registers itself with the
runtime when first imported by a page); :func:`media_routes` imports Starlette lazily.
"""

from __future__ import annotations

import mimetypes
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otcore.storage import Storage

__all__ = [
    "MediaRegistry",
    "MediaRefused",
    "OpenMedia",
    "REGISTRY",
    "ROUTE_PREFIX",
    "media_routes",
    "parse_range",
]

ROUTE_PREFIX = "/otstudio/video"
_CHUNK = 64 * 1024
_STORED_CHUNK = 1024 * 1024  # one ranged GET of an object store per MiB streamed
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


class MediaRefused(Exception):
    """A request the media route does not serve (unknown or expired token, changed file)."""


@dataclass(frozen=True)
class OpenMedia:
    """An opened registered file: its descriptor (the caller closes it, :meth:`close`), size and
    type; for a stored object ``fd`` is None and ``read(first, length)`` reads a range of it."""

    fd: int | None
    size: int
    content_type: str
    read: Callable[[int, int], bytes] | None = None

    def close(self) -> None:
        """Close the descriptor (nothing to close for a stored object)."""
        if self.fd is not None:
            os.close(self.fd)


@dataclass
class _Entry:
    path: Path
    session_id: str
    identity: tuple[int, int, int, int] | tuple[int, str]  # device, inode, size, mtime (ns) | size, etag
    expires: float
    storage: Storage | None = None  # a stored object: ``path`` is its key


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _content_type(path: Path) -> str:
    return (
        _EXTRA_TYPES.get(path.suffix.lower())
        or mimetypes.guess_type(path.name)[0]
        or "application/octet-stream"
    )


class MediaRegistry:
    """The files the media route may serve, each under a per-session, expiring token.

    ``session_alive(session_id)`` (when given) is asked on every request: a token of a
    session that is gone is refused and forgotten. ``clock`` is monotonic seconds.
    """

    def __init__(
        self,
        *,
        ttl_s: float = 3600.0,
        session_alive: Callable[[str], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = float(ttl_s)
        self.session_alive = session_alive
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._by_key: dict[tuple[str, Path | str], str] = {}
        self._lock = threading.Lock()
        #: set by :func:`media_routes`: the route is part of the running server
        self.mounted = False

    def register(self, path: str | os.PathLike[str], session_id: str) -> str:
        """Allow ``session_id`` to stream ``path``; return the URL path below the app's root,
        ``/otstudio/video/<token>/<filename>``. The token stays the same while it is valid
        (each call renews it), so the browser keeps its buffered video across reruns.
        Raises :class:`FileNotFoundError` for anything but an existing regular file."""
        p = Path(path).resolve()  # the real file: later requests never follow a link
        st = os.stat(p, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            raise FileNotFoundError(f"not a regular file: {p}")
        now = self._clock()
        with self._lock:
            self._drop_expired(now)
            key = (session_id, p)
            token = self._by_key.get(key)
            if token is None:
                token = secrets.token_urlsafe(24)
                self._by_key[key] = token
            self._entries[token] = _Entry(p, session_id, _identity(st), now + self.ttl_s)
        return f"{ROUTE_PREFIX}/{token}/{p.name}"

    def register_stored(self, storage: Storage, key: str, session_id: str) -> str:
        """Allow ``session_id`` to stream the object ``key`` of ``storage`` (an object store);
        return its URL path as :meth:`register` does. Its size and ETag are recorded: a request
        after the object changed is refused. :class:`FileNotFoundError` when nothing is stored
        under ``key`` (:class:`otcore.storage.StorageError` when the store cannot be reached)."""
        info = storage.info(key)
        now = self._clock()
        with self._lock:
            self._drop_expired(now)
            by = (session_id, f"{storage.url}/{key}")
            token = self._by_key.get(by)
            if token is None:
                token = secrets.token_urlsafe(24)
                self._by_key[by] = token
            self._entries[token] = _Entry(
                Path(key), session_id, (info.size, info.etag), now + self.ttl_s, storage
            )
        return f"{ROUTE_PREFIX}/{token}/{Path(key).name}"

    def revoke_session(self, session_id: str) -> int:
        """Forget every token of a session; returns how many there were."""
        with self._lock:
            gone = [t for t, e in self._entries.items() if e.session_id == session_id]
            for t in gone:
                self._forget(t)
        return len(gone)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _forget(self, token: str) -> None:
        e = self._entries.pop(token, None)
        if e is not None:
            by: Path | str = e.path if e.storage is None else f"{e.storage.url}/{e.path.as_posix()}"
            self._by_key.pop((e.session_id, by), None)

    def _drop_expired(self, now: float) -> None:
        for t in [t for t, e in self._entries.items() if e.expires <= now]:
            self._forget(t)

    def open(self, token: str) -> OpenMedia:
        """Open the file behind a valid token (renewing it), or raise :class:`MediaRefused`."""
        now = self._clock()
        with self._lock:
            e = self._entries.get(token)
            if e is None or e.expires <= now:
                self._forget(token)
                raise MediaRefused("unknown or expired video token")
            entry = e
        if self.session_alive is not None and not self.session_alive(entry.session_id):
            with self._lock:
                self._forget(token)
            raise MediaRefused("the session of this video token has ended")
        if entry.storage is not None:
            return self._open_stored(token, entry, now)
        if os.path.realpath(entry.path) != str(entry.path):
            raise MediaRefused("the registered video's path now goes through a symlink")
        try:
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:  # gone, or a symlink now (ELOOP)
            raise MediaRefused(f"the registered video cannot be opened: {exc.strerror}") from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or _identity(st) != entry.identity:
            os.close(fd)
            raise MediaRefused("the registered video was replaced")
        with self._lock:
            if token in self._entries:
                self._entries[token].expires = now + self.ttl_s
        return OpenMedia(fd, int(st.st_size), _content_type(entry.path))

    def _open_stored(self, token: str, entry: _Entry, now: float) -> OpenMedia:
        storage, key = entry.storage, entry.path.as_posix()
        assert storage is not None
        try:
            info = storage.info(key)
        except FileNotFoundError:
            raise MediaRefused("the registered video is no longer stored") from None
        except OSError as exc:  # the object store cannot be reached: one line
            raise MediaRefused(str(exc)) from None
        if (info.size, info.etag) != entry.identity:
            raise MediaRefused("the registered video was replaced")
        with self._lock:
            if token in self._entries:
                self._entries[token].expires = now + self.ttl_s

        def read(first: int, length: int) -> bytes:
            return storage.read_range(key, first, first + length)

        return OpenMedia(None, int(info.size), _content_type(entry.path), read)


def _default_ttl() -> float:
    from otcore.settings import SettingsError, load_settings

    try:
        return max(1.0, load_settings().media_token_ttl_s)
    except SettingsError:
        return 3600.0


#: The process-wide registry used by the app and its route.
REGISTRY = MediaRegistry(ttl_s=_default_ttl())


async def _read_chunks(media: OpenMedia, first: int, length: int) -> AsyncIterator[bytes]:
    from anyio import to_thread

    pos, end = first, first + length
    while pos < end:
        if media.read is not None:
            chunk = await to_thread.run_sync(media.read, pos, min(_STORED_CHUNK, end - pos))
        else:
            assert media.fd is not None
            chunk = await to_thread.run_sync(os.pread, media.fd, min(_CHUNK, end - pos), pos)
        if not chunk:
            break
        pos += len(chunk)
        yield chunk


def media_routes(registry: MediaRegistry = REGISTRY, *, base_url: str = "") -> list[Any]:
    """The Starlette route serving ``registry`` at ``<base_url>/otstudio/video/<token>/<name>``
    (``GET`` and ``HEAD``). Marks the registry as mounted."""
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route
    from starlette.types import Receive, Scope, Send

    class _RangeResponse(Response):
        """Streams ``[first, first+length)`` of the opened media and closes it; a client that goes
        away mid-body ends the response silently."""

        def __init__(
            self, media: OpenMedia, first: int, length: int, status: int, headers: dict[str, str]
        ) -> None:
            super().__init__(status_code=status, headers=headers)
            self.media, self.first, self.length = media, first, length
            self.headers["content-length"] = str(length)

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            try:
                await send(
                    {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
                )
                if scope["method"] != "HEAD":
                    async for chunk in _read_chunks(self.media, self.first, self.length):
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            except OSError:  # the browser cancelled (seeking, closing the tab): nothing to report
                return
            finally:
                self.media.close()

    base_headers = {
        "cache-control": "private, max-age=600",
        "x-content-type-options": "nosniff",
        "cross-origin-resource-policy": "same-origin",
    }

    async def video(request: Request) -> Response:
        try:
            media = registry.open(request.path_params["token"])
        except MediaRefused as exc:
            return Response(str(exc), status_code=404, media_type="text/plain", headers=base_headers)
        try:
            rng = parse_range(request.headers.get("range"), media.size)
        except ValueError:
            media.close()
            return Response(
                b"", status_code=416, headers={**base_headers, "content-range": f"bytes */{media.size}"}
            )
        first, last = rng if rng is not None else (0, media.size - 1)
        headers = {**base_headers, "accept-ranges": "bytes", "content-type": media.content_type}
        if rng is not None:
            headers["content-range"] = f"bytes {first}-{last}/{media.size}"
        return _RangeResponse(
            media, first, max(0, last - first + 1), 206 if rng is not None else 200, headers
        )

    base = "/" + base_url.strip("/") if base_url.strip("/") else ""
    registry.mounted = True
    return [Route(f"{base}{ROUTE_PREFIX}/{{token}}/{{name}}", video, methods=["GET", "HEAD"])]
