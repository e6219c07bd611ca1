"""The chat page's serving widgets (ui.chat.server, serve, load_tab) in AppTest (driven by
widget key, asserting what they show), against a closed port, a small OpenAI-compatible
stub and a stand-in server process."""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from streamlit.testing.v1 import AppTest

from core import jobs
from core.serving import servers

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


@pytest.fixture(scope="module")
def stub_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OpenAIStub)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


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


FAKE_SERVER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
print("stand-in up", flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def panel_app(folder: str):
    import streamlit as st

    from ui.chat import serve

    ep = serve.serve_panel_ui("serve", folder)
    st.write(f"served: {ep.base_url if ep else None}")


def test_serve_panel_starts_shows_health_and_stops(monkeypatch, tmp_path):
    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path))
    fake = [sys.executable, "-c", FAKE_SERVER]
    monkeypatch.setattr(servers, "serve_command", lambda m, port, cb=True: [*fake, str(port)])
    (tmp_path / "config.json").write_text("{}")
    at = AppTest.from_function(panel_app, args=(str(tmp_path),), default_timeout=60).run()
    assert "served: None" in at.markdown[-1].value
    assert "vllm serve" in at.code[-1].value
    at.button(key="serve_start").click().run()
    server = servers.get(str(tmp_path))
    try:
        assert servers.wait_ready(server, timeout_s=30)
        at.run()
        assert (
            "healthy" in at.success[0].value
            and f"served: {server.base_url}" in at.markdown[-1].value
        )
        at.button(key="serve_stop").click().run()
        assert not server.alive and "served: None" in at.markdown[-1].value
    finally:
        servers.stop_all()
