"""core.client.client and loadtest against a REAL `transformers serve` (started once per
module through core.client.servers, with a tiny GPT-2 built here) and, for the failures a
real server will not stage on cue, a small local HTTP stub: 401, a stream cut mid-reply, a
timeout."""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from core.progress import Quiet as QuietProgress
from core.serving import client, loadtest, records, servers
from core.text.generate import cost_per_1k_tokens
from core.text.prompt import Settings
from tests.test_serving_ui import http_stub

CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)
KEY = "sk-test-7f3a"  # the key the stub's /auth accepts
CUT_PIECES = ("Hello", " there")  # what the stub's /cut streams before dropping the line


def save_word_gpt2(folder: Path, words: int = 255) -> Path:
    """A random 2-layer GPT-2 over the words w0..wN (every token prints as text) with a chat
    template and no end-of-text token, so every reply runs to max_tokens."""
    import torch
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab = {f"w{i}": i for i in range(words)} | {"<unk>": words}
    core_tok = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    core_tok.pre_tokenizer = WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=core_tok, unk_token="<unk>")
    tok.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    cfg = GPT2Config(
        vocab_size=words + 1, n_positions=256, n_embd=32, n_layer=2, n_head=2,
        bos_token_id=None, eos_token_id=None,
    )  # fmt: skip
    GPT2LMHeadModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[servers.ManagedServer]:
    """One managed `transformers serve` for the module, warmed up; stopped at the end."""
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("DASHBOARD_HOME", str(home))
    folder = save_word_gpt2(home / "word-gpt2")
    server = servers.start(str(folder))
    try:
        assert servers.wait_ready(server, timeout_s=240), "\n".join(server.log_tail())
        warm_up = Settings.only(max_new_tokens=2)
        client.last_event(
            client.stream_completion(endpoint_of(server), "w1", warm_up, threading.Event())
        )
        yield server
    finally:
        servers.stop(str(folder))
        mp.undo()
    assert not server.alive


def endpoint_of(server: servers.ManagedServer, **kw) -> client.Endpoint:
    return client.Endpoint(base_url=server.base_url, model=server.model, **kw)


GREEDY = Settings.only(max_new_tokens=6, temperature=0.0, seed=0)


# ---- a real server --------------------------------------------------------------------


def test_managed_server_is_found_again_and_healthy(served):
    assert servers.start(served.model) is served  # a second Start reuses it
    assert servers.get(served.model) is served and served in servers.running()
    assert served.status() == "ready" and served.healthy()
    assert served.base_url.startswith("http://127.0.0.1:")
    assert any("Uvicorn running" in line for line in served.log_tail(200))
    assert served.window == 256  # the model's n_positions, for the chat's Max new tokens
    saved = records.load_all(servers.servers_dir())  # what a restarted app finds it by
    assert [(r.pid, r.port, r.window) for r in saved] == [(served.pid, served.port, 256)]


def test_chat_streams_and_counts_tokens(served):
    msgs = [{"role": "system", "content": "w9"}, {"role": "user", "content": "w1 w2 w3"}]
    events = list(client.stream_chat(endpoint_of(served), msgs, GREEDY, threading.Event()))
    texts = [p for k, p in events if k == "text"]
    kind, reply = events[-1]
    assert kind == "end", reply
    assert len(texts) >= 2 and all(b.startswith(a) for a, b in itertools.pairwise(texts))
    assert reply.text == texts[-1] and reply.text.split()[0].startswith("w")
    assert reply.usage_reported and reply.new_tokens == 6 and reply.prompt_tokens > 3
    assert reply.ttft_s > 0 and reply.seconds >= reply.ttft_s and reply.tokens_per_s > 0
    assert reply.finish_reason == "length" and not reply.stopped


def test_completion_round_trip_is_deterministic_when_greedy(served):
    ep = endpoint_of(served)
    a = client.last_event(client.stream_completion(ep, "w4 w5", GREEDY, threading.Event()))
    b = client.last_event(client.stream_completion(ep, "w4 w5", GREEDY, threading.Event()))
    assert a[0] == b[0] == "end"
    assert a[1].text == b[1].text and len(a[1].text.split()) == 6
    assert a[1].prompt_tokens == 2  # two words, two tokens
    assert a[1].stats()["new_tokens"] == 6 and "tokens" not in a[1].stats()


def test_refused_parameters_are_dropped_and_named(served):
    # transformers serve answers 422 "Unexpected fields" for top_k / repetition_penalty
    params = Settings.only(max_new_tokens=4, temperature=0.0, top_k=5, repetition_penalty=1.3)
    kind, reply = client.last_event(
        client.stream_completion(endpoint_of(served), "w1", params, threading.Event())
    )
    assert kind == "end" and reply.new_tokens == 4
    assert set(reply.unsupported) == {"top_k", "repetition_penalty"}
    assert reply.tokens == []  # this server sends no logprobs; the page says so


def test_stop_keeps_the_partial_reply(served):
    stop = threading.Event()
    params = Settings.only(max_new_tokens=200, temperature=0.0)
    seen = []
    for kind, payload in client.stream_completion(endpoint_of(served), "w7", params, stop):
        if kind == "text":
            seen.append(payload)
            if len(seen) == 3:
                stop.set()
    assert kind == "end" and payload.stopped
    assert payload.text == seen[-1] and 3 <= len(payload.text.split()) < 200


def test_unknown_model_and_wrong_path(served):
    bad = client.Endpoint(base_url=served.base_url, model="no/such-model")
    kind, err = client.last_event(client.stream_completion(bad, "w1", GREEDY, threading.Event()))
    assert kind == "error" and err.kind == "unknown_model" and "no/such-model" in str(err)
    root = served.base_url.removesuffix("/v1") + "/api"
    wrong = client.Endpoint(base_url=root, model=served.model)
    kind, err = client.last_event(client.stream_chat(wrong, [], GREEDY, threading.Event()))
    assert err.kind == "wrong_path" and "/v1" in str(err)


def test_models_list_answers_without_a_hub_cache(served):
    # the server scans the hub cache; the manager points it at an empty one instead of a 500
    assert isinstance(client.list_models(endpoint_of(served)), list)


class Seen(QuietProgress):
    """A Progress that keeps the fractions reported."""

    def __init__(self) -> None:
        self.fractions: list[float] = []

    def report(self, progress, message="", rate=None, unit="items") -> None:
        self.fractions.append(progress)


def test_load_test_at_two_levels(served):
    test = loadtest.LoadTest(
        levels=(1, 3), prompt_tokens=8, output_tokens=5, requests_per_level=3, time_limit_s=60
    )
    seen = Seen()
    results = loadtest.load_test(endpoint_of(served), test, seen)
    assert [r.concurrency for r in results] == [1, 3]
    for r in results:
        assert r.requests == 3 and r.errors == 0 and not r.cut_short
        assert r.output_tokens == 15 and r.aggregate_tokens_per_s > 0
        assert r.ttft_p50_s <= r.ttft_p95_s <= r.latency_p95_s
        assert r.usd_per_1m_tokens == 0.0  # no price given
    assert seen.fractions[-1] == 1.0
    assert loadtest.best_level(results) in results


def test_load_test_stops_itself_at_the_time_limit(served):
    test = loadtest.LoadTest(
        levels=(2,), prompt_tokens=4, output_tokens=50, requests_per_level=500, time_limit_s=2
    )
    t0 = time.monotonic()
    (level,) = loadtest.load_test(endpoint_of(served), test, warmup=False)
    assert time.monotonic() - t0 < 2 + 5 + 10  # limit + grace for the streams in flight
    assert level.cut_short and level.requests + level.errors < 500


# ---- failures staged by a stub ---------------------------------------------------------


def _sse(text: str) -> bytes:
    choice = {"index": 0, "text": text, "finish_reason": None, "logprobs": None}
    chunk = {"id": "c", "object": "text_completion", "created": 0, "model": "m"}
    return f"data: {json.dumps(chunk | {'choices': [choice]})}\n\n".encode()


class _Stub(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def _json(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {KEY}":
            self._json(401, {"error": {"message": "Invalid API key", "type": "auth"}})
        else:
            self._json(200, {"object": "list", "data": [{"id": "m", "object": "model"}]})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.startswith("/slow"):
            time.sleep(3)
            self._json(500, {"detail": "too late"})
        elif self.path.startswith("/cut"):
            self._cut_stream()
        elif self.path.startswith("/worker-died"):
            self._cut_stream(b'data: {"error": "index out of range in self"}\n\n')
        else:
            self._json(401, {"error": {"message": "Invalid API key", "type": "auth"}})

    def _cut_stream(self, last: bytes = b"") -> None:
        """Two chunks of a chunked SSE body (then `last`, an error event say), then the
        connection closes without its end."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for text in CUT_PIECES:
            data = _sse(text)
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        if last:
            self.wfile.write(f"{len(last):x}\r\n".encode() + last + b"\r\n0\r\n\r\n")
        self.close_connection = True


@pytest.fixture(scope="module")
def stub() -> Iterator[str]:
    with http_stub(_Stub) as url:
        yield url


def test_401_says_which_key_and_never_shows_it(stub, monkeypatch):
    monkeypatch.setenv("STUB_KEY", "wrong-key")
    ep = client.Endpoint(base_url=f"{stub}/v1", model="m", api_key_env="STUB_KEY")
    with pytest.raises(client.ServingError) as info:
        client.list_models(ep)
    assert info.value.kind == "auth" and "$STUB_KEY" in str(info.value)
    monkeypatch.setenv("STUB_KEY", KEY)
    assert client.list_models(ep) == ["m"]
    assert KEY not in repr(ep) and KEY not in str(dataclasses.asdict(ep))


def test_key_is_read_from_secrets_toml(stub, monkeypatch, tmp_path):
    monkeypatch.delenv("STUB_SECRET", raising=False)
    (tmp_path / "secrets.toml").write_text(f'STUB_SECRET = "{KEY}"\n')
    monkeypatch.setattr(client, "SECRETS_FILES", (tmp_path / "secrets.toml",))
    ep = client.Endpoint(base_url=f"{stub}/v1", model="m", api_key_env="STUB_SECRET")
    assert client.key_found(ep) and client.list_models(ep) == ["m"]


def test_cut_stream_keeps_the_text_so_far(stub):
    ep = client.Endpoint(base_url=f"{stub}/cut/v1", model="m")
    kind, err = client.last_event(client.stream_completion(ep, "x", GREEDY, threading.Event()))
    assert kind == "error" and err.kind == "cut" and "kept" in str(err)
    assert err.partial.text == "".join(CUT_PIECES)


def test_an_error_event_mid_stream_gives_the_servers_words_and_keeps_the_text(stub):
    """transformers serve streams {"error": ...} when its generation worker dies."""
    ep = client.Endpoint(base_url=f"{stub}/worker-died/v1", model="m")
    kind, err = client.last_event(client.stream_completion(ep, "x", GREEDY, threading.Event()))
    assert kind == "error" and err.kind == "server"
    assert "failed mid-reply: index out of range in self" in str(err) and "kept" in str(err)
    assert err.partial.text == "".join(CUT_PIECES)


def test_timeout_and_closed_port(stub):
    slow = client.Endpoint(base_url=f"{stub}/slow/v1", model="m", timeout_s=0.5)
    kind, err = client.last_event(client.stream_chat(slow, [], GREEDY, threading.Event()))
    assert err.kind == "timeout" and "0 s" not in str(err).split("within")[0]
    closed = client.Endpoint(base_url=f"http://127.0.0.1:{servers.free_port()}/v1", model="m")
    with pytest.raises(client.ServingError) as info:
        client.list_models(closed)
    assert info.value.kind == "nothing_listening" and closed.host in str(info.value)


# ---- pure parts --------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["localhost:8000/v1", "ftp://x/v1", "http:///v1", ""])
def test_endpoint_rejects_addresses_that_are_not_urls(url):
    with pytest.raises(ValueError, match="http://localhost:8000/v1"):
        client.Endpoint(base_url=url)


def test_endpoint_wants_a_key_name_not_a_key():
    with pytest.raises(ValueError, match="NAME"):
        client.Endpoint(base_url="http://localhost:8000/v1", api_key_env="sk-live-abc/123")


def test_a_load_test_asks_only_for_greedy_tokens():
    settings = loadtest.LoadTest(output_tokens=9).settings()
    assert settings.server_fields() == {"temperature": 0.0, "max_tokens": 9}


def test_cost_per_tokens_and_percentiles():
    assert cost_per_1k_tokens(3.6, 100.0) == pytest.approx(0.01)  # 3.6 USD/h, 1k tokens
    assert loadtest.usd_per_1m_tokens(3.6, 100.0) == pytest.approx(10.0)
    assert loadtest.usd_per_1m_tokens(3.6, 0.0) != loadtest.usd_per_1m_tokens(3.6, 0.0)  # nan
    assert cost_per_1k_tokens(3.6, float("nan")) is None
    assert loadtest.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert loadtest.percentile([1.0] * 19 + [100.0], 95) > 1.0
