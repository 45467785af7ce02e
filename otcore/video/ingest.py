"""Bring videos into the data dir safely: streamed, hashed, probed, deduplicated.

:func:`ingest_file` takes a local path or an upload stream (anything with ``.read(n)``),
copies it chunk by chunk into a temp file *in the videos dir* while computing its sha256
and enforcing the size limit, probes it, and only then renames it atomically to
``<sha256><ext>``. On any failure the temp file is removed and nothing already stored is
touched. The same content twice returns the stored file with ``duplicate=True``.

File names given by users are display names only: :func:`sanitize_filename` keeps the
base name and strips path tricks (``../``, absolute paths, drive letters, NUL and control
characters); stored files are always named by content hash.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import unicodedata
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from otcore.video.decode import VideoProbe, probe
from otcore.video.errors import EmptyFile, TooLarge, UnsafeName, VideoError

__all__ = [
    "IngestedVideo",
    "ImportResult",
    "VIDEO_EXTENSIONS",
    "CHUNK_SIZE",
    "sanitize_filename",
    "ingest_file",
    "import_folder",
    "find_stored",
]

CHUNK_SIZE = 1 << 20  # 1 MiB
VIDEO_EXTENSIONS = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".mpg",
        ".mpeg",
        ".ts",
        ".mts",
        ".wmv",
        ".flv",
        ".ogv",
        ".3gp",
    }
)
_TMP_PREFIX = ".upload-"


@dataclass(frozen=True)
class IngestedVideo:
    """A video stored in the videos dir.

    ``path`` is the stored file (``<sha256><ext>``), ``filename`` the sanitized display
    name, ``size`` in bytes, ``duplicate`` True when the content was already stored
    (nothing was written).
    """

    path: Path
    sha256: str
    filename: str
    size: int
    probe: VideoProbe
    duplicate: bool = False


@dataclass(frozen=True)
class ImportResult:
    """One file of a folder import: either ``video`` or ``error`` is set."""

    source: Path
    video: IngestedVideo | None = None
    error: VideoError | None = None

    @property
    def ok(self) -> bool:
        """True when the file was stored (or was already there)."""
        return self.video is not None


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BAD_CHARS = re.compile(r'[<>:"|?*]')


def sanitize_filename(name: str | os.PathLike[str] | None) -> str:
    """A safe display name: the last path component, without control characters or
    reserved characters, at most 200 characters. Raises :class:`UnsafeName` when nothing
    usable is left (e.g. ``".."``, ``"/"``, ``"\\0"``)."""
    raw = os.fspath(name) if name is not None else ""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    text = unicodedata.normalize("NFC", raw)
    text = _CONTROL.sub("", text)
    # Both separators count, whatever the platform the name came from.
    base = re.split(r"[\\/]", text)[-1]
    if re.match(r"^[A-Za-z]:", base):  # "C:evil.mp4"
        base = base[2:]
    base = _BAD_CHARS.sub("_", base).strip().strip(".").strip()
    if not base or set(base) <= {"."}:
        raise UnsafeName(
            f"the file name {raw!r} has no usable name once path parts and control characters are removed; "
            "rename the file (e.g. my_video.mp4) and try again"
        )
    if len(base) > 200:
        stem, ext = os.path.splitext(base)
        base = stem[: 200 - len(ext)] + ext
    return base


def _safe_ext(filename: str) -> str:
    ext = os.path.splitext(filename)[1].lower()
    if re.fullmatch(r"\.[a-z0-9]{1,5}", ext):
        return ext
    return ".video"


def find_stored(videos_dir: str | os.PathLike[str], sha256: str) -> Path | None:
    """The stored file for this content hash, if any (``<sha256>.*``)."""
    d = Path(videos_dir)
    if not d.is_dir():
        return None
    for p in sorted(d.glob(f"{sha256}.*")):
        if p.is_file() and not p.name.startswith("."):
            return p
    return None


def _chunks(src: BinaryIO | Any, chunk: int) -> Iterator[bytes]:
    while True:
        data = src.read(chunk)
        if not data:
            return
        if isinstance(data, str):
            raise TypeError("the upload stream must be opened in binary mode")
        yield data


def _limit_message(name: str, max_bytes: int) -> str:
    return (
        f"{name} is larger than the upload limit of {max_bytes / 2**20:,.0f} MB; "
        "raise the limit (OTSTUDIO_MAX_UPLOAD_MB / server.maxUploadSize) or import it from a folder"
    )


def ingest_file(
    src: str | os.PathLike[str] | BinaryIO | Any,
    filename: str | None,
    videos_dir: str | os.PathLike[str],
    max_bytes: int | None = None,
    backend: str | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> IngestedVideo:
    """Store a video (local path or binary stream) as ``videos_dir/<sha256><ext>``.

    ``filename`` is the user's name for it (defaults to the path's name); it is sanitized
    and only used for display and the extension. ``max_bytes`` is enforced while
    streaming. Raises a :class:`~otcore.video.errors.VideoError` subclass (``TooLarge``,
    ``EmptyFile``, ``NotAVideo``, ``CorruptVideo``, ``NoFrames``, ``UnsafeName``); on any
    error the temp file is removed and stored files are untouched.
    """
    path = Path(src) if isinstance(src, (str, os.PathLike)) else None
    if filename is None:
        if path is None:
            filename = getattr(src, "name", None)
        else:
            filename = path.name
    display = sanitize_filename(filename)
    if path is not None:
        sp = path
        if not sp.is_file():
            raise VideoError(f"{display}: no such file ({sp})")
        size = sp.stat().st_size
        if size == 0:
            raise EmptyFile(f"{display} is empty (0 bytes); nothing to import")
        if max_bytes is not None and size > max_bytes:
            raise TooLarge(_limit_message(display, max_bytes))
    vdir = Path(videos_dir)
    vdir.mkdir(parents=True, exist_ok=True)
    ext = _safe_ext(display)
    tmp = vdir / f"{_TMP_PREFIX}{uuid.uuid4().hex}{ext}"
    h = hashlib.sha256()
    written = 0
    try:
        fh_src: BinaryIO = open(src, "rb") if isinstance(src, (str, os.PathLike)) else src  # noqa: SIM115 - closed below
        try:
            with open(tmp, "xb") as out:
                for data in _chunks(fh_src, chunk_size):
                    written += len(data)
                    if max_bytes is not None and written > max_bytes:
                        raise TooLarge(_limit_message(display, max_bytes))
                    h.update(data)
                    out.write(data)
                out.flush()
                os.fsync(out.fileno())
        finally:
            if path is not None:
                fh_src.close()
        if written == 0:
            raise EmptyFile(f"{display} is empty (0 bytes); the upload may have failed — try again")
        sha = h.hexdigest()
        existing = find_stored(vdir, sha)
        if existing is not None:
            tmp.unlink()
            return IngestedVideo(
                existing, sha, display, written, probe(existing, backend=backend), duplicate=True
            )
        try:
            info = probe(tmp, backend=backend)
        except VideoError as e:
            # Messages name the temp file; say the user's name instead.
            raise type(e)(str(e).replace(str(tmp), display).replace(tmp.name, display)) from e
        final = vdir / f"{sha}{ext}"
        os.replace(tmp, final)
        return IngestedVideo(final, sha, display, written, info, duplicate=False)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def import_folder(
    folder: str | os.PathLike[str],
    videos_dir: str | os.PathLike[str],
    max_bytes: int | None = None,
    recursive: bool = True,
    extensions: Iterable[str] = VIDEO_EXTENSIONS,
    backend: str | None = None,
) -> Iterator[ImportResult]:
    """Ingest every video file under ``folder`` (sorted, lazily): one :class:`ImportResult`
    per file, errors reported per file instead of stopping the import."""
    root = Path(folder)
    if not root.is_dir():
        raise VideoError(f"{root} is not a folder")
    exts = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
    files = root.rglob("*") if recursive else root.glob("*")
    for p in sorted(files):
        if not p.is_file() or p.name.startswith(".") or p.suffix.lower() not in exts:
            continue
        try:
            yield ImportResult(
                p, video=ingest_file(p, p.name, videos_dir, max_bytes=max_bytes, backend=backend)
            )
        except VideoError as e:
            yield ImportResult(p, error=e)
