"""The app's sidebar: the project selector (kept in the URL), new/rename/delete project, and
the page links (each carrying the project).

Creating a project runs in the button's callback, before any widget of the rerun exists, so
the new project is selected and listed at once (no "cannot be modified after the widget is
instantiated" error).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from otcore import service
from otcore.store import Store, StoreError
from ui.common import PROJECT_KEY
from ui.nav import (
    PAGES,
    PROJECT_PARAM,
    TIME_PARAM,
    VIDEO_PARAM,
    last_video,
    nav_params,
    set_url,
    sync_project,
)

__all__ = ["render_sidebar", "page_objects"]

_FLASH = "sidebar_flash"
_NEW_NAME = "new_project_name"


def _on_project_change(picker: str) -> None:
    chosen = st.session_state.get(picker)
    st.session_state[PROJECT_KEY] = chosen
    set_url(**{PROJECT_PARAM: chosen, VIDEO_PARAM: None, TIME_PARAM: None})


def _create(store: Store) -> None:
    name = str(st.session_state.get(_NEW_NAME) or "").strip()
    if not name:
        st.session_state[_FLASH] = ("error", "A project needs a name.")
        return
    try:
        created = store.create_project(name)
    except StoreError as exc:  # duplicate name and the like: say it, keep everything
        st.session_state[_FLASH] = ("error", str(exc))
        return
    st.session_state[PROJECT_KEY] = created.id
    st.session_state[_NEW_NAME] = ""
    set_url(**{PROJECT_PARAM: created.id, VIDEO_PARAM: None, TIME_PARAM: None})
    st.session_state[_FLASH] = ("success", f"Project **{created.name}** created and selected.")


def _rename(store: Store, project_id: int) -> None:
    try:
        name = service.rename_project(store, project_id, str(st.session_state.get("rename_project_name", "")))
        st.session_state[_FLASH] = ("success", f"Project renamed to **{name}**.")
    except StoreError as exc:
        st.session_state[_FLASH] = ("error", str(exc))


def _delete(store: Store, project_id: int) -> None:
    try:
        gone = service.delete_project(store, project_id)
    except StoreError as exc:
        st.session_state[_FLASH] = ("error", str(exc))
        return
    st.session_state.pop(PROJECT_KEY, None)
    set_url(**{PROJECT_PARAM: None, VIDEO_PARAM: None, TIME_PARAM: None})
    st.session_state[_FLASH] = ("success", f"Project **{gone.name}** deleted.")


def page_objects() -> list[Any]:
    """The ``st.Page`` of every page (Videos first and default)."""
    return [
        st.Page(script, title=title, icon=icon, url_path=path, default=(i == 0))
        for i, (script, title, icon, path) in enumerate(PAGES)
    ]


def render_sidebar(store: Store, data_dir: str) -> int | None:
    """Draw the sidebar; returns the selected project id (None without projects)."""
    with st.sidebar:
        project_id = sync_project(store, PROJECT_KEY)
        projects = store.list_projects()
        names = {p.id: p.name for p in projects}
        if projects and project_id is not None:
            ids = [p.id for p in projects]
            # keyed by the list and the choice: a project chosen elsewhere (created, deleted, a
            # link, back/forward) draws a fresh selector showing it, never a stale widget value
            picker = f"project_picker_{'-'.join(map(str, ids))}_{project_id}"
            st.selectbox(
                "Project",
                ids,
                index=ids.index(project_id),
                format_func=lambda i: names.get(i, str(i)),
                key=picker,
                on_change=_on_project_change,
                args=(picker,),
            )
        c = st.columns(2)
        with c[0].popover("New project", width="stretch"):
            st.text_input("Name", key=_NEW_NAME, placeholder="e.g. High jump")
            st.button("Create", key="create_project", on_click=_create, args=(store,))
        if project_id is not None:
            with c[1].popover("Manage", width="stretch"):
                st.text_input("New name", value=names.get(project_id, ""), key="rename_project_name")
                st.button("Rename", key="rename_project", on_click=_rename, args=(store, project_id))
                st.divider()
                summary = service.project_summary(store, project_id)
                st.caption(
                    f"Deleting **{summary.name}** removes its {summary.n_videos} videos, "
                    f"{summary.n_labels} labels, {summary.n_segments} segments and their edit history "
                    "from the store (the video files stay in the data dir). This cannot be undone."
                )
                sure = st.checkbox(f"Yes, delete {summary.name}", key=f"delete_project_sure_{project_id}")
                st.button(
                    "Delete project",
                    key="delete_project",
                    disabled=not sure,
                    type="primary",
                    on_click=_delete,
                    args=(store, project_id),
                )
        if flash := st.session_state.pop(_FLASH, None):
            kind, text = flash
            (st.success if kind == "success" else st.error)(text)
        st.divider()
        for script, title, icon, _ in PAGES:
            video = last_video(project_id) if script.endswith("annotate.py") else None
            st.page_link(script, label=title, icon=icon, query_params=nav_params(project_id, video_id=video))
        st.caption(f"Data: `{data_dir}`")
    return project_id
