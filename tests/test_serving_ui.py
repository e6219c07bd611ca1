"""The chat page's serving widgets (ui.chat.server, serve, load_tab) in AppTest (driven by
widget key, asserting what they show), against a closed port, small OpenAI-compatible stubs
(one that streams; others whose model list is empty, gives a window as vLLM does, or is a
web page) and a stand-in server process (healthy, failing, dead)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import jobs
from core.serving import servers
from tests.helpers import open_page
from tests.test_servers import fake_command, saved_model

PIECES = 4  # tokens the stub streams per request


class _OpenAIStub(BaseHTTPRequestHandler):
    """GET /v1/models and a streamed POST /v1/completions, as vLLM answers them."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        body = json.dumps({"object": "list", "data": [{"id": "stub-model", "object": "model"}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for i in range(PIECES + 1):
            last = i == PIECES
            choice = {"index": 0, "text": "" if last else " tok", "logprobs": None}
            chunk = {"id": "c", "object": "text_completion", "created": 0, "model": "stub-model"}
            chunk["choices"] = [choice | {"finish_reason": "length" if last else None}]
            if last:
                chunk["usage"] = {
                    "prompt_tokens": 3,
                    "completion_tokens": PIECES,
                    "total_tokens": 7,
                }
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            time.sleep(0.01)
        self.wfile.write(b"data: [DONE]\n\n")


@contextmanager
def http_stub(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """`handler` served on a free localhost port in a thread: yields http://127.0.0.1:PORT."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def stub_url():
    with http_stub(_OpenAIStub) as url:
        yield url + "/v1"


def source_app():
    import streamlit as st

    from ui.chat import server

    endpoint = server.server_source_ui("src")
    st.write(f"endpoint: {endpoint.model} at {endpoint.base_url}" if endpoint else "no endpoint")


def test_check_on_a_closed_port_says_so_and_a_typed_name_still_works():
    at = AppTest.from_function(source_app, default_timeout=60).run()
    at.text_input(key="src_url").set_value(f"http://127.0.0.1:{servers.free_port()}/v1").run()
    at.button(key="src_check").click().run()
    assert (
        "Nothing is listening" in at.error[0].value and "type the model name" in at.error[0].value
    )
    at.text_input(key="src_typed").set_value("my-model").run()
    assert "endpoint: my-model" in at.markdown[-1].value


def test_check_lists_the_models_and_a_bad_url_is_explained(stub_url):
    at = AppTest.from_function(source_app, default_timeout=60).run()
    at.text_input(key="src_url").set_value(stub_url).run()
    at.button(key="src_check").click().run()
    assert at.selectbox(key="src_model").options == ["stub-model"]
    assert f"endpoint: stub-model at {stub_url}" in at.markdown[-1].value
    at.text_input(key="src_key_env").set_value("NO_SUCH_VARIABLE_XYZ").run()
    assert "NO_SUCH_VARIABLE_XYZ" in at.warning[0].value
    at.text_input(key="src_url").set_value(stub_url + "/other").run()
    assert not at.selectbox and "no endpoint" in at.markdown[-1].value  # listed for the old URL
    at.text_input(key="src_url").set_value("localhost:8000").run()
    assert "not a server address" in at.error[0].value and "no endpoint" in at.markdown[-1].value


def load_app(url: str):
    import streamlit as st

    from core.serving import client
    from ui.chat import load_tab

    ep = client.Endpoint(base_url=url, model="stub-model")
    load_tab.load_test_ui("load", ep, gpu_price=3.6, device="cpu", hardware="stub box")
    import ui

    st.write(f"measured: {[(m.label, m.hardware) for m in ui.measurements()]}")


def _wait_for_jobs(tool: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while jobs.active(tool) and time.monotonic() < end:
        time.sleep(0.2)
    assert not jobs.active(tool)


def test_load_test_panel_runs_two_levels_and_feeds_the_business_case(stub_url):
    at = AppTest.from_function(load_app, args=(stub_url,), default_timeout=60).run()
    at.multiselect(key="load_levels").set_value([1, 2])
    at.number_input(key="load_requests").set_value(4)
    at.number_input(key="load_output").set_value(PIECES).run()
    at.button(key="load_start").click().run()
    _wait_for_jobs("serving-load")
    at.run()
    table = at.dataframe[0].value
    assert list(table["Streams"]) == [1, 2] and list(table["Requests"]) == [4, 4]
    assert (table["Tokens/s (all)"] > 0).all() and (table["Errors"] == 0).all()
    assert len(at.get("plotly_chart")) == 2
    at.button(key="load_use").click().run()
    assert "stub-model @ 127.0.0.1" in at.markdown[-1].value
    assert "streams, served" in at.markdown[-1].value


def test_load_test_against_nothing_fails_with_a_clear_message():
    url = f"http://127.0.0.1:{servers.free_port()}/v1"
    at = AppTest.from_function(load_app, args=(url,), default_timeout=60).run()
    at.multiselect(key="load_levels").set_value([1]).run()
    at.button(key="load_start").click().run()
    _wait_for_jobs("serving-load")
    at.run()
    assert "Nothing is listening" in at.error[0].value and not at.dataframe


# ---- Serve it: a managed server's health, window, Restart --------------------------------


def panel_app(folder: str):
    import streamlit as st

    from ui.chat import serve

    ep = serve.serve_panel_ui("serve", folder)
    st.write(f"served: {ep.base_url if ep else None}")


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """servers.start runs the stand-in server (tests/test_servers.py) for a model folder
    whose window is 96 tokens; every server it started is stopped afterwards."""
    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path))
    monkeypatch.setattr(servers, "serve_command", fake_command)
    yield saved_model(tmp_path / "model", window=96)
    servers.stop_all()


def test_serve_panel_starts_shows_health_and_stops(fake):
    at = AppTest.from_function(panel_app, args=(fake,), default_timeout=60).run()
    assert "served: None" in at.markdown[-1].value
    assert "vllm serve" in at.code[-1].value
    at.button(key="serve_start").click().run()
    server = servers.get(fake)
    assert servers.wait_ready(server, timeout_s=30)
    at.run()
    assert "healthy" in at.success[0].value and "Window: 96 tokens" in at.success[0].value
    assert f"served: {server.base_url}" in at.markdown[-1].value
    at.button(key="serve_stop").click().run()
    assert not server.alive and "served: None" in at.markdown[-1].value


def test_a_server_that_fails_or_dies_shows_failed_with_its_log_and_a_restart(fake):
    at = AppTest.from_function(panel_app, args=(fake,), default_timeout=60).run()
    at.button(key="serve_start").click().run()
    first = servers.get(fake)
    assert servers.wait_ready(first, timeout_s=30)
    (Path(fake) / "unhealthy").touch()  # /health answers 503, as after a dead worker
    at.run()
    assert not at.info  # not "Starting..."
    assert "failed: /health answered 503" in at.error[0].value
    assert "fake server up on" in at.code[0].value  # the last log lines
    assert at.button(key="serve_restart") and at.button(key="serve_stop")
    os.kill(first.pid, signal.SIGKILL)  # and now it dies
    first.process.wait(10)
    (Path(fake) / "unhealthy").unlink()
    at.run()
    assert "exited" in at.error[0].value
    at.button(key="serve_restart").click().run()
    second = servers.get(fake)
    assert second.pid != first.pid and servers.wait_ready(second, timeout_s=30)
    at.run()
    assert "healthy" in at.success[0].value and not at.error


def server_chat_app():
    import streamlit as st

    from ui.chat import chat_tab

    endpoint, _ = chat_tab.server_chat_ui([])
    st.write(f"endpoint: {endpoint.model if endpoint else None}")


def max_new_tokens(at: AppTest):
    """The Max new tokens widget, whichever window it is keyed by."""
    return next(n for n in at.number_input if n.label == "Max new tokens")


def test_a_served_window_of_96_bounds_max_new_tokens(fake):
    server = servers.start(fake)
    assert servers.wait_ready(server, timeout_s=30)
    at = AppTest.from_function(server_chat_app, default_timeout=60).run()
    at.text_input(key="chat_server_url").set_value(server.base_url).run()
    at.text_input(key="chat_server_typed").set_value(fake).run()
    widget = max_new_tokens(at)
    assert widget.value <= 96 // 3 and widget.max <= 96  # 120 of 96 killed the server
    assert any("96-token window" in c.value and "this app serves it" in c.value for c in at.caption)
    assert any("this app started" in c.value and "healthy" in c.value for c in at.caption)
    (Path(fake) / "unhealthy").touch()
    at.run()  # chatting with it as "A server": its failure shows here too, with Restart
    assert "failed" in at.error[0].value and at.button(key="chat_server_managed_restart")


# ---- servers that list no models, give a window, or are not an OpenAI API ----------------


class _ModelsStub(BaseHTTPRequestHandler):
    """GET BASE/v1/models for three bases: /empty (no models), /vllm (a window, as vLLM lists
    it) and /page (a web page, as the Streamlit port answers); a POST to /page is refused."""

    def log_message(self, *args) -> None:
        pass

    def _send(self, code: int, kind: str, body: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.end_headers()
        self.wfile.write(body.encode())

    def do_GET(self) -> None:
        if self.path.startswith("/page"):
            return self._send(200, "text/html", "<!doctype html><title>Streamlit</title>")
        data = [{"id": "m96", "object": "model", "max_model_len": 96}]
        models = [] if self.path.startswith("/empty") else data
        self._send(200, "application/json", json.dumps({"object": "list", "data": models}))

    def do_POST(self) -> None:
        self._send(405, "text/html", "<html>405: Method Not Allowed</html>")


@pytest.fixture(scope="module")
def models_stub():
    with http_stub(_ModelsStub) as url:
        yield url


def check(at: AppTest, url: str, key: str = "src") -> AppTest:
    at.text_input(key=f"{key}_url").set_value(url).run()
    return at.button(key=f"{key}_check").click().run()


def test_a_web_page_given_as_the_server_says_it_is_not_an_openai_api(models_stub):
    at = check(AppTest.from_function(source_app, default_timeout=60).run(), models_stub + "/page")
    shown = at.error[0].value
    assert "this is not an OpenAI-compatible API (GET /models: it sent a web page)" in shown
    assert "_set_private_attributes" not in shown and "type the model name" in shown
    from core.serving import client
    from core.text.prompt import Settings

    ep = client.Endpoint(base_url=models_stub + "/page", model="m")
    kind, err = client.last_event(
        client.stream_completion(ep, "hi", Settings.only(max_new_tokens=2), threading.Event())
    )
    assert kind == "error" and err.kind == "not_openai"


def test_check_on_an_empty_model_list_says_so(models_stub):
    at = check(AppTest.from_function(source_app, default_timeout=60).run(), models_stub + "/empty")
    assert "answered, but lists no models" in at.error[0].value and not at.selectbox


def test_a_window_the_server_lists_bounds_max_new_tokens_and_an_unknown_one_is_said(
    models_stub, stub_url
):
    at = AppTest.from_function(server_chat_app, default_timeout=60).run()
    check(at, models_stub + "/vllm/v1", key="chat_server")
    assert at.selectbox(key="chat_server_model").value == "m96"
    assert max_new_tokens(at).value <= 96 // 3 and max_new_tokens(at).max <= 96
    assert any("96-token window (as the server lists it)" in c.value for c in at.caption)
    check(at, stub_url, key="chat_server")  # lists its model, without a window
    assert any("does not say stub-model's window" in c.value for c in at.caption)
    assert max_new_tokens(at).max == 1024  # today's bound: the cap of a 2,048 window


def test_the_server_fields_and_max_new_tokens_survive_a_switch_to_a_local_model(
    stub_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("DASHBOARD_MODELS", str(tmp_path))
    at = open_page("pages/chat_gpt2.py")
    at.radio(key="chat_source").set_value("A server (OpenAI-compatible)").run()
    at.text_input(key="chat_server_url").set_value(stub_url).run()
    at.text_input(key="chat_server_typed").set_value("stub-model").run()
    max_new_tokens(at).set_value(50).run()
    at.radio(key="chat_source").set_value("Local model").run()
    assert max_new_tokens(at).value == 50
    at.radio(key="chat_source").set_value("A server (OpenAI-compatible)").run()
    assert at.text_input(key="chat_server_url").value == stub_url
    assert at.text_input(key="chat_server_typed").value == "stub-model"
    assert max_new_tokens(at).value == 50 and not at.exception
