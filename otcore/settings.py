"""Settings read from the environment, resolved once per call (no global state)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings", "load_settings"]


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    clip_model: str = "ViT-B-32"
    clip_pretrained: str = "openai"
    clip_weights_file: str | None = None
    max_upload_mb: int = 2048
    #: ``"int8"``: dynamic int8 quantization of the image tower's linear layers on CPU
    #: (``OTSTUDIO_QUANTIZE``); ``None``: full precision.
    quantize: str | None = None

    @property
    def videos_dir(self) -> Path:
        return self.data_dir / "videos"

    @property
    def features_dir(self) -> Path:
        return self.data_dir / "features"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"


def load_settings(data_dir: str | os.PathLike[str] | None = None) -> Settings:
    """Resolve settings: explicit argument, then ``OTSTUDIO_*`` environment variables,
    then defaults (``~/.otstudio`` and a SQLite file inside it)."""
    root = Path(data_dir or os.environ.get("OTSTUDIO_DATA_DIR") or Path.home() / ".otstudio").expanduser()
    url = os.environ.get("OTSTUDIO_DATABASE_URL") or f"sqlite:///{(root / 'otstudio.db').as_posix()}"
    return Settings(
        data_dir=root,
        database_url=url,
        clip_model=os.environ.get("OTSTUDIO_CLIP_MODEL", "ViT-B-32"),
        clip_pretrained=os.environ.get("OTSTUDIO_CLIP_PRETRAINED", "openai"),
        clip_weights_file=os.environ.get("OTSTUDIO_CLIP_WEIGHTS") or None,
        max_upload_mb=int(os.environ.get("OTSTUDIO_MAX_UPLOAD_MB", "2048")),
        quantize=_quantize(os.environ.get("OTSTUDIO_QUANTIZE")),
    )


def _quantize(value: str | None) -> str | None:
    v = (value or "").strip().lower()
    if v in ("", "0", "none", "off", "fp32"):
        return None
    if v == "int8":
        return "int8"
    raise ValueError(f"OTSTUDIO_QUANTIZE must be 'int8' or empty, got {value!r}")
