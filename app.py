"""otstudio: the Streamlit app. Run with ``make run`` (or ``streamlit run app.py``).

This file wires the pages, the sidebar (project selector kept in the URL, project
management, page links carrying the project), the demo project and the background worker;
the pages themselves live in ``pages/``.
"""

import streamlit as st

from otcore import service
from ui.auth import require_login
from ui.common import get_settings, get_store
from ui.sidebar import page_objects, render_sidebar

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

navigation = st.navigation(page_objects(), position="hidden")
render_sidebar(store, str(settings.data_dir))
navigation.run()
