"""Annotate: the video and its timeline together; mark, adjust, split, merge, delete, relabel,
accept/reject proposals, undo/redo. Every edit goes through the store's edit log."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from otcore.formats.frames import frame_span
from otcore.store import EditLog
from ui.auth import current_user
from ui.common import get_store, require_project
from ui.labels import render_label_manager
from ui.nav import TIME_PARAM, VIDEO_PARAM, last_video, remember_video, set_url, url_int, url_time
from ui.timeline import SHORTCUTS, apply_pending_edits, render_timeline, video_frame_times
from ui.unknown import render_video_unknown, unknown_lane

st.title("Annotate")

store = get_store()
project = require_project(store)
project_id = project.id
log = EditLog(store, user=current_user())

videos = store.list_videos(project_id)
if not videos:
    st.info(f"Project **{project.name}** has no videos yet: add some on the **Videos** page.")
    st.stop()

by_id = {v.id: v for v in videos}
# the URL's ?video= wins (a reload, a pasted link, "Open in Annotate"), then the last one opened here
wanted = url_int(VIDEO_PARAM)
if wanted in by_id:
    st.session_state["annotate_video"] = wanted
elif st.session_state.get("annotate_video") not in by_id:
    st.session_state["annotate_video"] = (
        last_video(project_id) if last_video(project_id) in by_id else videos[0].id
    )
start_time = url_time() if wanted in by_id else None


def _on_video_change() -> None:
    set_url(**{VIDEO_PARAM: st.session_state["annotate_video"], TIME_PARAM: None})


def _undo(video_id: int, redo: bool) -> None:
    done = log.redo(video_id) if redo else log.undo(video_id)
    st.session_state["annotate_page_msg"] = (
        ("redone" if redo else "undone") if done else ("nothing to redo" if redo else "nothing to undo")
    )


top = st.columns([3, 1, 1, 2])
video_id = top[0].selectbox(
    "Video",
    options=list(by_id),
    format_func=lambda i: f"{by_id[i].filename}  (#{i})",
    key="annotate_video",
    on_change=_on_video_change,
)
video = by_id[video_id]
remember_video(project_id, video.id)
set_url(**{VIDEO_PARAM: video.id})
timeline_key = f"timeline-{video.id}"
apply_pending_edits(log, video, key=timeline_key)  # so Undo/Redo below reflect the latest edit
top[1].button(
    "↶ Undo",
    key="annotate_undo",
    disabled=not log.can_undo(video.id),
    width="stretch",
    on_click=_undo,
    args=(video.id, False),
)
top[2].button(
    "↷ Redo",
    key="annotate_redo",
    disabled=not log.can_redo(video.id),
    width="stretch",
    on_click=_undo,
    args=(video.id, True),
)
fps_txt = f"{video.fps:.3f} fps" if video.fps else "fps unknown"
dur_txt = f"{video.duration:.3f} s" if video.duration else "duration unknown"
top[3].caption(
    f"{project.name} · {dur_txt} · {fps_txt} · {video.n_frames or '?'} frames · status {video.status}"
)
if msg := st.session_state.pop("annotate_page_msg", None):
    st.toast(msg)
if video.status in ("error", "failed"):
    st.warning(f"This video could not be processed: {video.error or 'unknown error'}")

labels = render_label_manager(store, project_id)

unknown, unknown_spans = unknown_lane(store, project_id, video)
results = render_timeline(store, log, video, key=timeline_key, start_time=start_time, unknown=unknown)
for r in results:
    if not r.ok:
        st.error(r.message)
    elif r.message.startswith(("added", "merged", "updated", "accepted")) and "merged into" in r.message:
        st.info(r.message)
render_video_unknown(store, project_id, video, unknown_spans, user=current_user())

segments = log.segments(video.id)
times = video_frame_times(store, video)
st.subheader(f"Segments ({len(segments)})")
if segments:
    starts = np.asarray([s.start for s in segments])
    ends = np.asarray([s.end for s in segments])
    spans = [frame_span(times, s.start, s.end) for s in segments]  # frames whose own time is inside
    first = np.asarray([a for a, _ in spans])
    last = np.asarray([b - 1 for _, b in spans])
    st.dataframe(
        pd.DataFrame(
            {
                "id": [s.id for s in segments],
                "label": [s.label for s in segments],
                "start (s)": starts.round(3),
                "end (s)": ends.round(3),
                "duration (s)": (ends - starts).round(3),
                "first frame": first,
                "last frame": last,
                "source": [s.source for s in segments],
                "score": [s.score for s in segments],
            }
        ),
        hide_index=True,
        width="stretch",
    )
    with st.expander("Edit a segment by numbers"):
        seg_by_id = {s.id: s for s in segments}
        sid = st.selectbox(
            "Segment",
            options=list(seg_by_id),
            key="annotate_edit_seg",
            format_func=lambda i: (
                f"#{i} {seg_by_id[i].label} [{seg_by_id[i].start:.3f}, "
                f"{seg_by_id[i].end:.3f}) {seg_by_id[i].source}"
            ),
        )
        seg = seg_by_id[sid]
        step = float(np.median(np.diff(times))) if len(times) > 1 else 0.04
        ec = st.columns(4)
        e_start = ec[0].number_input(
            "Start (s)",
            value=float(seg.start),
            min_value=0.0,
            step=step,
            format="%.3f",
            key=f"annotate_edit_start_{sid}",
        )
        e_end = ec[1].number_input(
            "End (s)",
            value=float(seg.end),
            min_value=0.0,
            step=step,
            format="%.3f",
            key=f"annotate_edit_end_{sid}",
        )
        names = [lab.name for lab in labels]
        e_label = ec[2].selectbox(
            "Label",
            options=names,
            index=names.index(seg.label) if seg.label in names else 0,
            key=f"annotate_edit_label_{sid}",
        )
        ec[3].markdown("&nbsp;")
        if ec[3].button("Save", key="annotate_edit_save"):
            try:
                log.update_segment(
                    sid, start=e_start, end=e_end, label=e_label if e_label != seg.label else None
                )
                st.rerun()
            except (ValueError, LookupError) as e:
                st.error(str(e))
        st.caption("Times snap to the nearest real frame start (end: frame start or the video's end).")
else:
    st.caption("No segments yet: press **i** at the start and **o** at the end of an action.")

st.subheader("Keyboard shortcuts")
st.caption("Click the timeline once so it has the keyboard focus (a blue outline shows it).")
st.table(pd.DataFrame(SHORTCUTS, columns=["key", "action"]))

with st.expander("Edit history"):
    hist = log.history(video.id, limit=50)
    if hist:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "id": e.id,
                        "op": e.op,
                        "state": e.state,
                        "user": e.user,
                        "when": e.created_at,
                        "segments": ", ".join(map(str, e.segment_ids)),
                    }
                    for e in hist
                ]
            ),
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("No edits yet.")
