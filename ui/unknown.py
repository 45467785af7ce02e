"""Unknown actions on the Annotate and Review pages: the threshold (stored with the scores, adjustable
here), the timeline's "unknown action" lane, the list of the strongest spans with a jump to each, and
"New label from span" (:func:`otcore.service.new_label_from_span`).

The threshold a person sets is kept in the session per scoring run (``unknown_threshold_<artifact>``),
so the Annotate lane and the Review list use the same value; a new training brings the new stored one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from otcore import service

if TYPE_CHECKING:
    from otcore.service import UnknownScores, UnknownSpanInfo
    from otcore.store import Store, VideoInfo

__all__ = [
    "threshold_input",
    "lane_payload",
    "unknown_lane",
    "render_new_label",
    "render_video_unknown",
    "render_unknown_review",
    "span_rows",
]

_HELP = (
    "Unknown score = 2 − SOT-GLP's local-global score (the two branches' maximum class "
    "probabilities): high where a stretch matches none of the labels. Spans above the threshold "
    "outside marked time are shaded; unmarked background is flagged too until it has a label."
)


def _state_key(scores: UnknownScores) -> str:
    return f"unknown_threshold_{scores.artifact_id}"


def current_threshold(scores: UnknownScores) -> float:
    """The threshold in use: the one set in this session, else the stored one."""
    return float(st.session_state.get(_state_key(scores), scores.threshold))


def threshold_input(scores: UnknownScores, *, key: str, container: Any = None) -> float:
    """A number input for the threshold (starts at the value in use); returns the value in use."""
    box = container if container is not None else st
    wkey = f"{key}_{scores.artifact_id}"
    if wkey not in st.session_state:
        st.session_state[wkey] = current_threshold(scores)

    def _sync() -> None:
        st.session_state[_state_key(scores)] = float(st.session_state[wkey])

    box.number_input(
        "Unknown-action threshold",
        min_value=0.0,
        max_value=2.0,
        step=0.01,
        format="%.3f",
        key=wkey,
        on_change=_sync,
        help=_HELP,
    )
    box.caption(f"Chosen on the marked videos: **{scores.threshold:.3f}** — {scores.rule}.")
    return current_threshold(scores)


def lane_payload(spans: list[UnknownSpanInfo], threshold: float) -> dict[str, Any]:
    """The timeline component's ``unknown`` argument."""
    return {
        "threshold": float(threshold),
        "spans": [{"start": s.start, "end": s.end, "score": round(s.score, 4)} for s in spans],
    }


def span_rows(spans: list[UnknownSpanInfo]) -> list[dict[str, Any]]:
    """Table rows of unknown spans (video, time, score)."""
    return [
        {
            "video": s.video_name,
            "start (s)": round(s.start, 3),
            "end (s)": round(s.end, 3),
            "duration (s)": round(s.end - s.start, 3),
            "score": round(s.score, 3),
            "peak": round(s.peak, 3),
        }
        for s in spans
    ]


def unknown_lane(store: Store, project_id: int, video: VideoInfo) -> tuple[dict[str, Any] | None, list[Any]]:
    """For the Annotate page, above the timeline: the lane's payload and the video's spans (None and
    ``[]`` when the project has no unknown-action scores; the threshold input sits in an expander)."""
    scores = service.latest_unknown(store, project_id)
    if scores is None:
        return None, []
    with st.expander("Unknown actions (matching none of the labels)"):
        thr = threshold_input(scores, key="annotate_unknown_thr")
    spans = service.video_unknown_spans(store, project_id, video.id, threshold=thr, scores=scores)
    return lane_payload(spans, thr), spans


def render_new_label(store: Store, project_id: int, span: UnknownSpanInfo, *, key: str, user: str) -> None:
    """A name field and the "New label from span" button for ``span``; a bad name or span is shown
    as an error and changes nothing."""
    c = st.columns([3, 2])
    name = c[0].text_input(
        "New label name", key=f"{key}_name", placeholder="e.g. spin", help="The span becomes its first mark."
    )
    c[1].markdown("&nbsp;")
    if c[1].button("New label from span", key=f"{key}_new", type="primary"):
        try:
            made = service.new_label_from_span(
                store, project_id, span.video_id, span.start, span.end, name, user=user
            )
        except service.UnknownActionError as e:
            st.error(str(e))
            return
        st.session_state["unknown_made"] = made
        st.session_state[f"{key}_msg"] = (
            f"new label **{made.label}** with its first mark [{made.start:.3f}, {made.end:.3f}) s in "
            f"{span.video_name} (one edit: Undo removes the mark)"
        )
        st.rerun()
    if msg := st.session_state.pop(f"{key}_msg", None):
        st.success(msg)


def render_video_unknown(
    store: Store, project_id: int, video: VideoInfo, spans: list[UnknownSpanInfo], *, user: str
) -> None:
    """Below the Annotate timeline: pick one of this video's unknown spans and name it."""
    if msg := st.session_state.pop(
        "annotate_unknown_msg", None
    ):  # outside: the span just named left the list
        st.success(msg)
    if not spans:
        return
    with st.expander(f"New label from span ({len(spans)} unknown spans in this video)"):
        by_i = dict(enumerate(spans))
        i = st.selectbox(
            "Span",
            options=list(by_i),
            key=f"annotate_unknown_pick_{video.id}",
            format_func=lambda k: f"[{by_i[k].start:.3f}, {by_i[k].end:.3f}) s · score {by_i[k].score:.3f}",
        )
        render_new_label(store, project_id, by_i[i], key="annotate_unknown", user=user)


def render_unknown_review(store: Store, project_id: int, *, user: str) -> None:
    """The Review page's "Unknown actions" tab: the strongest spans of the project, a jump to each
    and "New label from span"."""
    from ui.nav import open_annotate

    scores = service.latest_unknown(store, project_id)
    if scores is None:
        st.info(
            "No unknown-action scores yet. Training a few-shot model (Train page) on marks of two or "
            "more labels scores every video for stretches that match none of them."
        )
        return
    c = st.columns([1, 2])
    thr = threshold_input(scores, key="review_unknown_thr", container=c[0])
    spans = service.strongest_unknown_spans(store, project_id, threshold=thr, limit=50)
    c[1].caption(
        f"Known labels: {', '.join(scores.labels)}. {len(spans)} unknown spans at threshold {thr:.3f} "
        "(strongest first; marked time is never one)."
    )
    if not spans:
        st.caption("No span lies above the threshold: lower it to see weaker ones.")
        return
    st.dataframe(pd.DataFrame(span_rows(spans)), hide_index=True, width="stretch")
    by_i = dict(enumerate(spans))
    i = st.selectbox(
        "Unknown span",
        options=list(by_i),
        key="review_unknown_pick",
        format_func=lambda k: (
            f"{by_i[k].video_name} [{by_i[k].start:.3f}, {by_i[k].end:.3f}) s · score {by_i[k].score:.3f}"
        ),
    )
    span = by_i[i if i in by_i else 0]
    video = store.get_video(span.video_id)
    if video is not None:
        strip = service.span_strip(store, video, span.start, span.end)
        if strip is not None:
            st.image(strip.jpeg(), caption=f"unknown span in {video.filename}: {len(strip.times)} frames")
    if st.button("Open in Annotate", key="review_unknown_open"):
        open_annotate(project_id, span.video_id, span.start)
    render_new_label(store, project_id, span, key="review_unknown", user=user)
