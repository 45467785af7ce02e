"""otstudio: the Streamlit app. Run with ``make run`` (or ``streamlit run app.py``).

This file wires the pages, the project selector, the demo project and the background
worker; the pages themselves live in ``pages/``.
"""

import streamlit as st

from otcore import service
from ui.auth import require_login
from ui.common import PROJECT_KEY, get_settings, get_store

st.set_page_config(page_title="otstudio", layout="wide")
require_login()  # team mode: anonymous sessions get the login page only


@st.cache_resource(show_spinner="Preparing the data dir and the demo project…")
def _boot(data_dir: str, database_url: str) -> bool:
    """Once per data dir and process: create the demo project on first run."""
    service.ensure_demo_project(get_store(), get_settings())
    return True


settings = get_settings()
store = get_store()
_boot(str(settings.data_dir), settings.database_url)
service.ensure_worker(settings)

with st.sidebar:
    projects = store.list_projects()
    ids = [p.id for p in projects]
    names = {p.id: p.name for p in projects}
    if ids and st.session_state.get(PROJECT_KEY) not in ids:
        st.session_state[PROJECT_KEY] = ids[0]
    if ids:
        st.selectbox("Project", ids, format_func=lambda i: names[i], key=PROJECT_KEY)
    with st.popover("New project", width="stretch"):
        new_name = st.text_input("Name", key="new_project_name")
        if st.button("Create", key="create_project", disabled=not new_name.strip()):
            try:
                created = store.create_project(new_name.strip())
                st.session_state[PROJECT_KEY] = created.id
                st.rerun()
            except Exception as exc:  # duplicate name and the like: say it, keep everything
                st.error(str(exc))
    st.caption(f"Data: `{settings.data_dir}`")

pages = [
    st.Page("pages/videos.py", title="Videos", icon=":material/movie:", default=True),
    st.Page("pages/annotate.py", title="Annotate", icon=":material/edit:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/inspect.py", title="Inspect", icon=":material/insights:"),
    st.Page("pages/review.py", title="Review & Export", icon=":material/fact_check:"),
]
st.navigation(pages).run()
