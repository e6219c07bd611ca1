"""The Train your own GPT-2 tab through AppTest: after a save no overwrite warning stands next
to "Saved to"; a models folder that cannot be written is said before training, and the
trained model is kept in memory, listed in the chat picker."""

import pytest
from streamlit.testing.v1 import AppTest

from core.text import memory, sources
from tests.helpers import open_page

TEXT = "the fox and the dog. User: hello Assistant: hi. " * 50


@pytest.fixture
def page(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DASHBOARD_MODELS", str(tmp_path / "models"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(sources, "hub_reachable", lambda *a, **k: False)
    at = open_page("pages/chat_gpt2.py")
    assert not at.exception, [e.value for e in at.exception]
    return at


def train(page: AppTest, name: str) -> None:
    """Train a tiny model called `name` on TEXT at the Steps field's minimum, to its end."""
    page.radio(key="chat_train_corpus").set_value("Upload a .txt or .md file").run()
    page.file_uploader(key="chat_train_upload").set_value(
        ("story.txt", TEXT.encode(), "text/plain")
    ).run()
    page.text_input(key="chat_train_name").set_value(name)
    page.select_slider(key="chat_train_width").set_value(64)
    page.select_slider(key="chat_train_context").set_value(32)
    page.select_slider(key="chat_train_vocab").set_value(512)
    page.number_input(key="chat_train_steps").set_value(10)
    page.button(key="chat_train_job_start").click().run()
    job = page.session_state["chat_train_job"]
    assert job.wait(180) and job.status == "done", job.error
    page.run()
    assert not page.exception, [e.value for e in page.exception]


def test_after_a_save_no_overwrite_warning_stands_beside_it(page):
    train(page, "fresh")
    assert any("Saved to" in s.value for s in page.success)
    assert not any("overwrite" in w.value for w in page.warning)
    assert any("replaces fresh" in c.value for c in page.caption)
    assert not page.button(key="chat_train_job_start").disabled  # train again at once


def test_an_unwritable_models_folder_keeps_the_model_in_memory(page, tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("DASHBOARD_MODELS", str(tmp_path / "a-file" / "models"))
    page.run()
    assert any("cannot be written" in w.value and "memory" in w.value for w in page.warning)
    try:
        train(page, "kept")
        assert not page.success
        assert any("Not saved" in w.value and "in memory only" in w.value for w in page.warning)
        options = page.selectbox(key="chat_model_source_pick").options
        assert any("kept - in memory only" in o for o in options)
    finally:
        memory.forget("kept")
