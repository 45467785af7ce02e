"""Videos: upload or import videos, watch feature extraction, see what is stored."""

import pandas as pd
import streamlit as st

from otcore import service
from otcore.store import EditLog, StoreError
from otcore.video.errors import VideoError
from otcore.video.ingest import VIDEO_EXTENSIONS
from ui.common import get_settings, get_store, require_project

settings = get_settings()
store = get_store()

st.title("Videos")
project = require_project(store)
project_id = project.id

encoder = service.choose_encoder(settings)
if encoder.offline_fallback:
    with st.expander("⚠️ No CLIP weights found: features use the small offline encoder", expanded=False):
        st.write(
            "The app runs end to end, but these features carry no pretrained semantics. "
            "Put CLIP weights in place and extract again for real proposals."
        )
        st.code(encoder.message, language=None)

st.caption(f"Upload limit: {settings.max_upload_mb} MB per file (`server.maxUploadSize`, see the README).")
uploads = st.file_uploader(
    "Upload videos",
    type=sorted(e.lstrip(".") for e in VIDEO_EXTENSIONS),
    accept_multiple_files=True,
    key="uploader",
)
done = st.session_state.setdefault("uploaded_ids", set())
for up in uploads or []:
    if up.file_id in done:
        continue
    done.add(up.file_id)
    try:
        added = service.add_video(store, settings, project_id, up, up.name)
    except VideoError as exc:
        st.error(f"**{up.name}**: {exc}")
        continue
    if added.duplicate:
        st.warning(
            f"**{up.name}** is already in this project as **{added.video.filename}**; nothing changed."
        )
    else:
        st.success(f"**{added.video.filename}** stored ({added.video.duration:.1f} s); extracting features…")

with st.expander("Import a folder of videos (large collections)"):
    folder = st.text_input("Folder on this machine", key="import_folder")
    if st.button("Import", key="import_folder_go", disabled=not folder.strip()):
        try:
            for source, added, error in service.import_folder(store, settings, project_id, folder.strip()):
                if error:
                    st.error(f"**{source.name}**: {error}")
                elif added.duplicate:
                    st.warning(f"**{source.name}** already stored as **{added.video.filename}**.")
                else:
                    st.success(f"**{source.name}** stored.")
        except VideoError as exc:
            st.error(str(exc))


@st.fragment(run_every=2.0)
def video_table() -> None:
    rows = service.video_rows(store, project_id)
    if not rows:
        st.info("No videos in this project yet.")
        return
    df = pd.DataFrame(rows)
    st.dataframe(
        df.drop(columns=["job_id"]),
        hide_index=True,
        width="stretch",
        column_config={
            "progress": st.column_config.ProgressColumn(
                "extraction", min_value=0.0, max_value=1.0, format="percent"
            ),
            "duration_s": st.column_config.NumberColumn("duration (s)", format="%.2f"),
        },
        key="videos_table",
    )
    running = [r for r in rows if r["job"] in ("queued", "running")]
    for r in running:
        c1, c2 = st.columns([4, 1])
        c1.progress(r["progress"], text=f"{r['video']}: {r['message'] or r['job']}")
        if c2.button("Cancel", key=f"cancel_{r['job_id']}"):
            service.cancel_job(store, r["job_id"])
    failed = [r for r in rows if r["job"] == "failed"]
    for r in failed:
        c1, c2 = st.columns([4, 1])
        c1.error(f"{r['video']}: feature extraction failed: {r['message']}")
        if c2.button("Retry", key=f"retry_{r['id']}"):
            service.submit_extraction(store, settings, r["id"])


video_table()


# ---- delete a video (its segments in one edit-log entry, its files to the trash; undoable)
def _delete_video(video_id: int) -> None:
    removal = service.delete_video(store, video_id)
    st.session_state["videos_removal"] = removal
    st.session_state["videos_flash"] = (
        f"Deleted **{removal.filename}** with its {removal.n_segments} segments; "
        f"{len(removal.moved)} files moved to `{removal.trash}`."
    )


def _restore_video() -> None:
    removal = st.session_state.pop("videos_removal", None)
    if removal is None:
        return
    try:
        n = service.restore_video(store, removal)
        st.session_state["videos_flash"] = f"**{removal.filename}** is back with its {n} segments."
    except StoreError as exc:
        st.session_state["videos_flash"] = f"Cannot undo: {exc}"


listed = store.list_videos(project_id)
if listed or st.session_state.get("videos_removal") is not None:
    with st.expander("Delete a video"):
        if flash := st.session_state.pop("videos_flash", None):
            st.info(flash)
        if (removal := st.session_state.get("videos_removal")) is not None:
            st.button(
                f"↶ Undo deleting {removal.filename}", key="videos_undo_delete", on_click=_restore_video
            )
        if listed:
            by_id = {v.id: v for v in listed}
            vid = st.selectbox(
                "Video",
                list(by_id),
                format_func=lambda i: f"{by_id[i].filename} (#{i})",
                key="videos_delete_pick",
            )
            n_segs = len(EditLog(store).segments(vid))
            st.caption(
                f"Deleting **{by_id[vid].filename}** deletes its {n_segs} segments (one entry in its edit "
                "history), moves its file, frame times and features to the data dir's trash and removes it "
                "from the project. Undo brings it all back while the trash holds the files."
            )
            st.button(
                f"Delete {by_id[vid].filename}",
                key="videos_delete",
                type="primary",
                on_click=_delete_video,
                args=(vid,),
            )
