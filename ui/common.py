"""Shared page helpers: cached settings/store and the current project.

Every page reuses these so one app process opens the store once::

    from ui.common import get_settings, get_store, current_project_id

    store = get_store()
    project_id = current_project_id(store)
"""

from __future__ import annotations

import streamlit as st

from otcore.settings import Settings, SettingsError, load_settings
from otcore.store import ProjectInfo, Store

__all__ = ["get_settings", "get_store", "current_project_id", "require_project", "PROJECT_KEY"]

#: ``st.session_state`` key holding the selected project id (set by the app's project selector).
PROJECT_KEY = "project_id"


def get_settings() -> Settings:
    """Settings resolved from the environment (``OTSTUDIO_*``); cheap, not cached on purpose
    so a test that changes ``OTSTUDIO_DATA_DIR`` between runs sees the new value. A bad
    setting shows its one-line message and stops the page."""
    try:
        return load_settings()
    except SettingsError as exc:
        st.error(f"Settings: {exc}")
        st.stop()
        raise  # st.stop raises; this keeps the type checker informed


@st.cache_resource(show_spinner=False)
def _open_store(database_url: str, data_dir: str) -> Store:
    return Store.from_settings(load_settings(data_dir))


def get_store() -> Store:
    """The process-wide :class:`otcore.store.Store` for the current settings (one per database URL)."""
    settings = get_settings()
    return _open_store(settings.database_url, str(settings.data_dir))


def current_project_id(store: Store | None = None) -> int | None:
    """The project chosen in the app's selector (``st.session_state["project_id"]``),
    else the first project in the store, else ``None`` (no project yet).

    A stale id (project deleted) falls back to the first project too.
    """
    store = store if store is not None else get_store()
    projects = list(store.list_projects())
    ids = [p.id for p in projects]
    chosen = st.session_state.get(PROJECT_KEY)
    if chosen is not None and chosen in ids:
        return int(chosen)
    return int(ids[0]) if ids else None


def require_project(store: Store | None = None) -> ProjectInfo:
    """The current project (:func:`current_project_id`); without one, say how to make one and
    stop the page."""
    store = store if store is not None else get_store()
    project_id = current_project_id(store)
    if project_id is None:
        st.info("No project yet: create one in the sidebar, then add videos on the **Videos** page.")
        st.stop()
    project = store.get_project(int(project_id)) if project_id is not None else None
    if project is None:
        st.stop()
        raise RuntimeError("unreachable: st.stop() raises")
    return project
