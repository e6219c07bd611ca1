"""The Chat page through AppTest with a tiny local GPT-2: load it, type, see a reply with its
stats; defaults that fit the window and a warning before a message is cut; Regenerate with
fresh, recorded seeds; model text shown literally; failed loads, blank messages, side by
side, training (at the Steps field's minimum) and overwriting a model name."""

import threading

import pytest
from streamlit.testing.v1 import AppTest

import ui
from core import jobs
from core.serving import servers
from core.text import fastpath, generate, loading, prompt, sources
from core.text.chat import Message
from tests import test_serving_ui as serving_ui_tests
from tests.helpers import open_page, save_tiny_gpt2

TEXT = "the fox and the dog. User: hello Assistant: hi. " * 50


@pytest.fixture
def models(tmp_path, monkeypatch):
    """DASHBOARD_MODELS pointing at a folder with one tiny saved GPT-2; runs recorded into a
    fresh home folder."""
    monkeypatch.setenv("DASHBOARD_MODELS", str(tmp_path))
    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(sources, "hub_reachable", lambda *a, **k: False)
    save_tiny_gpt2(tmp_path / "tiny", TEXT, positions=128, vocab=280)
    return tmp_path


@pytest.fixture
def page(models) -> AppTest:
    at = open_page("pages/chat_gpt2.py")
    assert not at.exception, [e.value for e in at.exception]
    return at


def load(page: AppTest, name: str = "tiny", key: str = "chat_model_source") -> None:
    """Pick the local model `name` by its label in the picker and press Load."""
    picker = page.selectbox(key=f"{key}_pick")
    picker.select_index(next(i for i, o in enumerate(picker.options) if o.startswith(name)))
    page.button(key=f"{key}_load").click().run()
    assert not page.exception, [e.value for e in page.exception]


def link_labels(page: AppTest) -> list[str]:
    """The labels of the page links the page shows (a recorded run links to the Runs page)."""
    return [link.proto.label for link in page.get("page_link")]


def test_type_a_message_and_see_a_reply_with_stats(page, models):
    load(page)
    assert any("Loaded tiny" in c.value and "128-token window" in c.value for c in page.caption)
    page.slider(key="chat_temp").set_value(0.0)
    page.chat_input(key="chat_input").set_value("hello there 🦊").run()
    assert not page.exception, [e.value for e in page.exception]
    history = page.session_state["chat_history"]
    assert [m.role for m in history] == ["user", "assistant"]
    assert history[1].reply.new_tokens >= 1
    shown = [c.value for c in page.caption if "tokens/s" in c.value]
    assert shown and "per 1,000 tokens" in shown[0] and "prompt +" in shown[0]
    assert any("Context:" in p.proto.text for p in page.get("progress"))
    page.button(key="chat_undo").click().run()
    assert page.session_state["chat_history"] == []


def test_a_message_and_a_regenerate_each_cost_one_page_run(page, models, monkeypatch):
    """A reply is drawn where it streams and the controls after it, so the page does not run
    a second time to show them (each run of the page is CPU the server spends)."""
    load(page)
    runs, sidebar = [], ui.sidebar_ui
    monkeypatch.setattr(ui, "sidebar_ui", lambda: (runs.append(1), sidebar()))  # once a run
    page.chat_input(key="chat_input").set_value("hello").run()
    history = page.session_state["chat_history"]
    assert len(runs) == 1 and [m.role for m in history] == ["user", "assistant"]
    assert not page.button(key="chat_regen").disabled and not page.button(key="chat_undo").disabled
    exports = {b.key for b in page.get("download_button")}
    assert {"chat_json", "chat_md"} <= exports  # drawn after the reply
    assert any("Context:" in p.proto.text for p in page.get("progress"))
    first = page.session_state["chat_history"][-1].settings.seed
    page.button(key="chat_regen").click().run()
    assert len(runs) == 2 and len(page.session_state["chat_history"]) == 2
    assert page.session_state["chat_history"][-1].settings.seed != first


def test_the_picker_names_models_with_size_and_date(page, models):
    options = page.selectbox(key="chat_model_source_pick").options
    tiny = [o for o in options if o.startswith("tiny - ")]
    assert tiny and " MB, 20" in tiny[0]
    assert not any(str(models) in o for o in options)


def test_defaults_leave_the_window_to_the_conversation(page, models):
    save_tiny_gpt2(models / "small96", TEXT, positions=96, vocab=280)
    page.run()
    load(page, "small96")
    assert page.number_input(key="chat_max_96").value <= 96 // 3
    settings = prompt.Settings(max_new_tokens=page.number_input(key="chat_max_96").value)
    lm = loading.load_model(str(models / "small96"), "cpu")
    for message in ("what is a fox?", "tell me about the dog"):
        fitted = prompt.build_prompt(lm, [prompt.Turn(role="user", content=message)], settings)
        assert message in fitted.text and not fitted.truncated


def test_a_message_that_would_be_cut_is_held_with_a_warning(page, models):
    load(page)
    page.chat_input(key="chat_input").set_value("the fox and the dog " * 60).run()
    warnings = [w.value for w in page.warning if "Too long" in w.value]
    assert warnings and "the first " in warnings[0] and "tokens of your message" in warnings[0]
    cut = int(warnings[0].split("the first ")[1].split(" tokens")[0].replace(",", ""))
    assert cut > 0
    assert page.session_state["chat_history"] == []  # nothing sent yet
    page.button(key="chat_send_cut").click().run()
    assert [m.role for m in page.session_state["chat_history"]] == ["user", "assistant"]
    assert not [w for w in page.warning if "Too long" in w.value]


def test_regenerate_samples_anew_and_records_its_seed(page, models):
    load(page)
    page.slider(key="chat_temp").set_value(1.5)
    page.chat_input(key="chat_input").set_value("hello").run()
    seeds, replies = [], []
    for _ in range(3):
        page.button(key="chat_regen").click().run()
        reply = page.session_state["chat_history"][-1]
        seeds.append(reply.settings.seed)
        replies.append(reply)
    assert len(set(seeds)) == 3
    assert any(f"seed {seeds[-1]}" in c.value for c in page.caption)
    # the recorded seed reproduces the reply on the same (measured, kept) fast path
    lm = loading.fast_variant(loading.load_model(str(models / "tiny"), "cpu"))
    settings = replies[-1].settings
    fitted = prompt.build_prompt(lm, [prompt.Turn(role="user", content="hello")], settings)
    *_, (kind, again) = generate.stream_reply(lm, fitted, settings, threading.Event())
    assert kind == "end" and again.text == replies[-1].content


def test_model_text_with_indented_lines_is_shown_literally(page, models):
    load(page)
    code = "Here:\n    >>> from sklearn.datasets import load_iris\n    >>> x = [1, 2]  # *not* code"
    page.session_state["chat_history"] = [
        Message(role="user", content="<b>show</b> me"),
        Message(role="assistant", content=code),
    ]
    page.run()
    shown = [t.value for t in page.text]
    assert code in shown and "<b>show</b> me" in shown
    assert not any("load_iris" in c.value for c in page.code)  # commands are code, not it
    assert not any("\\>" in m.value or "sklearn" in m.value for m in page.markdown)


def test_a_failed_load_keeps_the_loaded_model(page, models):
    load(page)
    page.selectbox(key="chat_model_source_pick").set_value("Other hub id or folder...").run()
    for source, why in [
        ("/etc", "not a model folder"),
        ("http://example.com/gpt2", "web address"),
        ("../no-such-folder/gpt2", "not a hub id"),  # `..` never makes a hub id
    ]:
        page.text_input(key="chat_model_source_other").set_value(source)
        page.button(key="chat_model_source_load").click().run()
        errors = [e.value for e in page.error]
        assert errors and why in errors[0] and "stays loaded" in errors[0]
        assert any("Loaded tiny" in c.value for c in page.caption)
        assert page.session_state["chat_model_source"] == str(models / "tiny")


def test_a_hub_model_with_no_network_explains_itself(page):
    page.selectbox(key="chat_model_source_pick").set_value("gpt2")
    page.button(key="chat_model_source_load").click().run()
    errors = [e.value for e in page.error]
    assert errors and "no network and no cached copy" in errors[0]
    assert "Train" in errors[0]


@pytest.mark.parametrize("blank", ["   ", "\u200b\u200d\u2060", "\u3164 \ufeff"])
def test_an_empty_or_invisible_message_is_not_sent(page, models, blank):
    load(page)
    page.chat_input(key="chat_input").set_value(blank).run()
    assert any("empty message" in w.value for w in page.warning)
    assert page.session_state["chat_history"] == []


def test_training_at_the_fewest_steps_makes_a_model_selectable(page, models):
    page.radio(key="chat_train_corpus").set_value("Upload a .txt or .md file").run()
    page.file_uploader(key="chat_train_upload").set_value(
        ("bad.txt", b"\xff\xfe" * 2000, "text/plain")
    ).run()
    assert any("not UTF-8" in e.value for e in page.error)
    story = ("story.txt", TEXT.encode(), "text/plain")
    page.file_uploader(key="chat_train_upload").set_value(story).run()
    assert not page.error
    page.text_input(key="chat_train_name").set_value("unit-gpt")
    page.select_slider(key="chat_train_width").set_value(64)
    page.select_slider(key="chat_train_context").set_value(32)
    page.select_slider(key="chat_train_vocab").set_value(512)
    page.number_input(key="chat_train_steps").set_value(10)  # the field's minimum
    page.button(key="chat_train_job_start").click().run()
    job = page.session_state["chat_train_job"]
    assert job.wait(120) and job.status == "done", job.error
    page.run()
    assert any("Saved to" in s.value and "unit-gpt" in s.value for s in page.success)
    assert any(label.startswith("Recorded as run") for label in link_labels(page))
    assert any(
        o.startswith("unit-gpt - ") for o in page.selectbox(key="chat_model_source_pick").options
    )


@pytest.mark.parametrize("url_name", ["chat_train_job", "gpt_train_job"])
def test_a_training_is_found_again_by_its_url_also_under_its_old_name(page, url_name):
    gate = threading.Event()
    job = jobs.submit(lambda progress: gate.wait(60), "train gpt2", tool="gpt2", device="cpu")
    try:
        page.query_params[url_name] = job.id  # a refresh, or a link someone bookmarked
        page.session_state["chat_train_job"] = None  # a new browser session
        page.run()
        assert not page.exception, [e.value for e in page.exception]
        assert page.session_state["chat_train_job"] is job
        assert not page.button(key="chat_train_job_stop").disabled
    finally:
        gate.set()
        job.wait(10)


def test_reusing_a_model_name_warns_before_overwriting(page, models):
    page.text_input(key="chat_train_name").set_value("tiny").run()
    assert any("overwrite" in w.value and "tiny" in w.value for w in page.warning)
    assert page.button(key="chat_train_job_start").disabled
    page.checkbox(key="chat_train_overwrite").check().run()
    assert not page.button(key="chat_train_job_start").disabled


def test_side_by_side_starts_different_and_keeps_outputs(page, models):
    load(page)
    assert page.slider(key="chat_side_a_temp").value != page.slider(key="chat_side_b_temp").value
    page.text_area(key="chat_side_prompt").set_value("the fox")
    page.button(key="chat_side_go").click().run()
    assert not page.exception, [e.value for e in page.exception]
    assert len([c.value for c in page.caption if " new tokens - first token " in c.value]) == 2
    outputs = [o.content for o in page.session_state["chat_side_outputs"]]
    page.slider(key="chat_side_b_temp").set_value(0.5).run()
    shown = [t.value for t in page.text]
    assert all(o in shown for o in outputs)
    assert any("earlier settings" in c.value for c in page.caption)


def test_save_this_chat_records_it_and_a_store_failure_loses_nothing(page, models, monkeypatch):
    from core import runs

    runs.reset()
    load(page)
    page.chat_input(key="chat_input").set_value("hello").run()
    page.button(key="chat_save").click().run()
    saved = [label for label in link_labels(page) if label.startswith("Recorded as run")]
    assert saved, [w.value for w in page.warning]
    run_id = saved[0].split("run ")[1].split(":")[0]
    assert runs.get_run(run_id).tables["transcript"][0]["content"] == "hello"

    def fail(*args, **kwargs):
        raise runs.StoreError("The store folder is read-only: pick another DASHBOARD_HOME.")

    monkeypatch.setattr("core.runs.write.record", fail)  # what try_record calls
    page.button(key="chat_save").click().run()
    warnings = [w.value for w in page.warning if w.value.startswith("Not recorded: ")]
    assert warnings and "read-only" in warnings[0] and "still here" in warnings[0]
    assert [m.role for m in page.session_state["chat_history"]] == ["user", "assistant"]
    runs.reset()


def test_the_fast_path_is_measured_and_says_which_engine_and_how_much_faster(page, models):
    load(page)
    assert page.toggle(key="chat_fast").value is True  # measured: plain is a candidate too
    notes = [c.value for c in page.caption if c.value.startswith("Fast path")]
    assert notes and "on this CPU" in notes[0], notes
    assert any(label in notes[0] for label in fastpath.LABELS.values())
    if "measured at load" in notes[0]:  # an engine beat plain: its speed-up is stated
        assert "x plain on this CPU" in notes[0]
    page.chat_input(key="chat_input").set_value("hello").run()
    assert page.session_state["chat_history"][-1].reply.new_tokens >= 1
    assert any("fast path" in label for label in page.session_state[ui.MEASUREMENTS_KEY])


# ---- a server as the source (the stub from the serving widgets' tests) --------------------


SERVER = "A server (OpenAI-compatible)"
PIECES = serving_ui_tests.PIECES  # tokens the stub streams per request
stub_url = serving_ui_tests.stub_url  # the local OpenAI-compatible stub (a pytest fixture)


def choose_server(page: AppTest, url: str, model: str = "") -> None:
    """Pick 'A server', type its URL and either Check it or type the model name."""
    page.radio(key="chat_source").set_value(SERVER).run()
    page.text_input(key="chat_server_url").set_value(url).run()
    if model:
        page.text_input(key="chat_server_typed").set_value(model).run()
    else:
        page.button(key="chat_server_check").click().run()
    assert not page.exception, [e.value for e in page.exception]


def test_a_server_streams_a_reply_with_its_stats(page, stub_url):
    assert any("measure it here" in i.value for i in page.info)  # Load test: no server yet
    choose_server(page, stub_url)
    assert page.selectbox(key="chat_server_model").value == "stub-model"
    assert not any(t.key == "chat_fast" for t in page.toggle)  # no fast path for a server
    page.radio(key="chat_mode").set_value("completion")
    page.number_input(key="chat_server_price").set_value(3.6)
    page.chat_input(key="chat_input").set_value("hello").run()
    assert not page.exception, [e.value for e in page.exception]
    history = page.session_state["chat_history"]
    assert [m.role for m in history] == ["user", "assistant"]
    assert history[1].content == " tok" * PIECES and not history[1].error
    assert (" tok" * PIECES).strip() in [t.value.strip() for t in page.text]
    stats = [c.value for c in page.caption if "tokens/s" in c.value]
    assert stats and f"3 prompt + {PIECES} new tokens" in stats[0]
    assert "per 1,000 tokens" in stats[0]
    captions = [c.value for c in page.caption]
    assert "this server sent no token probabilities" in captions
    assert not page.get("progress")  # no window meter for a server
    assert page.multiselect(key="chat_load_levels")  # the Load test tab offers this server


def test_a_closed_port_is_a_clear_error_and_the_chat_stays(page):
    choose_server(page, f"http://127.0.0.1:{servers.free_port()}/v1", model="m")
    page.chat_input(key="chat_input").set_value("first").run()
    page.chat_input(key="chat_input").set_value("second").run()
    assert not page.exception, [e.value for e in page.exception]
    errors = [e.value for e in page.error]
    assert len(errors) == 2 and all("Nothing is listening" in e for e in errors)
    history = page.session_state["chat_history"]
    assert [m.content for m in history if m.role == "user"] == ["first", "second"]
    assert [m.role for m in history] == ["user", "assistant"] * 2


def test_a_template_without_a_system_role_folds_the_system_prompt_and_says_so(models):
    from transformers import AutoTokenizer

    from tests.test_text_prompt import NO_SYSTEM_TEMPLATE

    folder = save_tiny_gpt2(models / "strict", TEXT, positions=128, vocab=280)
    tok = AutoTokenizer.from_pretrained(folder)
    tok.chat_template = NO_SYSTEM_TEMPLATE
    tok.save_pretrained(folder)
    page = open_page("pages/chat_gpt2.py")
    load(page, "strict")
    page.text_input(key="chat_system").set_value("Be brief.").run()
    page.chat_input(key="chat_input").set_value("hello").run()
    assert not page.exception, [e.value for e in page.exception]
    assert [m.role for m in page.session_state["chat_history"]] == ["user", "assistant"]
    assert any("has no system role" in c.value for c in page.caption)
    assert {b.key for b in page.get("download_button")} >= {"chat_json", "chat_md"}


def test_a_whitespace_only_reply_is_said_not_an_empty_bubble(page, models, monkeypatch):
    def blank(lm, p, settings, stop):
        yield "end", generate.Reply(text="  \n ", new_tokens=2, seconds=0.1, ttft_s=0.05)

    monkeypatch.setattr(generate, "stream_reply", blank)
    load(page)
    page.chat_input(key="chat_input").set_value("hello").run()
    assert not page.exception, [e.value for e in page.exception]
    said = [c.value for c in page.caption if "whitespace only" in c.value]
    assert said == ["(the model replied with whitespace only)"]
    page.run()  # drawn again from the history
    assert any("whitespace only" in c.value for c in page.caption)


def test_a_long_chat_to_a_server_with_a_small_window_is_trimmed_and_said(page, monkeypatch):
    from core.serving import client
    from ui.chat import server

    sent = []

    def fake_chat(endpoint, turns, settings, stop):
        sent.append(turns)
        yield "end", generate.Reply(text=" ok", new_tokens=1, seconds=0.1, ttft_s=0.05)

    monkeypatch.setattr(client, "stream_chat", fake_chat)
    monkeypatch.setattr(server, "window_of", lambda key, endpoint: (96, "as the server lists it"))
    choose_server(page, "http://127.0.0.1:9/v1", model="m")
    long = [Message(role=r, content=f"turn {i} about the fox and the dog " * 3)
            for i in range(30) for r in ("user", "assistant")]  # fmt: skip
    page.session_state["chat_history"] = long
    page.chat_input(key="chat_input").set_value("last one").run()
    assert not page.exception, [e.value for e in page.exception]
    assert sent and sent[-1][-1]["content"] == "last one" and len(sent[-1]) < 61
    max_new = page.session_state["chat_history"][-1].settings.max_new_tokens
    assert prompt.estimate_tokens(sent[-1]) <= 96 - max_new
    assert any("older turn(s) left out to fit m's 96-token window" in c.value for c in page.caption)


def test_the_picker_says_which_models_chat_and_what_they_need(page, models):
    picker = page.selectbox(key="chat_model_source_pick")
    labels = dict(zip(sources.SUGGESTED, picker.options, strict=False))
    assert "completes text" in labels["gpt2"] and "MIT" in labels["gpt2"]
    for chat_model in ("SmolLM2-135M-Instruct", "SmolLM2-360M-Instruct", "Qwen2.5-0.5B-Instruct"):
        label = next(v for k, v in labels.items() if k.endswith(chat_model))
        assert " - chats, " in label and "Apache-2.0" in label and "MB download" in label
    picker.set_value("HuggingFaceTB/SmolLM2-135M-Instruct").run()
    needs = [c.value for c in page.caption if "tokens/s here" in c.value]
    assert needs and "GB of memory" in needs[0] and "273 MB download" in needs[0]
    assert "decode bound" in needs[0] and "no network" in needs[0]


def test_the_default_model_is_one_that_loads_here(page, models, monkeypatch):
    """Offline, with gpt2 not cached, the picker opens on the model trained here; with a
    network GPT-2 stays the default."""
    assert page.selectbox(key="chat_model_source_pick").value == str(models / "tiny")
    assert any("'Train your own GPT-2' tab" in i.value for i in page.info)
    monkeypatch.setattr(sources, "hub_reachable", lambda *a, **k: True)
    online = open_page("pages/chat_gpt2.py")
    assert online.selectbox(key="chat_model_source_pick").value == "gpt2"
