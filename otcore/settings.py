"""Every setting the app reads from the environment, resolved once per call (no global state).

:func:`load_settings` is the one place that reads ``OTSTUDIO_*`` variables. Each value is
checked (type and bounds); a bad one raises :class:`SettingsError` whose message is one line
naming the variable, the value and what is allowed. :meth:`Settings.as_env` hands a child
process (the worker) the same settings back as variables.

==============================  =================================  ==========================
variable                        field                              default
==============================  =================================  ==========================
``OTSTUDIO_DATA_DIR``           ``data_dir``                       ``~/.otstudio``
``OTSTUDIO_DATABASE_URL``       ``database_url``                   SQLite file in the data dir
``OTSTUDIO_CLIP_MODEL``         ``clip_model``                     ``ViT-B-32``
``OTSTUDIO_CLIP_PRETRAINED``    ``clip_pretrained``                ``openai``
``OTSTUDIO_CLIP_WEIGHTS``       ``clip_weights_file``              none
``OTSTUDIO_MAX_UPLOAD_MB``      ``max_upload_mb`` (1..1048576)     2048
``OTSTUDIO_DEVICE``             ``device`` (cpu, cuda, cuda:N, mps) auto
``OTSTUDIO_TRAIN_THREADS``      ``train_threads`` (1..1024)        torch's default
``OTSTUDIO_JOB_STALE_SECONDS``  ``job_stale_seconds`` (> 0)        60
``OTSTUDIO_NO_WORKER``          ``no_worker`` (0/1)                0
``OTSTUDIO_QUANTIZE``           ``quantize`` (none, int8)          none
``OTSTUDIO_TEAM``               ``team`` (0/1): login required     0
``OTSTUDIO_MEDIA_TOKEN_TTL_S``  ``media_token_ttl_s`` (> 0)        3600
``OTSTUDIO_STORAGE_URL``        ``storage_url`` (s3://bucket/pfx)  the data dir
``OTSTUDIO_S3_ENDPOINT_URL``    ``s3_endpoint_url`` (http(s) URL)  AWS's endpoint
==============================  =================================  ==========================

With a storage URL, videos, features, models and results live there (see :mod:`otcore.storage`);
the ``*_dir`` folders of :class:`Settings` then name the local staging/cache folder they are written to first
(``<data dir>/cache/storage/<bucket>/<prefix>``). S3 credentials come from the usual AWS variables
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, ...).

Left to their modules (they are read where a library needs them): ``OTSTUDIO_VIDEO_BACKEND``
(``otcore.video.decode``), the weight-resolution variables of ``otcore.video.encoders``
(``OTSTUDIO_OFFLINE``, the Hugging Face cache variables).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "Settings",
    "SettingsError",
    "load_settings",
    "env_device",
    "env_job_stale_seconds",
    "DEFAULT_STALE_SECONDS",
    "QUANTIZE_CHOICES",
]

DEFAULT_STALE_SECONDS = 60.0
QUANTIZE_CHOICES = ("none", "int8")
_MAX_UPLOAD_LIMIT = 1_048_576  # 1 TiB in MB
_DEVICE_RE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX_RE = re.compile(r"^[A-Za-z0-9._=+@, -]+$")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


class SettingsError(ValueError):
    """A setting (environment variable) has a value the app cannot use; the message is one line."""


@dataclass(frozen=True)
class Settings:
    """The resolved settings (see the module docstring for the variables)."""

    data_dir: Path
    database_url: str
    clip_model: str = "ViT-B-32"
    clip_pretrained: str = "openai"
    clip_weights_file: str | None = None
    max_upload_mb: int = 2048
    device: str | None = None
    train_threads: int | None = None
    job_stale_seconds: float = DEFAULT_STALE_SECONDS
    no_worker: bool = False
    quantize: str | None = None
    team: bool = False
    media_token_ttl_s: float = 3600.0
    storage_url: str | None = None
    s3_endpoint_url: str | None = None

    @property
    def cache_dir(self) -> Path:
        """The data dir's cache folder (everything in it may be deleted)."""
        return self.data_dir / "cache"

    @property
    def files_dir(self) -> Path:
        """Where files are written before they are stored: the data dir itself by default (so
        the stored key is the path below it), else the storage's local cache folder."""
        if self.storage_url is None:
            return self.data_dir
        bucket_and_prefix = self.storage_url.split("://", 1)[1]
        return self.cache_dir / "storage" / Path(*bucket_and_prefix.split("/"))

    @property
    def videos_dir(self) -> Path:
        return self.files_dir / "videos"

    @property
    def features_dir(self) -> Path:
        return self.files_dir / "features"

    @property
    def models_dir(self) -> Path:
        return self.files_dir / "models"

    @property
    def results_dir(self) -> Path:
        return self.files_dir / "results"

    def as_env(self) -> dict[str, str]:
        """These settings as ``OTSTUDIO_*`` variables (what a child process needs to resolve the
        same settings); unset optional values are left out."""
        env = {
            "OTSTUDIO_DATA_DIR": str(self.data_dir),
            "OTSTUDIO_DATABASE_URL": self.database_url,
            "OTSTUDIO_CLIP_MODEL": self.clip_model,
            "OTSTUDIO_CLIP_PRETRAINED": self.clip_pretrained,
            "OTSTUDIO_MAX_UPLOAD_MB": str(self.max_upload_mb),
            "OTSTUDIO_JOB_STALE_SECONDS": repr(float(self.job_stale_seconds)),
            "OTSTUDIO_NO_WORKER": "1" if self.no_worker else "0",
        }
        optional = {
            "OTSTUDIO_CLIP_WEIGHTS": self.clip_weights_file,
            "OTSTUDIO_DEVICE": self.device,
            "OTSTUDIO_TRAIN_THREADS": None if self.train_threads is None else str(self.train_threads),
            "OTSTUDIO_QUANTIZE": self.quantize,
            "OTSTUDIO_STORAGE_URL": self.storage_url,
            "OTSTUDIO_S3_ENDPOINT_URL": self.s3_endpoint_url,
        }
        env.update({k: v for k, v in optional.items() if v is not None})
        return env

    def worker_environment(self, pythonpath: str | None = None) -> dict[str, str]:
        """The environment of a worker process serving these settings: this process's
        environment with the settings written over it (and ``pythonpath`` put first)."""
        env = dict(os.environ)
        for key in (
            "OTSTUDIO_CLIP_WEIGHTS",
            "OTSTUDIO_DEVICE",
            "OTSTUDIO_TRAIN_THREADS",
            "OTSTUDIO_QUANTIZE",
            "OTSTUDIO_STORAGE_URL",
            "OTSTUDIO_S3_ENDPOINT_URL",
        ):
            env.pop(key, None)
        env.update(self.as_env())
        if pythonpath:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, env.get("PYTHONPATH")) if p)
        return env


# ---------------------------------------------------------------------------- parsing


def _get(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _int(env: Mapping[str, str], name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = _get(env, name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number (allowed: {lo}..{hi})") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name}={raw!r} is out of range (allowed: {lo}..{hi})")
    return value


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _get(env, name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(
            f"{name}={raw!r} is not a number (allowed: a positive number of seconds)"
        ) from None
    if not value > 0 or value != value or value == float("inf"):
        raise SettingsError(f"{name}={raw!r} must be a positive, finite number of seconds")
    return value


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = _get(env, name).lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise SettingsError(f"{name}={raw!r} is not a yes/no value (allowed: 1, 0, true, false)")


def _device(env: Mapping[str, str]) -> str | None:
    raw = _get(env, "OTSTUDIO_DEVICE")
    if not raw:
        return None
    if not _DEVICE_RE.match(raw.lower()):
        raise SettingsError(f"OTSTUDIO_DEVICE={raw!r} is not a device (allowed: cpu, cuda, cuda:N, mps)")
    return raw.lower()


def _quantize(env: Mapping[str, str]) -> str | None:
    raw = _get(env, "OTSTUDIO_QUANTIZE").lower()
    if raw in ("", "none"):
        return None
    if raw not in QUANTIZE_CHOICES:
        raise SettingsError(
            f"OTSTUDIO_QUANTIZE={raw!r} is not a quantization (allowed: {', '.join(QUANTIZE_CHOICES)})"
        )
    return raw


def _storage_url(env: Mapping[str, str]) -> str | None:
    raw = _get(env, "OTSTUDIO_STORAGE_URL")
    if not raw:
        return None
    allowed = "allowed: s3://bucket/prefix, or unset to keep files in the data dir"
    parts = urlsplit(raw)
    if parts.scheme.lower() != "s3":
        what = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise SettingsError(f"OTSTUDIO_STORAGE_URL={raw!r} has {what} ({allowed})")
    if parts.query or parts.fragment or parts.username or parts.password or parts.port:
        raise SettingsError(f"OTSTUDIO_STORAGE_URL={raw!r} must be only a bucket and a prefix ({allowed})")
    bucket = parts.hostname or ""
    if not _BUCKET_RE.match(bucket) or ".." in bucket:
        raise SettingsError(
            f"OTSTUDIO_STORAGE_URL={raw!r}: {bucket!r} is not an S3 bucket name "
            "(3-63 lowercase letters, digits, dots, hyphens)"
        )
    segments = [s for s in parts.path.split("/") if s]
    if any(s in (".", "..") or not _PREFIX_RE.match(s) for s in segments):
        raise SettingsError(
            f"OTSTUDIO_STORAGE_URL={raw!r}: the prefix may hold letters, digits and ._=+@,- between slashes"
        )
    return "/".join([f"s3://{bucket}", *segments])


def _endpoint_url(env: Mapping[str, str]) -> str | None:
    raw = _get(env, "OTSTUDIO_S3_ENDPOINT_URL")
    if not raw:
        return None
    parts = urlsplit(raw)
    try:
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or not port_ok:
        raise SettingsError(
            f"OTSTUDIO_S3_ENDPOINT_URL={raw!r} is not an http(s) URL (e.g. http://127.0.0.1:9000)"
        )
    return raw.rstrip("/")


def env_device(env: Mapping[str, str] | None = None) -> str | None:
    """``OTSTUDIO_DEVICE`` checked (``None`` when unset): what :func:`otcore.device.default_device`
    follows."""
    return _device(os.environ if env is None else env)


def env_job_stale_seconds(env: Mapping[str, str] | None = None) -> float:
    """``OTSTUDIO_JOB_STALE_SECONDS`` checked (default 60): what the job queue's reaper uses."""
    return _positive_float(
        os.environ if env is None else env, "OTSTUDIO_JOB_STALE_SECONDS", DEFAULT_STALE_SECONDS
    )


def load_settings(
    data_dir: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Resolve settings: explicit ``data_dir``, then the ``OTSTUDIO_*`` variables of ``env``
    (default: this process's environment), then defaults (``~/.otstudio`` and a SQLite file
    inside it). Raises :class:`SettingsError` (one line) for a value out of bounds."""
    env = os.environ if env is None else env
    root = Path(data_dir or _get(env, "OTSTUDIO_DATA_DIR") or Path.home() / ".otstudio").expanduser()
    url = _get(env, "OTSTUDIO_DATABASE_URL") or f"sqlite:///{(root / 'otstudio.db').as_posix()}"
    max_upload = _int(env, "OTSTUDIO_MAX_UPLOAD_MB", 2048, 1, _MAX_UPLOAD_LIMIT)
    assert max_upload is not None
    return Settings(
        data_dir=root,
        database_url=url,
        clip_model=_get(env, "OTSTUDIO_CLIP_MODEL") or "ViT-B-32",
        clip_pretrained=env.get("OTSTUDIO_CLIP_PRETRAINED", "openai").strip(),
        clip_weights_file=_get(env, "OTSTUDIO_CLIP_WEIGHTS") or None,
        max_upload_mb=max_upload,
        device=_device(env),
        train_threads=_int(env, "OTSTUDIO_TRAIN_THREADS", None, 1, 1024),
        job_stale_seconds=env_job_stale_seconds(env),
        no_worker=_bool(env, "OTSTUDIO_NO_WORKER"),
        quantize=_quantize(env),
        team=_bool(env, "OTSTUDIO_TEAM"),
        media_token_ttl_s=_positive_float(env, "OTSTUDIO_MEDIA_TOKEN_TTL_S", 3600.0),
        storage_url=_storage_url(env),
        s3_endpoint_url=_endpoint_url(env),
    )
