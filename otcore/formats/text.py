"""Reading annotation files safely: bounded size, strict text decoding, bounded JSON.

Text must be UTF-8 (a BOM is accepted) unless an ``encoding`` is given; anything else gets a
message naming the first bad byte and asking for ``--encoding``, never replacement
characters. A NUL byte means a binary file. JSON that is nested too deeply, or holds a number
too large for a float, is refused with a message, never a traceback.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

from otcore.formats.model import FormatError

__all__ = ["MAX_FILE_BYTES", "MAX_JSON_DEPTH", "read_text", "load_json", "check_encoding"]

#: Largest annotation file read (ActivityNet-1.3 with all fields is about 10 MB).
MAX_FILE_BYTES = 256 * 2**20
#: Deepest JSON nesting accepted (real exports stay under 10).
MAX_JSON_DEPTH = 64


def check_encoding(encoding: str | None) -> str | None:
    """``encoding`` if Python knows it (else :class:`FormatError`)."""
    if encoding is None:
        return None
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise FormatError(f"unknown text encoding {encoding!r} (try utf-8, latin-1, cp1252)") from exc
    return encoding


def read_text(path: Path, encoding: str | None = None) -> str:
    """The text of ``path``: UTF-8 (or ``encoding``), newlines kept, size bounded."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise FormatError(
                f"{p.name} is {size / 2**20:.0f} MB; annotation files over {MAX_FILE_BYTES // 2**20} MB are refused"
            )
        data = p.read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read {p}: {exc.strerror or exc}") from exc
    if b"\x00" in data[:1_000_000] and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FormatError(f"{p.name} is a binary file (it holds NUL bytes), not an annotation file")
    enc = check_encoding(encoding) or "utf-8-sig"
    try:
        text = data.decode(enc)
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1].hex()
        raise FormatError(
            f"{p.name} is not {'UTF-8' if encoding is None else encoding} text (byte 0x{bad} at offset "
            f"{exc.start}); pass its encoding, e.g. --encoding latin-1"
        ) from exc
    if "\x00" in text:
        raise FormatError(f"{p.name} is a binary file (it holds NUL characters), not an annotation file")
    return text


def _depth_ok(obj: Any) -> bool:
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        cur, d = stack.pop()
        if d > MAX_JSON_DEPTH:
            return False
        if isinstance(cur, dict):
            stack.extend((v, d + 1) for v in cur.values())
        elif isinstance(cur, list):
            stack.extend((v, d + 1) for v in cur)
    return True


_LAST: dict[tuple[str, int, int, str | None], Any] = {}


def load_json(path: Path, encoding: str | None = None) -> Any:
    """The JSON document in ``path`` (see the module doc for what is refused). The last document
    read is remembered (format detection and reading then parse a large file once); callers
    must not modify it."""
    try:
        st = Path(path).stat()
    except OSError as exc:
        raise FormatError(f"cannot read {path}: {exc.strerror or exc}") from exc
    key = (str(Path(path).resolve()), st.st_mtime_ns, st.st_size, encoding)
    if key in _LAST:
        return _LAST[key]
    doc = _load_json(path, encoding)
    _LAST.clear()
    _LAST[key] = doc
    return doc


def _load_json(path: Path, encoding: str | None = None) -> Any:
    text = read_text(path, encoding)
    try:
        doc = json.loads(text)
    except RecursionError as exc:
        raise FormatError(
            f"{Path(path).name}: JSON nested too deeply (over {MAX_JSON_DEPTH} levels)"
        ) from exc
    except json.JSONDecodeError as exc:
        raise FormatError(f"{Path(path).name}: not valid JSON ({exc})") from exc
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise FormatError(f"{Path(path).name}: JSON holds a number that cannot be read ({exc})") from exc
    if not _depth_ok(doc):
        raise FormatError(f"{Path(path).name}: JSON nested too deeply (over {MAX_JSON_DEPTH} levels)")
    return doc
