"""Apply the timeline component's edit events to the store's edit log (no streamlit here).

The browser sends ``{"video_id": int, "events": [ {id, op, video_id, ...}, ... ]}``: the
queue of edits it has not seen acknowledged yet. :func:`apply_events` applies, in order,
the events whose ``id`` is not in ``seen`` (so a rerun never applies an edit twice), marks
each one seen whatever the outcome (a refused edit is reported, not retried), and returns
one :class:`EventResult` per applied event.

Events (times in seconds; the edit log snaps them to the video's real frame times):

======== ===========================================================
op       fields
======== ===========================================================
add      label, start, end
update   seg_id, and any of start, end, label
split    seg_id, t
merge    a_id, b_id
delete   seg_id
accept   seg_id
reject   seg_id
undo     (none)
redo     (none)
======== ===========================================================
"""

from __future__ import annotations

import math
from collections.abc import Iterable, MutableSet
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["EventResult", "EditLogLike", "apply_event", "apply_events", "OPS"]

OPS = ("add", "update", "split", "merge", "delete", "accept", "reject", "undo", "redo")


class EditLogLike(Protocol):
    """The part of :class:`otcore.store.edits.EditLog` the timeline uses."""

    def add_segment(
        self,
        video_id: int,
        label: str,
        start: float,
        end: float,
        source: str = ...,
        score: float | None = ...,
        user: str = ...,
    ) -> Any: ...
    def update_segment(
        self, seg_id: int, start: float | None = ..., end: float | None = ..., label: str | None = ...
    ) -> Any: ...
    def delete_segment(self, seg_id: int) -> Any: ...
    def split_segment(self, seg_id: int, t: float) -> Any: ...
    def merge_segments(self, a_id: int, b_id: int) -> Any: ...
    def accept(self, seg_id: int) -> Any: ...
    def reject(self, seg_id: int) -> Any: ...
    def undo(self, video_id: int) -> Any: ...
    def redo(self, video_id: int) -> Any: ...


@dataclass(frozen=True)
class EventResult:
    """What became of one event: ``ok`` and a message for the person; ``select_id`` is the
    segment the timeline should select afterwards (the new one after ``add``)."""

    event_id: str
    op: str
    ok: bool
    message: str
    select_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The shape sent back to the component."""
        return {"event_id": self.event_id, "op": self.op, "ok": self.ok, "message": self.message}


def _seg_id(ev: dict[str, Any], name: str = "seg_id") -> int:
    v = ev.get(name)
    if isinstance(v, bool) or not isinstance(v, int | str) or not str(v).lstrip("-").isdigit():
        raise ValueError(f"{name} must be a saved segment id, got {v!r}")
    return int(v)


def _time(ev: dict[str, Any], name: str, required: bool = True) -> float | None:
    v = ev.get(name)
    if v is None and not required:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
        raise ValueError(f"{name} must be a finite number of seconds, got {v!r}")
    return float(v)


def _id_of(ret: Any) -> int | None:
    if isinstance(ret, bool):
        return None
    if isinstance(ret, int):
        return ret
    v = getattr(ret, "id", None)
    return v if isinstance(v, int) else None


def _merged_into(log: EditLogLike, video_id: int, seg_id: int | None) -> str | None:
    """``"merged into <label> [a, b)"`` when the newest edit of the video touched more than one
    segment and left ``seg_id`` standing (it absorbed same-label neighbours), else None."""
    history, get = getattr(log, "history", None), getattr(log, "get_segment", None)
    if seg_id is None or history is None or get is None:
        return None
    try:
        last = history(video_id, limit=1)
        seg = get(seg_id)
    except Exception:  # noqa: BLE001 - the message is a courtesy; the edit itself succeeded
        return None
    if not last or seg is None or len(getattr(last[0], "segment_ids", ())) < 2:
        return None
    return f"merged into {seg.label} [{float(seg.start):.3f}, {float(seg.end):.3f})"


def apply_event(log: EditLogLike, video_id: int, ev: dict[str, Any], user: str = "local") -> EventResult:
    """Apply one event for ``video_id`` through ``log``; never raises for a refused edit."""
    eid = str(ev.get("id", ""))
    op = str(ev.get("op", ""))
    if ev.get("video_id") is not None and ev.get("video_id") != video_id:
        return EventResult(eid, op, False, "ignored: the edit was made on another video")
    try:
        if op == "add":
            label = str(ev.get("label") or "").strip()
            if not label:
                raise ValueError("choose a label first")
            start, end = _time(ev, "start"), _time(ev, "end")
            ret = log.add_segment(video_id, label, start, end, source="manual", user=user)
            new_id = _id_of(ret)
            merged = _merged_into(log, video_id, new_id)
            text = f"added {label} [{start:.3f}, {end:.3f}), {merged}" if merged else None
            return EventResult(eid, op, True, text or f"added {label} [{start:.3f}, {end:.3f})", new_id)
        if op == "update":
            sid = _seg_id(ev)
            label = ev.get("label")
            log.update_segment(
                sid,
                start=_time(ev, "start", False),
                end=_time(ev, "end", False),
                label=str(label) if label else None,
            )
            merged = _merged_into(log, video_id, sid)
            return EventResult(
                eid, op, True, f"updated segment {sid}" + (f", {merged}" if merged else ""), sid
            )
        if op == "split":
            sid = _seg_id(ev)
            t = _time(ev, "t")
            log.split_segment(sid, t)
            return EventResult(eid, op, True, f"split segment {sid} at {t:.3f} s", sid)
        if op == "merge":
            a, b = _seg_id(ev, "a_id"), _seg_id(ev, "b_id")
            ret = log.merge_segments(a, b)
            kept = _id_of(ret) or a
            merged = _merged_into(log, video_id, kept)
            return EventResult(
                eid, op, True, f"merged segments {a} and {b}" + (f": {merged}" if merged else ""), kept
            )
        if op == "delete":
            sid = _seg_id(ev)
            log.delete_segment(sid)
            return EventResult(eid, op, True, f"deleted segment {sid}")
        if op == "accept":
            sid = _seg_id(ev)
            log.accept(sid)
            merged = _merged_into(log, video_id, sid)
            return EventResult(
                eid,
                op,
                True,
                f"accepted proposal {sid}" + (f", {merged}" if merged else ""),
                sid if merged else None,
            )
        if op == "reject":
            sid = _seg_id(ev)
            log.reject(sid)
            return EventResult(eid, op, True, f"rejected proposal {sid}")
        if op == "undo":
            ret = log.undo(video_id)
            return EventResult(eid, op, True, "undone" if ret not in (None, False) else "nothing to undo")
        if op == "redo":
            ret = log.redo(video_id)
            return EventResult(eid, op, True, "redone" if ret not in (None, False) else "nothing to redo")
        return EventResult(eid, op, False, f"unknown edit {op!r}")
    except (ValueError, LookupError, TypeError) as e:
        return EventResult(eid, op, False, f"{op} refused: {e}")
    except Exception as e:  # noqa: BLE001 - store errors of any kind are shown, not raised into the page
        return EventResult(eid, op, False, f"{op} failed: {type(e).__name__}: {e}")


def apply_events(
    log: EditLogLike, video_id: int, value: Any, seen: MutableSet[str], user: str = "local"
) -> list[EventResult]:
    """Apply the not-yet-seen events of a component value (see module doc), in order."""
    if not isinstance(value, dict):
        return []
    events: Iterable[Any] = value.get("events") or []
    out: list[EventResult] = []
    for ev in events:
        if not isinstance(ev, dict) or not ev.get("id"):
            continue
        eid = str(ev["id"])
        if eid in seen:
            continue
        seen.add(eid)
        out.append(apply_event(log, video_id, ev, user=user))
    return out
