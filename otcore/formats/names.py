"""One sanitiser for every file name an export writes (and every name an import stores).

:func:`safe_name` turns any text (a video reference such as ``../../x.mp4`` or ``/abs/x.mp4``,
a label) into one path component: no separators, no ``..``, no drive letters, no control
characters, no characters Windows refuses, not a reserved device name, at most
:data:`MAX_NAME` characters. :class:`NameAllocator` hands out names inside one folder, making
collisions unique (``x``, ``x~2``, ... compared case-insensitively, as on macOS and Windows)
and recording every name it had to change, so that the export can report it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["MAX_NAME", "safe_name", "NameAllocator", "WrittenFiles", "inside"]

#: Longest file name written (bytes of UTF-8 are bounded by 4x this; every filesystem takes 255 bytes).
MAX_NAME = 60

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_UNSAFE = re.compile(r'[<>:"|?*\\/]')
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)


def safe_name(text: str, *, suffix: str = "", fallback: str = "unnamed", max_len: int = MAX_NAME) -> str:
    """``text`` as a single safe path component, ending in ``suffix`` (kept whole).

    The last path component of ``text`` is used when it is usable (``a/b/v.mp4`` -> ``v.mp4``);
    characters that are unsafe anywhere become ``_``; an over-long name is cut and gets a short
    hash of the full text so that two long names stay apart. Never empty, never ``.``/``..``.
    """
    raw = unicodedata.normalize("NFC", str(text))
    raw = _CONTROL.sub("", raw)
    parts = [p for p in re.split(r"[\\/]+", raw) if p.strip(" .")]
    base = parts[-1] if parts else ""
    if re.match(r"^[A-Za-z]:", base):
        base = base[2:]
    base = _UNSAFE.sub("_", base).strip().strip(".").strip()
    if not base:
        base = fallback
    if _RESERVED.match(base):
        base = f"_{base}"
    room = max_len - len(suffix)
    if len(base) > room:
        digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        base = base[: max(1, room - 9)].rstrip(" .") + "~" + digest
    return base + suffix


@dataclass
class NameAllocator:
    """Unique safe names within one folder; ``renamed`` maps each requested text whose file name
    differs from it (made safe, or made unique) to the name written."""

    used: set[str] = field(default_factory=set)
    renamed: dict[str, str] = field(default_factory=dict)

    def name(self, text: str, suffix: str = "", *, fallback: str = "unnamed") -> str:
        """A fresh safe name for ``text`` + ``suffix`` in this folder."""
        first = safe_name(text, suffix=suffix, fallback=fallback)
        got, k = first, 1
        stem = first[: len(first) - len(suffix)] if suffix else first
        tail = suffix
        if not suffix and "." in stem.strip("."):  # keep the extension last: x~2.mp4
            stem, ext = stem.rsplit(".", 1)
            tail = "." + ext
        while got.lower() in self.used:
            k += 1
            got = safe_name(stem, suffix=f"~{k}{tail}", fallback=fallback)
        self.used.add(got.lower())
        if got != text + suffix:
            self.renamed[text] = got
        return got


class WrittenFiles(list[Path]):
    """The files an export wrote (a list of paths), with ``renamed``: text -> file name for
    every name the sanitiser changed or made unique."""

    renamed: dict[str, str]

    def __init__(self, paths: list[Path] | None = None, renamed: dict[str, str] | None = None) -> None:
        super().__init__(paths or [])
        self.renamed = dict(renamed or {})


def inside(folder: Path, name: str) -> Path:
    """``folder / name``, refusing anything that would land outside ``folder`` (a last guard)."""
    target = (folder / name).resolve()
    if not target.is_relative_to(folder.resolve()) or target == folder.resolve():
        raise ValueError(f"refusing to write {name!r} outside {folder}")
    return folder / name
