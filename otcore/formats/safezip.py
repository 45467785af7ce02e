"""Extracting a zip of annotation files with caps: entries, expanded size, compression ratio.

:func:`extract_zip` checks the central directory first (number of entries, declared sizes and
ratios, names that would escape the folder), then streams every member out while counting the
bytes really produced, so a zip whose headers lie stops at the cap too. Every refusal is a
:class:`~otcore.formats.model.FormatError` with a message; a partial extraction is removed.
"""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from otcore.formats.model import FormatError

__all__ = ["ZipLimits", "extract_zip"]


@dataclass(frozen=True)
class ZipLimits:
    """Caps of one zip import: member count, total expanded bytes, expanded/compressed ratio."""

    max_entries: int = 5000
    max_total_bytes: int = 256 * 2**20
    max_ratio: float = 100.0


def _member_path(name: str) -> PurePosixPath | None:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
        return None
    return p


def extract_zip(archive: Path, dest: Path, limits: ZipLimits = ZipLimits()) -> Path:
    """Extract ``archive`` into ``dest`` (created) within ``limits``; returns ``dest``."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FormatError(f"{Path(archive).name} is not a readable zip file ({exc})") from exc
    mb = limits.max_total_bytes / 2**20
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_entries:
            raise FormatError(
                f"{Path(archive).name} holds {len(infos)} entries; a zip import takes at most {limits.max_entries}"
            )
        declared = 0
        for info in infos:
            if _member_path(info.filename) is None:
                raise FormatError(f"unsafe path in zip: {info.filename!r} (absolute or with '..')")
            declared += info.file_size
            if info.compress_size and info.file_size / info.compress_size > limits.max_ratio:
                raise FormatError(
                    f"{info.filename!r} expands {info.file_size / info.compress_size:.0f}-fold; "
                    f"zip members may expand at most {limits.max_ratio:.0f}-fold (a zip bomb?)"
                )
        if declared > limits.max_total_bytes:
            raise FormatError(
                f"{Path(archive).name} expands to {declared / 2**20:.0f} MB; a zip import takes at most {mb:.0f} MB"
            )
        dest.mkdir(parents=True, exist_ok=True)
        total = 0
        try:
            for info in infos:
                rel = _member_path(info.filename)
                assert rel is not None
                target = dest.joinpath(*rel.parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    while chunk := src.read(1 << 16):
                        total += len(chunk)
                        if total > limits.max_total_bytes:
                            raise FormatError(
                                f"{Path(archive).name} expands to more than {mb:.0f} MB; a zip import "
                                f"takes at most {mb:.0f} MB"
                            )
                        out.write(chunk)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
            shutil.rmtree(dest, ignore_errors=True)
            raise FormatError(f"{Path(archive).name}: cannot extract ({exc})") from exc
        except FormatError:
            shutil.rmtree(dest, ignore_errors=True)
            raise
    return dest
