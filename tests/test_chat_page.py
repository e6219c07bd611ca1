"""The Chat page through AppTest with a tiny local GPT-2: load it, type, see a reply with its
stats; the offline message for a hub id; empty messages; training makes a model selectable."""

import pytest
from streamlit.testing.v1 import AppTest

from core import textgen
from tests.helpers import open_page, save_tiny_gpt2

TEXT = "the fox and the dog. User: hello Assistant: hi. " * 50


@pytest.fixture
def models(tmp_path, monkeypatch):
    """DASHBOARD_MODELS pointing at a folder with one tiny saved GPT-2."""
    monkeypatch.setenv("DASHBOARD_MODELS", str(tmp_path))
    monkeypatch.setattr(textgen, "hub_reachable", lambda *a, **k: False)
    save_tiny_gpt2(tmp_path / "tiny", TEXT, positions=128, vocab=280)
    return tmp_path


@pytest.fixture
def page(models) -> AppTest:
    at = open_page("pages/chat_gpt2.py")
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_type_a_message_and_see_a_reply_with_stats(page, models):
    page.selectbox(key="chat_model_source_pick").set_value(str(models / "tiny"))
    page.button(key="chat_model_source_load").click().run()
    assert any("Loaded" in c.value and "128-token window" in c.value for c in page.caption)
    page.slider(key="chat_temp").set_value(0.0)
    page.chat_input(key="chat_input").set_value("hello there 🦊").run()
    assert not page.exception, [e.value for e in page.exception]
    history = page.session_state["chat_history"]
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert history[1]["stats"]["new_tokens"] >= 1
    shown = [c.value for c in page.caption if "tokens/s" in c.value]
    assert shown and "per 1,000 tokens" in shown[0] and "prompt +" in shown[0]
    assert any("Context:" in p.proto.text for p in page.get("progress"))
    # Undo takes the turn back; Clear empties the chat
    page.button(key="chat_undo").click().run()
    assert page.session_state["chat_history"] == []


def test_a_hub_model_with_no_network_explains_itself(page):
    page.selectbox(key="chat_model_source_pick").set_value("gpt2")
    page.button(key="chat_model_source_load").click().run()
    errors = [e.value for e in page.error]
    assert errors and "no network and no cached copy" in errors[0]
    assert "Train" in errors[0]


def test_an_empty_message_is_not_sent(page, models):
    page.selectbox(key="chat_model_source_pick").set_value(str(models / "tiny"))
    page.button(key="chat_model_source_load").click().run()
    page.chat_input(key="chat_input").set_value("   ").run()
    assert any("empty message" in w.value for w in page.warning)
    assert page.session_state["chat_history"] == []


def test_training_makes_a_model_selectable(page, models):
    page.radio(key="gpt_corpus").set_value("Upload a .txt or .md file").run()
    page.file_uploader(key="gpt_upload").set_value(
        ("bad.txt", b"\xff\xfe" * 2000, "text/plain")
    ).run()
    assert any("not UTF-8" in e.value for e in page.error)
    page.file_uploader(key="gpt_upload").set_value(("story.txt", TEXT.encode(), "text/plain")).run()
    assert not page.error
    page.text_input(key="gpt_name").set_value("unit-gpt")
    page.select_slider(key="gpt_width").set_value(64)
    page.select_slider(key="gpt_ctx").set_value(32)
    page.select_slider(key="gpt_vocab").set_value(512)
    page.number_input(key="gpt_steps").set_value(20)
    page.button(key="gpt_train").click().run()
    job = page.session_state["gpt_train_job"]
    assert job.wait(120) and job.status == "done", job.error
    page.run()
    assert any("Saved to" in s.value and "unit-gpt" in s.value for s in page.success)
    assert str(models / "unit-gpt") in page.selectbox(key="chat_model_source_pick").options


def test_side_by_side_streams_two_settings(page, models):
    page.selectbox(key="chat_model_source_pick").set_value(str(models / "tiny"))
    page.button(key="chat_model_source_load").click().run()
    page.slider(key="sideA_temp").set_value(0.0)
    page.slider(key="sideB_temp").set_value(1.5)
    page.text_area(key="side_prompt").set_value("the fox")
    page.button(key="side_go").click().run()
    assert not page.exception, [e.value for e in page.exception]
    stats = [c.value for c in page.caption if "tokens/s" in c.value]
    assert len(stats) == 2
