"""Who may use the dashboard when it is deployed: Streamlit's built-in OpenID Connect login
(`st.login`) once `.streamlit/secrets.toml` has an `[auth]` section, and a list of admin
e-mails who alone may free shared caches, stop others' jobs, delete others' runs and start
servers. With no `[auth]` section (a laptop, localhost) there is no login and the one user
is the admin.

    [auth]                      # .streamlit/secrets.toml
    redirect_uri = "https://dash.example.com/oauth2callback"
    cookie_secret = "a long random string"
    client_id = "..."
    client_secret = "..."
    server_metadata_url = "https://accounts.google.com/.well-known/openid-configuration"

    [dashboard]
    admins = ["founder@example.com"]   # or DASHBOARD_ADMINS="a@x.com,b@y.com"
"""

from __future__ import annotations

import os

import streamlit as st


def _secrets_section(name: str) -> dict:
    """A section of secrets.toml, or {} when there is no secrets file or no such section."""
    try:
        return dict(st.secrets.get(name, {}))
    except FileNotFoundError:  # no secrets.toml at all
        return {}
    except Exception:  # noqa: BLE001 - a malformed secrets.toml must not take the app down
        return {}


def auth_configured() -> bool:
    """True when secrets.toml configures an OpenID Connect provider for st.login."""
    auth = _secrets_section("auth")
    return bool(auth.get("redirect_uri") and auth.get("cookie_secret"))


def user_email() -> str | None:
    """The signed-in user's e-mail, or None (no login configured, or not signed in)."""
    user = getattr(st, "user", None)
    if user is None or not user.get("is_logged_in"):
        return None
    return user.get("email")


def admins() -> set[str]:
    """Admin e-mails from secrets.toml ([dashboard] admins) and $DASHBOARD_ADMINS."""
    listed = _secrets_section("dashboard").get("admins", [])
    listed = [listed] if isinstance(listed, str) else list(listed)
    listed += os.environ.get("DASHBOARD_ADMINS", "").split(",")
    return {e.strip().lower() for e in listed if e and e.strip()}


def is_admin() -> bool:
    """May this session use the controls that affect everyone? Always, without login."""
    if not auth_configured():
        return True
    email = user_email()
    return email is not None and email.lower() in admins()


def require_login() -> None:
    """When login is configured, stop every page until the user has signed in."""
    if not auth_configured() or user_email() is not None:
        return
    st.title("AI Prototyping Dashboard")
    st.info("This dashboard is shared by a team: sign in to use it.")
    st.button("Sign in", type="primary", key="login", on_click=st.login)
    st.stop()


def account_ui() -> None:
    """The signed-in user and Sign out, in the sidebar (nothing without login)."""
    email = user_email()
    if email is None:
        return
    role = "admin" if is_admin() else "member"
    st.sidebar.caption(f"Signed in as {email} ({role})")
    st.sidebar.button("Sign out", key="logout", on_click=st.logout)


def admin_only_note(what: str) -> str:
    """The help text of a control only admins may use."""
    return f"Only admins may {what} on a shared deployment."
