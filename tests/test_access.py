"""Login when deployed: no login on localhost; with an OpenID Connect provider in
secrets.toml every page asks to sign in, and only listed admins may free shared caches."""

from streamlit.testing.v1 import AppTest

from tests.helpers import APP
from ui import access

AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "x" * 32,
    "client_id": "dashboard",
    "client_secret": "not-a-real-secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}


def app(secrets: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for name, section in (secrets or {}).items():
        at.secrets[name] = section
    return at.run()


def test_without_auth_there_is_no_login_and_the_user_is_admin():
    at = app()
    assert not at.exception
    assert "Start here" in [s.value for s in at.subheader]
    assert not at.button(key="app_free_memory").disabled
    assert [b for b in at.button if b.key == "login"] == []


def test_with_auth_every_page_asks_to_sign_in_first():
    at = app({"auth": AUTH})
    assert not at.exception
    assert at.button(key="login").label == "Sign in"
    assert at.info[0].value.startswith("This dashboard is shared by a team: sign in")
    assert "Start here" not in [s.value for s in at.subheader]  # no page behind it
    assert [b for b in at.button if b.key == "free_memory"] == []


def test_signed_in_members_cannot_free_shared_caches_admins_can(monkeypatch):
    monkeypatch.setattr(access, "user_email", lambda: "dev@startup.example")
    member = app({"auth": AUTH, "dashboard": {"admins": ["Founder@startup.example"]}})
    assert "Start here" in [s.value for s in member.subheader]
    assert member.button(key="app_free_memory").disabled
    assert "Signed in as dev@startup.example (member)" in [c.value for c in member.sidebar.caption]
    monkeypatch.setattr(access, "user_email", lambda: "founder@startup.example")
    admin = app({"auth": AUTH, "dashboard": {"admins": ["Founder@startup.example"]}})
    assert not admin.button(key="app_free_memory").disabled
    assert "Signed in as founder@startup.example (admin)" in [
        c.value for c in admin.sidebar.caption
    ]


def test_admins_also_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("DASHBOARD_ADMINS", " ops@startup.example ,")
    assert access.admins() == {"ops@startup.example"}
