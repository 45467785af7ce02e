"""Where the person is, kept in the URL: ``?project=<id>&video=<id>&t=<seconds>`` plus the
page's path (``/annotate``). A reload, back/forward or a pasted link opens the same place.

The URL wins over the session when they differ (a pasted link, back/forward); the widgets
write the URL as soon as they change (``on_change`` callbacks, before the rerun). Every
internal navigation (the sidebar's page links, "Open in Annotate") carries the project, and
the Annotate link the last video opened in that project.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from otcore.store import Store

__all__ = [
    "PROJECT_PARAM",
    "VIDEO_PARAM",
    "TIME_PARAM",
    "PAGES",
    "sync_project",
    "url_int",
    "url_time",
    "set_url",
    "remember_video",
    "last_video",
    "nav_params",
    "open_annotate",
]

PROJECT_PARAM = "project"
VIDEO_PARAM = "video"
TIME_PARAM = "t"
_LAST_VIDEO = "nav_last_video"  # {project_id: video_id}, survives pages that hide the video picker

#: (script, title, icon, url path) of every page, in the sidebar's order. The url paths differ
#: from the file names on purpose: Streamlit serves a path named like a file in ``pages/`` as
#: that script alone (its old multipage mode), without this app's sidebar, so a reload or a
#: pasted link of such a path would lose the project selector.
PAGES: tuple[tuple[str, str, str, str], ...] = (
    ("pages/videos.py", "Videos", ":material/movie:", "video-library"),
    ("pages/annotate.py", "Annotate", ":material/edit:", "annotation"),
    ("pages/train.py", "Train", ":material/model_training:", "training"),
    ("pages/inspect.py", "Inspect", ":material/insights:", "inspection"),
    ("pages/review.py", "Review & Export", ":material/fact_check:", "review-export"),
)


def url_int(name: str) -> int | None:
    """The integer query parameter ``name``, None when missing or not a whole number."""
    raw = st.query_params.get(name)
    if raw is None or not str(raw).strip().lstrip("-").isdigit():
        return None
    return int(str(raw).strip())


def url_time(name: str = TIME_PARAM) -> float | None:
    """A non-negative time in seconds from the URL, None when missing or not a number."""
    raw = st.query_params.get(name)
    try:
        t = float(str(raw))
    except (TypeError, ValueError):
        return None
    return t if t >= 0 and t == t and t != float("inf") else None


def set_url(**params: Any) -> None:
    """Set (value) or remove (None) query parameters, leaving the others as they are."""
    for k, v in params.items():
        if v is None:
            if k in st.query_params:
                del st.query_params[k]
        elif st.query_params.get(k) != str(v):
            st.query_params[k] = str(v)


def sync_project(store: Store, key: str) -> int | None:
    """Reconcile the project between URL and session (``st.session_state[key]``) before the
    project selector is drawn: a valid ``?project=`` wins, else the session's, else the first
    project. Writes the result back to the URL. Returns it (None without projects)."""
    ids = [p.id for p in store.list_projects()]
    if not ids:
        set_url(**{PROJECT_PARAM: None, VIDEO_PARAM: None})
        return None
    wanted = url_int(PROJECT_PARAM)
    if wanted in ids:
        st.session_state[key] = wanted
    elif st.session_state.get(key) not in ids:
        st.session_state[key] = ids[0]
    chosen = int(st.session_state[key])
    if url_int(PROJECT_PARAM) != chosen:
        set_url(**{PROJECT_PARAM: chosen, VIDEO_PARAM: None, TIME_PARAM: None})
    return chosen


def remember_video(project_id: int, video_id: int) -> None:
    """Note the video open in a project (the Annotate link and the URL carry it)."""
    st.session_state.setdefault(_LAST_VIDEO, {})[int(project_id)] = int(video_id)


def last_video(project_id: int | None) -> int | None:
    """The video last opened in this project in this session, or None."""
    if project_id is None:
        return None
    got = st.session_state.get(_LAST_VIDEO, {}).get(int(project_id))
    return None if got is None else int(got)


def nav_params(project_id: int | None, *, video_id: int | None = None) -> dict[str, str]:
    """The query parameters of an internal link: the project, and a video when given."""
    out: dict[str, str] = {}
    if project_id is not None:
        out[PROJECT_PARAM] = str(project_id)
    if video_id is not None:
        out[VIDEO_PARAM] = str(video_id)
    return out


def open_annotate(project_id: int, video_id: int, t: float | None = None) -> None:
    """Go to the Annotate page on this project and video (and time)."""
    remember_video(project_id, video_id)
    params = nav_params(project_id, video_id=video_id)
    if t is not None:
        params[TIME_PARAM] = f"{t:.3f}"
    st.switch_page("pages/annotate.py", query_params=params)
