"""The annotation timeline: a Streamlit custom component holding a ``<video>`` and a
segment timeline together in the browser.

* Frontend: ``frontend/index.html`` + ``timeline.js`` + ``timeline.css``, hand-written, no build
  step, no network, speaking the components-v1 ``postMessage`` protocol directly
  (``streamlit:componentReady`` / ``render`` / ``setComponentValue`` / ``setFrameHeight``).
  It lives in its own iframe, so its single-key shortcuts never reach Streamlit's own ones.
* Video: streamed from the app's own origin by the route of :mod:`ui.media`
  (registered per session, expiring tokens, byte ranges), never loaded into Python memory.
* Edits: only committed edits come back, as events applied through the store's edit log by
  :mod:`ui.timeline.events`; the page passes the refreshed segments back.

Use :func:`render_timeline` from a page; :data:`SHORTCUTS` is the table shown to people.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st
import streamlit.components.v1 as components

from ui.media import REGISTRY

if TYPE_CHECKING:
    from otcore.store import EditLog, Store, VideoInfo

from ui.timeline.events import EventResult, apply_events

__all__ = [
    "SHORTCUTS",
    "frame_grid_payload",
    "timeline",
    "render_timeline",
    "apply_pending_edits",
    "video_frame_times",
]

FRONTEND_DIR = Path(__file__).resolve().parent / "frontend"
_component = components.declare_component("timeline", path=str(FRONTEND_DIR))

#: Every shortcut of the timeline (key, action). The page shows this table.
SHORTCUTS: list[tuple[str, str]] = [
    ("Space or k", "play / pause"),
    ("← / →", "previous / next frame (real frame times)"),
    ("Shift+← / Shift+→", "back / forward one second (snapped to a frame)"),
    ("Home / End", "first / last frame"),
    ("[ / ]", "jump to the previous / next segment (and select it)"),
    (", / .", "slower / faster playback (0.1× … 4×)"),
    ("p", "play the selected segment in a loop (press again to stop)"),
    ("i", "mark in at the current frame"),
    ("o", "mark out at the current frame: adds a segment [in, out) with the active label"),
    ("Shift+I / Shift+O", "move the selected segment's start / end to the current frame"),
    ("1 … 9", "choose the active label (also: click a label chip or a lane)"),
    ("c", "change the selected segment's label to the active label"),
    ("s", "split the selected segment (or the one under the playhead) at the playhead"),
    ("m", "merge the selected segment with the next one in its lane"),
    ("Delete, Backspace or x", "delete the selected segment"),
    ("a", "accept the selected proposal (or the best one under the playhead), then go to the next"),
    ("r", "reject the selected proposal (or the best one under the playhead), then go to the next"),
    ("Ctrl+Z", "undo (stored: works after a reload)"),
    ("Ctrl+Shift+Z or Ctrl+Y", "redo"),
    ("+ / -", "zoom the timeline in / out around the playhead"),
    ("0", "zoom to fit the whole video"),
    ("Esc", "clear in/out marks, selection and loop"),
    (
        "mouse",
        "click the ruler or a lane to seek; drag a segment edge to move a boundary; "
        "wheel zooms at the pointer, Shift+wheel pans; drag the bottom bar to pan",
    ),
]


def frame_grid_payload(
    frame_times: Sequence[float] | np.ndarray, rel_tol: float = 0.002
) -> dict[str, Any] | list[float]:
    """The frame times as sent to the browser: ``{"uniform": {t0, step, n}}`` when every time is
    within ``rel_tol`` of a frame (0.2 %: under a millisecond at 24 fps; float32-rounded
    timestamps of a constant-rate file qualify) of an arithmetic progression, else the list of
    times (µs-rounded). Either way the edit log re-snaps every time to the stored frame times."""
    t = np.asarray(frame_times, dtype=np.float64).reshape(-1)
    if t.size >= 3:
        step = (t[-1] - t[0]) / (t.size - 1)
        dev = float(np.max(np.abs(t - (t[0] + step * np.arange(t.size))))) if step > 0 else np.inf
        if dev <= rel_tol * step:
            return {"uniform": {"t0": float(t[0]), "step": float(step), "n": int(t.size)}}
    return [round(float(x), 6) for x in t]


@st.cache_data(show_spinner=False, max_entries=64)
def _probe_frame_times(path: str, mtime: float) -> np.ndarray | None:
    try:
        from otcore.video.decode import frame_times

        return np.asarray(frame_times(path), dtype=np.float64)
    except Exception:  # noqa: BLE001 - any decoding problem: fall back to the stored fps
        return None


def video_frame_times(store: Store, video: VideoInfo) -> np.ndarray:
    """The video's real frame start times: the stored frame-times file, else probed from the
    file (cached), else (last resort) a uniform grid from the stored fps."""
    times = store.frame_times(video.id) if hasattr(store, "frame_times") else None
    if times is not None and len(times):
        return np.asarray(times, dtype=np.float64)
    path = store.resolve_path(video.path)
    if path.is_file():
        probed = _probe_frame_times(str(path), path.stat().st_mtime)
        if probed is not None and len(probed):
            return probed
    fps = float(video.fps or 25.0)
    n = int(video.n_frames or max(1, round(float(video.duration or 1.0) * fps)))
    return np.arange(n, dtype=np.float64) / fps


def timeline(
    *,
    video_id: int,
    video_url: str | None,
    frame_times: Sequence[float] | np.ndarray,
    duration: float,
    labels: Sequence[dict[str, str]],
    segments: Sequence[dict[str, Any]],
    key: str,
    acked: Sequence[str] = (),
    result: dict[str, Any] | None = None,
    select_id: int | None = None,
    active_label: str | None = None,
    thumbs: dict[str, Any] | None = None,
    start_time: float | None = None,
    unknown: dict[str, Any] | None = None,
) -> Any:
    """Mount the component; returns its raw value (``{"video_id", "events": [...]}`` or None).
    ``unknown`` (``{"spans": [{"start", "end", "score"}], "threshold"}``) adds the read-only
    "unknown action" lane (:mod:`ui.unknown`)."""
    return _component(
        video_id=video_id,
        video_url=video_url,
        frame_times=frame_grid_payload(frame_times),
        duration=float(duration),
        labels=list(labels),
        segments=list(segments),
        acked=list(acked),
        result=result,
        select_id=select_id,
        active_label=active_label,
        thumbs=thumbs,
        start_time=start_time,
        unknown=unknown,
        key=key,
        default=None,
    )


def _video_url(path: Path) -> str | None:
    """The video's URL path below the app's root, registered for this session; ``None`` when the
    file is missing or the app was not started through ``serve.py`` (no media route)."""
    if not REGISTRY.mounted or not path.is_file():
        return None
    return REGISTRY.register(path, _session_id())


def _session_id() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx else ""


def _stored_video_url(store: Store, video: VideoInfo) -> tuple[str | None, bool]:
    """``(URL, stored)`` of a video kept in an object store: streamed from there by ranges
    (nothing downloaded); ``(None, False)`` when it is not stored (or the store is unreachable)."""
    try:
        if not REGISTRY.mounted:
            return None, store.storage.exists(video.path)
        return REGISTRY.register_stored(store.storage, video.path, _session_id()), True
    except OSError:  # not stored, or the object store cannot be reached
        return None, False


def _segment_json(s: Any) -> dict[str, Any]:
    return {
        "id": int(s.id),
        "label": s.label,
        "start": float(s.start),
        "end": float(s.end),
        "source": s.source,
        "score": None if s.score is None else float(s.score),
    }


def _thumbs_payload(store: Store, video: VideoInfo) -> dict[str, Any] | None:
    """The thumbnail strip as the component draws it (a JPEG sprite as a data URL), or None."""
    import base64

    from otcore import service

    strip = service.timeline_strip(store, video)
    if strip is None:
        return None
    data = base64.b64encode(strip.jpeg()).decode("ascii")
    return {
        "src": "data:image/jpeg;base64," + data,
        "times": list(strip.times),
        "width": strip.width,
        "height": strip.height,
    }


def _applier(log: EditLog, video: VideoInfo, key: str, user: str) -> Any:
    seen: set[str] = st.session_state.setdefault(f"{key}::seen", set())
    acked: list[str] = st.session_state.setdefault(f"{key}::acked", [])

    def _apply(value: Any) -> list[EventResult]:
        res = apply_events(log, int(video.id), value, seen, user=user)
        for r in res:
            acked.append(r.event_id)
        del acked[:-200]
        if res:
            st.session_state[f"{key}::last"] = res[-1]
            st.session_state.setdefault(f"{key}::results", []).extend(res)
        return res

    return _apply


def apply_pending_edits(
    log: EditLog, video: VideoInfo, *, key: str | None = None, user: str | None = None
) -> None:
    """Apply the edits the browser sent before this rerun now, so what the page draws above the
    timeline (Undo/Redo, counts) already reflects them; :func:`render_timeline` reports them."""
    key = key or f"timeline-{video.id}"
    _applier(log, video, key, user or str(getattr(log, "user", "local")))(st.session_state.get(key))


def render_timeline(
    store: Store,
    log: EditLog,
    video: VideoInfo,
    *,
    key: str | None = None,
    user: str | None = None,
    start_time: float | None = None,
    unknown: dict[str, Any] | None = None,
) -> list[EventResult]:
    """Apply the component's pending edits for ``video`` through ``log``, then draw the
    component with the refreshed segments (proposals hidden by
    :func:`otcore.review.visible_proposals` left out, a thumbnail strip above the lanes).
    Returns the results of the edits applied in this run. ``user`` (default: the log's user) is
    the author recorded on the edits; ``unknown``: the unknown-action lane's payload, or None."""
    from otcore.review import visible_proposals

    key = key or f"timeline-{video.id}"
    _apply = _applier(log, video, key, user or str(getattr(log, "user", "local")))
    _apply(st.session_state.get(key))  # the value the browser sent before this rerun
    results: list[EventResult] = st.session_state.pop(f"{key}::results", [])
    last: EventResult | None = st.session_state.get(f"{key}::last")
    labels = [{"name": lab.name, "color": lab.color} for lab in store.list_labels(video.project_id)]
    segments = [_segment_json(s) for s in visible_proposals(log.segments(video.id))]
    times = video_frame_times(store, video)
    duration = float(video.duration or (times[-1] if len(times) else 0.0))
    storage = getattr(store, "storage", None)
    if storage is not None and storage.remote and not Path(video.path).is_absolute():
        url, exists = _stored_video_url(store, video)
    else:
        path = store.resolve_path(video.path)
        url, exists = _video_url(path), path.is_file()
    if url is None and exists:
        st.warning("The video plays when the app is started with `make run` (`streamlit run serve.py`).")
    value = timeline(
        video_id=int(video.id),
        video_url=url,
        frame_times=times,
        duration=duration,
        labels=labels,
        segments=segments,
        key=key,
        acked=st.session_state.get(f"{key}::acked", []),
        result=last.to_json() if last else None,
        select_id=next((r.select_id for r in reversed(results) if r.ok and r.select_id is not None), None),
        thumbs=_thumbs_payload(store, video),
        start_time=start_time,
        unknown=unknown,
    )
    late = _apply(value)  # only if the value was not visible in session state before the mount
    if late:
        st.rerun()
    return results
