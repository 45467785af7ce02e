"""The one codec between a job's typed request/result and the JSON of its row.

A request or result is a frozen dataclass whose fields are JSON scalars (``int``, ``float``,
``str``, ``bool``, ``None``), tuples/lists of them, ``dict[str | int, ...]`` of them, or nested
frozen dataclasses of the same kind. :func:`to_json` writes one as a JSON-able ``dict``;
:func:`from_json` reads it back, converting and checking every field against its annotation.
A request names its job kind in a ``kind`` class variable.

A bad value raises :class:`JobSpecError` with one line naming the field and what it expected.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, TypeVar, get_args, get_origin, get_type_hints

__all__ = ["JobSpecError", "JobRequest", "to_json", "from_json"]

T = TypeVar("T")


class JobSpecError(ValueError):
    """A job's stored parameters or result do not fit its typed request/result."""


class JobRequest(Protocol):
    """What every job request has: the kind of job it asks for."""

    kind: ClassVar[str]


def to_json(obj: Any) -> dict[str, Any]:
    """A frozen dataclass as a JSON-able dict (tuples become lists, dict keys strings). Fields
    that are ``None`` are left out (the row holds what was set; :func:`from_json` fills the
    defaults back in)."""
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        raise JobSpecError(f"expected a dataclass instance, got {type(obj).__name__}")
    out = _encode(obj)
    assert isinstance(out, dict)
    return out


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _encode(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None
        }
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise JobSpecError(f"{type(value).__name__} is not JSON-able")


def from_json(cls: type[T], data: Mapping[str, Any] | None, *, strict: bool = True) -> T:
    """Build ``cls`` (a dataclass) from its JSON form. ``strict``: an unknown key is an error
    (a request with a misspelt parameter fails); otherwise unknown keys are ignored (a result
    written by an older version still reads)."""
    return _decode_dataclass(cls, dict(data or {}), strict, cls.__name__)


def _decode_dataclass(cls: type[T], data: Mapping[str, Any], strict: bool, where: str) -> T:
    if not isinstance(data, Mapping):
        raise JobSpecError(f"{where}: expected an object, got {type(data).__name__}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if strict and unknown:
        raise JobSpecError(
            f"{where}: unknown parameter(s) {', '.join(unknown)} (known: {', '.join(sorted(fields))})"
        )
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise JobSpecError(f"{where}: missing parameter {name!r}")
            continue
        values[name] = _decode(hints[name], data[name], strict, f"{where}.{name}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise JobSpecError(f"{where}: {exc}") from exc


def _decode(tp: Any, value: Any, strict: bool, where: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _decode(arg, value, strict, where)
            except JobSpecError as exc:
                errors.append(str(exc))
        raise JobSpecError(errors[0] if errors else f"{where}: expected a value, got None")
    if dataclasses.is_dataclass(tp):
        return _decode_dataclass(tp, value, strict, where)  # type: ignore[arg-type]
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise JobSpecError(f"{where}: expected a list, got {type(value).__name__}")
        args = get_args(tp)
        item = args[0] if args else Any
        items = [_decode(item, v, strict, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise JobSpecError(f"{where}: expected an object, got {type(value).__name__}")
        key_t, val_t = get_args(tp) or (str, Any)
        return {
            _decode(key_t, k, strict, where): _decode(val_t, v, strict, f"{where}[{k!r}]")
            for k, v in value.items()
        }
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise JobSpecError(f"{where}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise JobSpecError(f"{where}: expected a whole number, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise JobSpecError(f"{where}: expected a whole number, got {value!r}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise JobSpecError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise JobSpecError(f"{where}: expected text, got {value!r}")
    raise JobSpecError(f"{where}: cannot read a value of type {tp!r}")
