"""Who is using the app: ``local`` on one machine, the signed-in person in team mode.

Team mode (``OTSTUDIO_TEAM=1``, started by ``make team``) requires login through Streamlit's
built-in OpenID Connect support (``st.login`` / ``st.user``; the provider is the ``[auth]``
section of ``.streamlit/secrets.toml``). :func:`require_login` is called by ``app.py`` before
anything else is drawn: an anonymous session gets the login page and nothing else (every
URL of the app maps to it). :func:`current_user` is the author recorded on the edits a
session makes.
"""

from __future__ import annotations

import streamlit as st

__all__ = ["LOCAL_USER", "current_user", "require_login", "team_mode"]

#: The author of edits made when the app runs for one person (no login).
LOCAL_USER = "local"


def team_mode() -> bool:
    """True when ``OTSTUDIO_TEAM`` is set to 1/true/yes/on (read through :mod:`otcore.settings`)."""
    from otcore.settings import load_settings

    return load_settings().team


def _auth_configured() -> bool:
    try:
        auth = st.secrets.get("auth")
    except Exception:  # noqa: BLE001 - no or unreadable secrets file
        return False
    return auth is not None and "redirect_uri" in auth and "cookie_secret" in auth


def _logged_in() -> bool:
    return bool(st.user.get("is_logged_in", False))


def current_user() -> str:
    """The signed-in user's email (else their OIDC ``sub``) in team mode, else ``"local"``."""
    if not team_mode():
        return LOCAL_USER
    user = st.user
    if not _logged_in():
        return LOCAL_USER
    return str(user.get("email") or user.get("sub") or LOCAL_USER)


def _login_page() -> None:
    st.title("otstudio")
    if not _auth_configured():
        st.error(
            "Team mode needs an OpenID Connect provider: add an [auth] section "
            "(redirect_uri, cookie_secret, client_id, client_secret, server_metadata_url) "
            "to .streamlit/secrets.toml."
        )
        return
    st.write("This otstudio server requires login.")
    if st.button("Log in", type="primary", key="otstudio_login"):
        st.login()


def require_login() -> None:
    """In team mode, stop the run of an anonymous session after drawing only the login page;
    for a signed-in session, show who is signed in and a logout button. Outside team mode,
    do nothing."""
    if not team_mode():
        return
    if not _logged_in():
        st.navigation([st.Page(_login_page, title="Log in", url_path="login")], position="hidden").run()
        st.stop()
    with st.sidebar:
        st.caption(f"Signed in as **{current_user()}**")
        if st.button("Log out", key="otstudio_logout"):
            st.logout()
