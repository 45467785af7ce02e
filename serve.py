"""otstudio's server: ``streamlit run serve.py`` (what ``make run`` and ``make team`` start).

An ``st.App`` launcher around ``app.py`` that adds one route to Streamlit's own server:
the timeline's video, streamed from the app's origin (see :mod:`ui.media`).

* By default the server listens on loopback only (``server.address`` in
  ``.streamlit/config.toml``); any other address is refused unless team mode is on.
* Team mode (``OTSTUDIO_TEAM=1``, ``make team ADDRESS=…``) listens on the address given and
  requires login through Streamlit's OIDC (``[auth]`` in ``.streamlit/secrets.toml``).
"""

from __future__ import annotations

import ipaddress
import sys

import streamlit as st
from streamlit import config

from ui.auth import team_mode
from ui.media import REGISTRY, media_routes


def _is_loopback(address: str | None) -> bool:
    if not address:
        return False  # Streamlit binds every interface when no address is set
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _session_alive(session_id: str) -> bool:
    from streamlit import runtime

    return (not runtime.exists()) or runtime.get_instance().is_active_session(session_id)


_address = config.get_option("server.address")
if not team_mode() and not _is_loopback(_address):
    sys.exit(
        f"otstudio: refusing to listen on {_address or 'every interface'!r} without login; "
        "use 127.0.0.1, or team mode (OTSTUDIO_TEAM=1, see the README's 'Team server')"
    )

REGISTRY.session_alive = _session_alive
app = st.App("app.py", routes=media_routes(REGISTRY, base_url=config.get_option("server.baseUrlPath") or ""))
