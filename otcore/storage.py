"""Where the app's files live: the data dir (default) or an object store (``s3://bucket/prefix``).

Videos, frame times, features, models and results are *stored files*. The database records each
one by its **key**: the POSIX path below the storage root (``videos/<sha256>.mp4``,
``features/<...>.npz``, ``models/...pt``, ``results/...npz``). :func:`storage_of` gives the
:class:`Storage` of a :class:`~otcore.settings.Settings`:

* :class:`LocalStorage` (no ``OTSTUDIO_STORAGE_URL``): the root is the data dir; a key is the
  file ``data_dir / key``. Nothing is copied: :meth:`~Storage.local_copy` is the file itself and
  :meth:`~Storage.commit` only turns a path into its key (exactly :mod:`otcore.paths`).
* :class:`ObjectStorage` (``OTSTUDIO_STORAGE_URL=s3://bucket/prefix``, through fsspec/s3fs): a
  key is the object ``bucket/prefix/key``. Writers write into the local *staging* folder
  (``settings.files_dir`` = ``<data dir>/cache/storage/<bucket>/<prefix>``, where
  ``settings.videos_dir`` etc. point) and :meth:`~Storage.commit` uploads the file; the written
  file stays behind as the cached copy. Readers that need a real file (decoders, ``np.load``,
  ``torch.load``) call :meth:`~Storage.local_copy`, which downloads into that same cache folder
  once (checked against the object's size). The cache may be deleted at any time
  (:meth:`~ObjectStorage.evict`). Byte ranges (the video route) are read straight from the
  object store with :meth:`~Storage.read_range`, never the whole object.

Absolute paths (e.g. features of a file outside the data dir) are local files in both modes and
are passed through unchanged. Every failure of the object store is a :class:`StorageError`
(an :class:`OSError`) with a one-line message naming the storage URL and the key.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any

from otcore.paths import data_path, data_relative

if TYPE_CHECKING:
    from otcore.settings import Settings

__all__ = [
    "Storage",
    "LocalStorage",
    "ObjectStorage",
    "ObjectInfo",
    "StorageError",
    "storage_of",
    "open_storage",
    "stored_key",
    "local_file",
    "check_key",
]

#: bytes per ranged read of an object opened with :meth:`Storage.open` (no large read-ahead)
READ_BLOCK = 256 * 1024


class StorageError(OSError):
    """The object store could not do what was asked (unreachable, denied, not a key); one line."""


@dataclass(frozen=True)
class ObjectInfo:
    """A stored file as the storage reports it: ``size`` in bytes and a version tag (``etag``:
    the object's ETag, or for a local file its size and modification time in ns)."""

    key: str
    size: int
    etag: str


def check_key(key: str) -> str:
    """``key`` when it is a storage key (a relative POSIX path without ``.``/``..`` parts),
    else :class:`StorageError`."""
    p = PurePosixPath(key)
    if not key or p.is_absolute() or "\\" in key or any(part in ("", ".", "..") for part in key.split("/")):
        raise StorageError(f"{key!r} is not a storage key (a relative path below the storage root)")
    return key


class Storage:
    """What every storage offers (see the module docstring). ``url`` names the root."""

    url: str
    #: True for an object store (files are uploaded and cached), False for the data dir
    remote: bool = False

    def commit(self, path: str | os.PathLike[str]) -> str:
        """Store the file at ``path`` (written in the staging folder or the data dir) and return
        its key (what the database records). A file outside both is kept as its absolute path."""
        raise NotImplementedError

    def put_file(self, path: str | os.PathLike[str], key: str) -> str:
        """Copy the local file ``path`` to ``key``; returns ``key``."""
        raise NotImplementedError

    def write_bytes(self, key: str, data: bytes) -> str:
        """Store ``data`` as ``key`` (replacing it); returns ``key``."""
        raise NotImplementedError

    def open(self, key: str) -> IO[bytes]:
        """``key`` opened for reading (seekable; an object is read in ranges of :data:`READ_BLOCK`)."""
        raise NotImplementedError

    def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of ``key`` (fewer at its end); only those bytes are fetched."""
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""
        raise NotImplementedError

    def info(self, key: str) -> ObjectInfo:
        """Size and version of ``key``; :class:`FileNotFoundError` when it is not stored."""
        raise NotImplementedError

    def delete(self, key: str) -> bool:
        """Remove ``key`` (and its cached copy); returns whether it was there."""
        raise NotImplementedError

    def move(self, key: str, new_key: str) -> bool:
        """Rename ``key`` to ``new_key`` (e.g. into a trash folder); returns whether it was there."""
        raise NotImplementedError

    def local_copy(self, key: str | os.PathLike[str]) -> Path:
        """A real local file holding ``key`` (for decoders and loaders that need a path). The
        returned path does not exist when nothing is stored under ``key``."""
        raise NotImplementedError


# ---------------------------------------------------------------------------- the data dir


class LocalStorage(Storage):
    """The data dir as storage: key ``k`` is the file ``root / k`` (no copies, no cache).

    ``root=None`` (a store without a data dir) treats every key as a path of its own."""

    remote = False

    def __init__(self, root: str | os.PathLike[str] | None) -> None:
        self.root = None if root is None else Path(root)
        self.url = "" if self.root is None else self.root.as_uri() if self.root.is_absolute() else str(root)

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def _path(self, key: str | os.PathLike[str]) -> Path:
        return data_path(self.root, key)

    def commit(self, path: str | os.PathLike[str]) -> str:
        return data_relative(self.root, path)

    def put_file(self, path: str | os.PathLike[str], key: str) -> str:
        dest = self._path(check_key(key))
        if Path(path).resolve() != dest.resolve():
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
            try:
                shutil.copyfile(path, tmp)
                os.replace(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)
        return key

    def write_bytes(self, key: str, data: bytes) -> str:
        dest = self._path(check_key(key))
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return key

    def open(self, key: str) -> IO[bytes]:
        return open(self._path(key), "rb")  # noqa: SIM115 - the caller closes it

    def read_range(self, key: str, start: int, end: int) -> bytes:
        with open(self._path(key), "rb") as fh:
            return os.pread(fh.fileno(), max(0, end - start), start)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def info(self, key: str) -> ObjectInfo:
        st = os.stat(self._path(key))
        return ObjectInfo(key, int(st.st_size), f"{st.st_size}-{st.st_mtime_ns}")

    def delete(self, key: str) -> bool:
        p = self._path(key)
        existed = p.is_file()
        p.unlink(missing_ok=True)
        return existed

    def move(self, key: str, new_key: str) -> bool:
        src, dst = self._path(key), self._path(new_key)
        if not src.exists():
            return False
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), str(dst))
        return True

    def local_copy(self, key: str | os.PathLike[str]) -> Path:
        return self._path(key)


# ---------------------------------------------------------------------------- an object store


class ObjectStorage(Storage):
    """An fsspec object store (``s3://bucket/prefix``) with a local cache folder.

    ``fs`` is the fsspec filesystem (an ``s3fs.S3FileSystem`` for ``s3://``); ``cache_dir`` the
    local folder that is both the staging area of writers and the cache of readers; ``data_dir``
    the data dir (a file written there directly is committed under its path below it).
    """

    remote = True

    def __init__(
        self, url: str, fs: Any, *, cache_dir: str | os.PathLike[str], data_dir: str | os.PathLike[str]
    ) -> None:
        self.url = url.rstrip("/")
        self.fs = fs
        self.base = self.url.split("://", 1)[1]
        self.cache_dir = Path(cache_dir)
        self.data_dir = Path(data_dir)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ObjectStorage({self.url!r})"

    def _full(self, key: str) -> str:
        return f"{self.base}/{check_key(key)}"

    def _fail(self, what: str, key: str, exc: BaseException) -> StorageError:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        if len(reason) > 200:
            reason = reason[:200] + "…"
        return StorageError(f"storage {self.url}: cannot {what} {key!r}: {reason}")

    @contextlib.contextmanager
    def _calling(self, what: str, key: str) -> Iterator[None]:
        try:
            yield
        except (FileNotFoundError, StorageError):
            raise
        except Exception as exc:  # noqa: BLE001 - any client failure becomes one line
            raise self._fail(what, key, exc) from None

    def _key_of(self, path: Path) -> str | None:
        p = path.resolve()
        for root in (self.cache_dir.resolve(), self.data_dir.resolve()):
            if p.is_relative_to(root):
                return p.relative_to(root).as_posix()
        return None

    def commit(self, path: str | os.PathLike[str]) -> str:
        p = Path(path)
        key = self._key_of(p)
        if key is None:
            return str(path)  # a file outside the data dir stays where it is, as before
        return self.put_file(p, key)

    def put_file(self, path: str | os.PathLike[str], key: str) -> str:
        with self._calling("upload", key):
            self.fs.put_file(str(path), self._full(key))
        return key

    def write_bytes(self, key: str, data: bytes) -> str:
        with self._calling("write", key):
            self.fs.pipe_file(self._full(key), data)
        return key

    def open(self, key: str) -> IO[bytes]:
        with self._calling("open", key):
            fh: IO[bytes] = self.fs.open(self._full(key), "rb", block_size=READ_BLOCK, cache_type="none")
        return fh

    def read_range(self, key: str, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        with self._calling("read", key):
            data: bytes = self.fs.cat_file(self._full(key), start=start, end=end)
        return data

    def exists(self, key: str) -> bool:
        try:
            self.info(key)
        except FileNotFoundError:
            return False
        return True

    def info(self, key: str) -> ObjectInfo:
        with self._calling("look up", key):
            self.fs.invalidate_cache(self._full(key))
            meta = self.fs.info(self._full(key))
        if meta.get("type") != "file":
            raise FileNotFoundError(f"{self.url}/{key} is not a stored file")
        etag = str(meta.get("ETag") or meta.get("etag") or meta.get("mtime") or "")
        return ObjectInfo(key, int(meta["size"]), etag.strip('"'))

    def delete(self, key: str) -> bool:
        existed = self.exists(key)
        with self._calling("delete", key):
            if existed:
                self.fs.rm_file(self._full(key))
        (self.cache_dir / key).unlink(missing_ok=True)
        return existed

    def move(self, key: str, new_key: str) -> bool:
        if not self.exists(key):
            return False
        with self._calling("move", key):
            self.fs.copy(self._full(key), self._full(new_key))
            self.fs.rm_file(self._full(key))
        cached = self.cache_dir / key
        if cached.is_file():
            (self.cache_dir / new_key).parent.mkdir(parents=True, exist_ok=True)
            os.replace(cached, self.cache_dir / new_key)
        return True

    def cached_path(self, key: str) -> Path:
        """Where the cached copy of ``key`` lives (whether or not it is there)."""
        return self.cache_dir / check_key(key)

    def local_copy(self, key: str | os.PathLike[str]) -> Path:
        if Path(key).is_absolute():
            return Path(key)
        key = PurePosixPath(key).as_posix()
        dest = self.cached_path(key)
        try:
            size = self.info(key).size
        except FileNotFoundError:
            dest.unlink(missing_ok=True)  # gone from the store: a stale copy must not answer for it
            return dest
        if dest.is_file() and dest.stat().st_size == size:
            with contextlib.suppress(OSError):
                os.utime(dest)  # most recently used (eviction removes the oldest first)
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.download")
        try:
            with self._calling("download", key):
                self.fs.get_file(self._full(key), str(tmp))
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest

    def cache_bytes(self) -> int:
        """Bytes held by the local cache folder."""
        return sum(p.stat().st_size for p in self.cache_dir.rglob("*") if p.is_file())

    def evict(self, keep_bytes: int = 0) -> int:
        """Delete cached copies, least recently used first, until at most ``keep_bytes`` remain
        (every stored file stays in the object store); returns the bytes freed."""
        files = [p for p in self.cache_dir.rglob("*") if p.is_file()]
        files.sort(key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in files)
        freed = 0
        for p in files:
            if total - freed <= keep_bytes:
                break
            size = p.stat().st_size
            with contextlib.suppress(OSError):
                p.unlink()
                freed += size
        return freed

    def check(self) -> None:
        """Reach the store once (list the root); :class:`StorageError` with the reason if it cannot."""
        with self._calling("reach", ""):
            self.fs.ls(self.base.split("/", 1)[0], detail=False)


# ---------------------------------------------------------------------------- from settings


def _s3_filesystem(endpoint_url: str | None) -> Any:
    try:
        import s3fs
    except ImportError as exc:
        raise StorageError(
            "OTSTUDIO_STORAGE_URL is an s3:// URL but s3fs is not installed (pip install s3fs)"
        ) from exc
    client_kwargs: dict[str, Any] = {}
    if endpoint_url:
        client_kwargs["endpoint_url"] = endpoint_url
    fs = s3fs.S3FileSystem(
        client_kwargs=client_kwargs,
        config_kwargs={"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 2}},
        use_listings_cache=False,
        default_block_size=READ_BLOCK,
        skip_instance_cache=True,
    )
    fs.retries = 3  # s3fs's own retries of a failed call (its default is 5)
    return fs


@lru_cache(maxsize=16)
def open_storage(
    storage_url: str | None, data_dir: str, cache_dir: str, endpoint_url: str | None = None
) -> Storage:
    """The storage for these values (one instance per distinct set); see :func:`storage_of`."""
    if storage_url is None:
        return LocalStorage(data_dir)
    scheme = storage_url.split("://", 1)[0]
    if scheme != "s3":
        raise StorageError(f"storage {storage_url}: unsupported scheme {scheme!r} (allowed: s3)")
    return ObjectStorage(storage_url, _s3_filesystem(endpoint_url), cache_dir=cache_dir, data_dir=data_dir)


def storage_of(settings: Settings) -> Storage:
    """The storage of ``settings``: the data dir, or ``settings.storage_url`` with its cache in
    ``settings.files_dir``."""
    return open_storage(
        settings.storage_url, str(settings.data_dir), str(settings.files_dir), settings.s3_endpoint_url
    )


def stored_key(settings: Settings, path: str | os.PathLike[str]) -> str:
    """Store a file written under ``settings.files_dir`` (``videos_dir``, ``results_dir``, ...)
    and return the key to record: its path relative to the data dir by default (nothing
    copied), else uploaded to ``settings.storage_url``."""
    return storage_of(settings).commit(path)


def local_file(settings: Settings, key: str | os.PathLike[str]) -> Path:
    """A local file for a recorded key: ``data_dir / key`` by default, else the cached copy of the
    stored object (downloaded once; absent when nothing is stored under ``key``)."""
    return storage_of(settings).local_copy(key)
