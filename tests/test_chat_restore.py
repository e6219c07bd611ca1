"""A chat survives a refresh: its messages and settings kept under the session's id in the
URL (core.text.sessions, bounded), restored by a new browser session; a saved chat opened
from the run store (`?run=<id>`, Runs -> Open in Chat)."""

from streamlit.testing.v1 import AppTest

from core.text import sessions
from core.text.chat import Message
from core.text.generate import Reply
from core.text.prompt import Settings
from tests.helpers import APP
from tests.test_chat_page import TEXT, load, models  # noqa: F401 (a pytest fixture)


def chat_page(**params) -> AppTest:
    """The Chat page opened in a new browser session with `params` in its URL."""
    at = AppTest.from_file(APP, default_timeout=120)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    at.switch_page("pages/chat_gpt2.py")
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_refresh_restores_the_chat_its_settings_and_model(models):  # noqa: F811
    at = chat_page()
    sid = at.session_state["chat_session"]
    assert sessions.SESSION_ID.match(sid) and sid in str(at.query_params["chat"])
    load(at)
    at.text_input(key="chat_system").set_value("Be brief.")
    at.slider(key="chat_temp").set_value(0.3).run()
    at.chat_input(key="chat_input").set_value("hello fox").run()
    before = [(m.role, m.content) for m in at.session_state["chat_history"]]
    assert len(before) == 2 and (sessions.folder() / f"{sid}.json").is_file()
    again = chat_page(chat=sid)  # the same URL in a new browser session
    restored = again.session_state["chat_history"]
    assert [(m.role, m.content) for m in restored] == before
    assert restored[1].reply.new_tokens == at.session_state["chat_history"][1].reply.new_tokens
    assert again.text_input(key="chat_system").value == "Be brief."
    assert again.slider(key="chat_temp").value == 0.3
    assert any("Loaded tiny" in c.value for c in again.caption)  # the model is loaded again
    assert any(" new tokens - first token " in c.value for c in again.caption)  # its stats
    fresh = chat_page()  # another browser session: its own, empty chat
    assert fresh.session_state["chat_history"] == []


def test_a_saved_chat_opens_back_into_the_page(models):  # noqa: F811
    at = chat_page()
    load(at)
    at.chat_input(key="chat_input").set_value("hello fox").run()
    at.button(key="chat_save").click().run()
    assert not at.exception
    from core import runs

    saved = runs.list_runs(tool="chat")
    assert len(saved) == 1
    opened = chat_page(run=saved[0].id)
    assert [m.content for m in opened.session_state["chat_history"]] == [
        m.content for m in at.session_state["chat_history"]
    ]
    assert any("Opened the saved chat" in s.value for s in opened.success)
    picker = chat_page()
    picker.toggle(key="chat_saved_show").set_value(True).run()
    picker.selectbox(key="chat_saved_pick").set_value(saved[0].id).run()
    picker.button(key="chat_saved_open").click().run()
    assert len(picker.session_state["chat_history"]) == 2


def test_the_session_file_is_bounded_and_old_sessions_go(tmp_path, monkeypatch):
    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path))
    s = Settings(max_new_tokens=8, stop=("x",))
    long = [
        Message(role="assistant", content="w" * 5_000, settings=s, reply=Reply(new_tokens=3))
        for _ in range(400)
    ]
    sessions.save("ab" * 8, long, {"chat_system": "hi"})
    text = (sessions.folder() / f"{'ab' * 8}.json").read_text()
    assert len(text.encode()) <= sessions.MAX_BYTES
    messages, state = sessions.load("ab" * 8)
    assert 1 <= len(messages) <= sessions.MAX_MESSAGES and state == {"chat_system": "hi"}
    assert messages[-1].settings == s and messages[-1].reply.new_tokens == 3
    for i in range(sessions.MAX_SESSIONS + 3):
        sessions.save(f"{i:016x}", long[:1], {})
    assert len(list(sessions.folder().glob("*.json"))) == sessions.MAX_SESSIONS
    assert sessions.load("../etc/passwd") is None and sessions.load("f" * 16) is None


def test_the_session_id_comes_back_into_the_url_after_another_page(models):  # noqa: F811
    at = chat_page()
    sid = at.session_state["chat_session"]
    at.switch_page("pages/home.py").run()
    at.query_params.pop("chat", None)  # another page's URL does not carry it
    at.switch_page("pages/chat_gpt2.py").run()
    assert at.session_state["chat_session"] == sid and sid in str(at.query_params["chat"])
