"""Inspect: why the engine proposed what it did, per video — transport plans of the
few-shot model, phases found without labels, alignment between videos."""

import streamlit as st

from ui.common import get_settings, get_store, require_project

settings = get_settings()
store = get_store()

st.title("Inspect")
project = require_project(store)
project_id = project.id
videos = store.list_videos(project_id)
if not videos:
    st.info("This project has no videos yet: add some on the Videos page.")
    st.stop()
names = {v.id: v.filename for v in videos}
video_id = st.selectbox("Video", list(names), format_func=lambda i: names[i], key="inspect_video")
video = store.get_video(video_id)

fewshot_tab, phases_tab = st.tabs(["Few-shot model (transport plans)", "Phases, alignment, foreground"])
with fewshot_tab:
    from ui import inspect_fewshot

    inspect_fewshot.render(store, settings, project, video)
with phases_tab:
    from ui import inspect_phases

    inspect_phases.render(store, settings, project, video)
