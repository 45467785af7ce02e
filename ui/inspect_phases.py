"""Inspect view without labels: phases found by ASOT/CLOT on this video, or by VASOT (joint alignment +
segmentation) on every video of the project with features (cluster lane + frame×cluster plan, turn a
cluster into a label), VAOT alignment of two videos (plan heatmap + matched frame), and CASE's
foreground curve when video-level labels exist. Jobs run in the background worker."""

from __future__ import annotations

import numpy as np
import streamlit as st

from otcore import service
from otcore.service import (
    AlignRequest,
    AlignResult,
    PhasesRequest,
    PhasesResult,
    WeakRequest,
    WeakResult,
)
from otcore.settings import Settings
from otcore.store import JobInfo, ProjectInfo, Store, VideoInfo

__all__ = ["render"]


def _job_status(store: Store, job: JobInfo | None, what: str) -> bool:
    """Show the state of a job; True when it is done. A queued or running job is polled every second
    (a fragment), and the page redraws itself when the job ends."""
    if job is None:
        return False
    if job.status == "done":
        return True
    if job.status in ("queued", "running"):
        _poll(store, job.id, what)
    else:
        st.error(f"{what} {job.status}: {job.error or job.message}")
    return False


@st.fragment(run_every=1.0)
def _poll(store: Store, job_id: int, what: str) -> None:
    job = service.get_job(store, job_id)
    if not job.active:
        st.rerun()  # the whole page: draw the result (or the error)
    st.progress(float(job.progress or 0.0), text=f"{what}: {job.status} — {job.message or ''}")


@st.cache_data(show_spinner=False, max_entries=8)
def _frame(path: str, fps: float, row: int) -> np.ndarray | None:
    from otcore.video.decode import iter_frames

    i = 0
    for _, frames in iter_frames(path, fps=fps, size=160):
        for f in frames:
            if i == row:
                return f
            i += 1
        if i > row:
            break
    return None


#: What the method box shows for each ``find_phases`` method.
PHASE_METHOD_NAMES = {
    "asot": "ASOT (this video)",
    "clot": "CLOT (this video)",
    "vasot": "VASOT (all videos with features, aligned)",
}


def _videos_with_features(store: Store, project_id: int) -> list[int]:
    """Ids of the project's videos that have extracted features."""
    return [v.id for v in store.list_videos(project_id) if store.list_video_features(v.id)]


def _latest_phases_job(store: Store, project_id: int, video_id: int, done: bool = False) -> JobInfo | None:
    """The newest ``find_phases`` job that covers ``video_id`` (alone or among ``video_ids``)."""
    status = "done" if done else None
    for job in service.list_jobs(store, project_id=project_id, kind="find_phases", status=status, limit=100):
        p = job.params or {}
        ids = [p.get("video_id")] + list(p.get("video_ids") or [])
        if any(str(i) == str(video_id) for i in ids if i is not None):
            return job
    return None


def _video_path(settings: Settings, video: VideoInfo) -> str:
    return str(service.data_file(settings, video.path))


def render(store: Store, settings: Settings, project: ProjectInfo, video: VideoInfo) -> None:
    """Draw the phases / alignment / foreground views of ``video`` in ``project``."""
    feats = service.load_video_features(store, settings, video.id)
    if feats is None:
        st.info("This video has no features yet: extract them on the Videos page first.")
        return
    _phases(store, settings, project, video)
    st.divider()
    _alignment(store, settings, project, video)
    st.divider()
    _foreground(store, settings, project, video)


def _phases(store: Store, settings: Settings, project: ProjectInfo, video: VideoInfo) -> None:
    from otcore.viz.phases import cluster_lane_figure, plan_heatmap_figure

    st.subheader("Phases (no labels needed)")
    c1, c2, c3 = st.columns([1, 1, 1])
    k = c1.number_input(
        "Number of phases K",
        min_value=2,
        max_value=40,
        value=service.default_k(store, project.id),
        key=f"phases_k_{video.id}",
    )
    with_features = _videos_with_features(store, project.id)
    methods = ["asot", "clot"] + (["vasot"] if len(with_features) >= 2 else [])
    method = c2.selectbox(
        "Method", methods, format_func=lambda m: PHASE_METHOD_NAMES.get(m, m), key=f"phases_method_{video.id}"
    )
    if len(with_features) < 2:
        c2.caption(
            "VASOT (joint alignment + segmentation) needs two or more videos with features; "
            f"this project has {len(with_features)}."
        )
    elif method == "vasot":
        c2.caption(f"VASOT trains on the project's {len(with_features)} videos with features together.")
    if c3.button("Find phases", key=f"phases_go_{video.id}", type="primary"):
        if method == "vasot":
            ordered = [int(video.id)] + [i for i in with_features if i != video.id]
            request = PhasesRequest(video_ids=tuple(ordered), k=int(k), method="vasot")
        else:
            request = PhasesRequest(video_id=int(video.id), k=int(k), method=str(method))
        service.submit_phases(store, request, project_id=project.id)
        st.toast("Finding phases in the background")
    job = _latest_phases_job(store, project.id, video.id)
    if job is None:
        st.caption("Press “Find phases” to split this video into recurring phases.")
        return
    if not _job_status(store, job, "Finding phases"):
        job = _latest_phases_job(store, project.id, video.id, done=True)
        if job is None:
            return
    result = service.job_result(job, PhasesResult)
    info = result.videos.get(video.id) if result is not None else None
    if info is None:
        return
    res = service.load_prediction(settings, info.result_path)
    if res.clusters is None:
        return
    fps = res.fps
    st.caption(f"{str(res.meta.get('method')).upper()} with K = {res.meta.get('k')} (job {job.id})")
    st.plotly_chart(cluster_lane_figure(res.clusters, fps), key=f"phases_lane_{video.id}")
    st.plotly_chart(plan_heatmap_figure(res.plans[service.PHASE_PLAN], fps), key=f"phases_plan_{video.id}")
    present = sorted(int(c) for c in np.unique(res.clusters))
    labels = [lb.name for lb in store.list_labels(project.id)]
    c1, c2, c3 = st.columns([1, 1, 1])
    cluster = c1.selectbox(
        "Cluster", present, format_func=lambda c: f"cluster {c}", key=f"phases_cluster_{video.id}"
    )
    choice = c2.selectbox("Label", labels + ["(new label)"], key=f"phases_label_{video.id}")
    new_name = (
        c2.text_input("New label name", key=f"phases_newlabel_{video.id}") if choice == "(new label)" else ""
    )
    if c3.button("Turn cluster into label", key=f"phases_apply_{video.id}"):
        name = (new_name or "").strip() if choice == "(new label)" else choice
        if not name:
            st.warning("Give the label a name.")
        else:
            ids = service.cluster_to_label(store, settings, video.id, info.result_path, int(cluster), name)
            st.success(
                f"Cluster {cluster} → “{name}”: predicted segments created ({len(ids)} active proposals); "
                "review them on the Annotate or Review page."
            )


def _alignment(store: Store, settings: Settings, project: ProjectInfo, video: VideoInfo) -> None:
    from otcore.viz.phases import alignment_figure

    st.subheader("Align two videos")
    others = [v for v in store.list_videos(project.id) if v.id != video.id]
    if not others:
        st.caption("Add a second video to align it with this one.")
        return
    names = {v.id: v.filename for v in others}
    other_id = st.selectbox(
        "Other video", list(names), format_func=lambda i: names[i], key=f"align_other_{video.id}"
    )
    if st.button("Align", key=f"align_go_{video.id}"):
        service.submit_alignment(
            store, AlignRequest(video_a=int(video.id), video_b=int(other_id)), project_id=project.id
        )
        st.toast("Aligning in the background")
    job = service.latest_job(store, project.id, "align_videos", {"video_a": video.id, "video_b": other_id})
    if job is None or not _job_status(store, job, "Alignment"):
        job = service.latest_job(
            store, project.id, "align_videos", {"video_a": video.id, "video_b": other_id}, done=True
        )
        if job is None:
            return
    result = service.job_result(job, AlignResult)
    if result is None:
        return
    res = service.load_prediction(settings, result.result_path)
    match = res.arrays["match"]
    fps_a, fps_b = res.fps, float(res.meta["fps_b"] or 0.0)
    n = int(match.shape[0])
    row = st.slider(
        "Frame of this video (feature row)", 0, max(0, n - 1), 0, key=f"align_row_{video.id}_{other_id}"
    )
    m = int(match[row])
    st.plotly_chart(
        alignment_figure(res.plans[service.ALIGN_PLAN], fps_a, fps_b, row, m), key=f"align_fig_{video.id}"
    )
    c1, c2 = st.columns(2)
    c1.caption(f"This video at {row / fps_a:.2f} s")
    other = store.get_video(other_id)
    if other is None:
        return
    if m < 0:
        c2.caption("Matched to background (dummy frame)")
    else:
        c2.caption(f"{other.filename} at {m / fps_b:.2f} s")
    try:
        fa = _frame(_video_path(settings, video), fps_a, row)
        if fa is not None:
            c1.image(fa)
        if m >= 0:
            fb = _frame(_video_path(settings, other), fps_b, m)
            if fb is not None:
                c2.image(fb)
    except Exception as err:  # a video that cannot be decoded still shows the plan
        st.caption(f"thumbnails unavailable: {err}")


def _foreground(store: Store, settings: Settings, project: ProjectInfo, video: VideoInfo) -> None:
    from otcore.store.edits import EditLog
    from otcore.viz.phases import foreground_figure
    from ui.auth import current_user

    st.subheader("Foreground (CASE, from video-level labels)")
    log = EditLog(store, user=current_user())
    labelled = [
        v for v in store.list_videos(project.id) if log.segments(v.id, sources=("manual", "corrected"))
    ]
    if not labelled:
        st.caption("Mark at least one segment in some video: its labels become video-level labels for CASE.")
        return
    if st.button("Estimate foreground", key=f"weak_go_{video.id}"):
        service.submit_foreground(store, WeakRequest(project_id=int(project.id)), project_id=project.id)
        st.toast("Estimating foreground in the background")
    job = service.latest_job(store, project.id, "weak_foreground", {"project_id": project.id})
    if job is None or not _job_status(store, job, "Foreground"):
        job = service.latest_job(store, project.id, "weak_foreground", {"project_id": project.id}, done=True)
        if job is None:
            return
    result = service.job_result(job, WeakResult)
    info = result.videos.get(video.id) if result is not None else None
    if info is None:
        st.caption("The last foreground job did not cover this video.")
        return
    res = service.load_prediction(settings, info.result_path)
    assert res.frame_scores is not None
    st.plotly_chart(
        foreground_figure(res.frame_scores, res.fps, res.arrays["p_att"], res.arrays["p_clu"]),
        key=f"weak_fig_{video.id}",
    )
