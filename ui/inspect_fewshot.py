"""Inspect view of the few-shot model: transport-plan heatmaps (prompts × time per pyramid level) with
predicted and manual segments under them, and per prompt the frames it aligns to."""

from __future__ import annotations

import numpy as np
import streamlit as st

from otcore import service
from otcore.settings import Settings
from otcore.store import ProjectInfo, Store, VideoInfo

__all__ = ["render", "top_frames"]


def top_frames(plan: np.ndarray, k: int = 3) -> list[list[int]]:
    """For each prompt (column of a ``[T, N]`` plan), the ``k`` rows holding most of its mass."""
    order = np.argsort(-plan, axis=0)[:k]
    return [order[:, n].tolist() for n in range(plan.shape[1])]


@st.cache_data(show_spinner=False, max_entries=16)
def _thumbnails(path: str, fps: float, rows: tuple[int, ...]) -> dict[int, np.ndarray]:
    from otcore.video.decode import iter_frames

    wanted = set(rows)
    out: dict[int, np.ndarray] = {}
    i = 0
    for _, frames in iter_frames(path, fps=fps, size=96):
        for f in frames:
            if i in wanted:
                out[i] = f
            i += 1
        if len(out) == len(wanted) or i > max(wanted):
            break
    return out


def render(store: Store, settings: Settings, project: ProjectInfo, video: VideoInfo) -> None:
    """Draw the few-shot inspection of ``video`` in ``project``."""
    from otcore.store.edits import EditLog
    from otcore.viz.fewshot import plan_figure, plan_levels
    from ui.auth import current_user

    found = service.latest_fewshot_prediction(store, settings, project.id, video.id)
    if found is None:
        st.info(
            "No few-shot model has predicted this video yet: "
            "mark a few segments, then train on the Train page."
        )
        return
    data, job, result = found
    if not data.plans:
        st.info(
            f"Job {job.id} used a method without transport plans ({result.method}); "
            "train PLOT-TAL to see them."
        )
        return
    classes = list(data.class_names)
    cls = st.selectbox("Class", classes, key="inspect_fewshot_class")
    log = EditLog(store, user=current_user())
    predicted = log.segments(video.id, sources=("predicted",))
    manual = log.segments(video.id, sources=("manual", "corrected"))
    fps = data.fps
    duration = video.duration or None
    fig = plan_figure(data.plans, cls, fps, duration=duration, predicted=predicted, manual=manual)
    st.caption(
        f"Model of job {job.id} ({result.method}); each column of a level is a time cell, "
        "each row a prompt; colour = share of the cell's mass sent to the prompt."
    )
    st.plotly_chart(fig, use_container_width=True, key="inspect_fewshot_plan")

    levels = plan_levels(data.plans, cls)
    level0 = levels[0][1]
    tops = top_frames(level0, k=3)
    st.markdown("**What each prompt aligns to** (level 0, the 3 frames with most mass)")
    show = st.toggle("Show thumbnails (decodes the video)", value=False, key="inspect_fewshot_thumbs")
    thumbs: dict[int, np.ndarray] = {}
    if show:
        vpath = service.data_file(settings, video.path)
        try:
            thumbs = _thumbnails(str(vpath), fps, tuple(sorted({r for t in tops for r in t})))
        except Exception as exc:  # noqa: BLE001 - a broken video should not break the page
            st.warning(f"Could not decode thumbnails: {exc}")
    cols = st.columns(max(1, len(tops)))
    for n, (col, rows) in enumerate(zip(cols, tops)):
        with col:
            st.markdown(f"prompt {n}")
            for r in rows:
                label = f"{r / fps:.1f} s"
                if r in thumbs:
                    st.image(thumbs[r], caption=label)
                else:
                    st.caption(label)
