"""Chat with any OpenAI-compatible server (vLLM, TGI, llama.cpp, Ollama, `transformers
serve`) through the `openai` client.

- `Endpoint`: where the server is and which model; the API key is named (an environment
  variable or a top-level entry of `.streamlit/secrets.toml`), never held in the object.
- `served_models` (each with its window where the server says it, as vLLM does), `list_models`,
  `stream_chat`, `stream_completion`: streamed replies as events
  ("text", reply so far) ... then ("end", Reply) or ("error", ServingError). What is asked
  comes from the chat's `Settings` (its KNOBS table names each field and what goes in
  `extra_body`). Parameters a server rejects are dropped, the request retried, and listed
  as unsupported.

Only the URL the user typed (or a localhost server the app started) is ever contacted.
"""

from __future__ import annotations

import functools
import math
import os
import re
import threading
import time
import tomllib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from core.serving import listing
from core.serving.listing import ListedModel
from core.text.generate import Reply, TokenInfo
from core.text.prompt import EXTRA_BODY, Settings, Turn

NO_KEY = "not-needed"  # local servers ignore the key, but the client insists on one
SECRETS_FILES = (Path(".streamlit") / "secrets.toml", Path.home() / ".streamlit" / "secrets.toml")
TOP_LOGPROBS = 5
ERROR_KINDS = (
    "nothing_listening",
    "wrong_path",
    "auth",
    "unknown_model",
    "parameter",
    "timeout",
    "cut",
    "server",
    "rejected",
    "not_openai",
)
PORT_HINT = (
    "Is it the right port (vLLM and transformers serve use 8000, TGI and llama.cpp 8080, "
    "Ollama 11434) and path (usually ending in /v1)?"
)
# words with which servers say a field is unknown to them (rather than out of range)
UNSUPPORTED_WORDS = (
    "unexpected",
    "unsupported",
    "not supported",
    "unknown",
    "extra",
    "unrecognized",
    "not permitted",
    "not allowed",
)


class ServingError(RuntimeError):
    """A request that failed, with a message a user can act on and what arrived before."""

    def __init__(self, kind: str, message: str, partial: Reply | None = None):
        super().__init__(message)
        self.kind = kind  # one of ERROR_KINDS
        self.partial = partial  # the reply so far, when a stream broke mid-way


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """An OpenAI-compatible server: base URL, model, and the *name* of its API key."""

    base_url: str  # e.g. http://localhost:8000/v1
    model: str = ""  # as the server names it; "" until picked
    api_key_env: str = ""  # environment variable or secrets.toml entry holding the key
    timeout_s: float = 60.0  # longest wait for the next piece of a reply, seconds

    def __post_init__(self) -> None:
        url = urlparse(self.base_url.strip())
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(
                f"'{self.base_url}' is not a server address: use the form "
                "http://localhost:8000/v1 (http or https, a host, usually a /v1 path)."
            )
        if not self.timeout_s > 0:
            raise ValueError("The timeout must be a positive number of seconds.")
        if self.api_key_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.api_key_env):
            raise ValueError(
                "The API key field takes the NAME of an environment variable or secrets.toml "
                "entry (letters, digits, _), not the key itself."
            )

    @property
    def port(self) -> int:
        """The port the URL names (or its scheme's)."""
        url = urlparse(self.base_url)
        return url.port or (443 if url.scheme == "https" else 80)

    @property
    def host(self) -> str:
        """host:port, for messages and labels."""
        url = urlparse(self.base_url)
        return f"{url.hostname}:{self.port}"


# ---- the client -------------------------------------------------------------------------


def _secrets_value(name: str) -> str:
    for path in SECRETS_FILES:
        try:
            value = tomllib.loads(path.read_text()).get(name)
        except (OSError, tomllib.TOMLDecodeError):
            continue
        if isinstance(value, str) and value:
            return value
    return ""


def api_key(endpoint: Endpoint) -> str:
    """The key named by the endpoint (environment first, then secrets.toml), or NO_KEY."""
    if not endpoint.api_key_env:
        return NO_KEY
    return os.environ.get(endpoint.api_key_env) or _secrets_value(endpoint.api_key_env) or NO_KEY


def key_found(endpoint: Endpoint) -> bool:
    """True when the named key exists somewhere (the page says so, never shows it)."""
    return api_key(endpoint) != NO_KEY


@functools.lru_cache(maxsize=16)
def _cached_client(base_url: str, key: str, timeout_s: float):
    import openai

    timeout = openai.Timeout(timeout_s, connect=min(5.0, timeout_s))
    return openai.OpenAI(base_url=base_url, api_key=key, timeout=timeout, max_retries=0)


def client(endpoint: Endpoint):
    """An `openai.OpenAI` for this endpoint (no retries; reused across calls)."""
    return _cached_client(
        endpoint.base_url.strip().rstrip("/"), api_key(endpoint), endpoint.timeout_s
    )


def _detail(err) -> str:
    """The server's own words from an APIStatusError body, short."""
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        text = inner.get("message") or inner.get("detail") if isinstance(inner, dict) else inner
        text = text or body.get("detail") or body
    else:
        text = body or getattr(err, "message", "") or str(err)
    return str(text)[:300]


def _rejected_param(detail: str, sent: list[str]) -> str | None:
    """The parameter a 400/422 message names, among those we sent."""
    low = detail.lower()
    return next((p for p in sent if re.search(rf"\b{re.escape(p)}\b", low)), None)


def map_error(err: Exception, endpoint: Endpoint, sent: list[str] = ()) -> ServingError:
    """An openai/httpx exception as a ServingError with a message a user can act on."""
    import openai

    where = endpoint.base_url
    if isinstance(err, ServingError):
        return err
    if isinstance(err, openai.APITimeoutError):
        return ServingError(
            "timeout", f"{endpoint.host} did not answer within {endpoint.timeout_s:.0f} s."
        )
    if isinstance(err, openai.APIConnectionError):
        return ServingError(
            "nothing_listening",
            f"Nothing is listening at {endpoint.host} ({where}): is the server running, "
            "and is the address and port right?",
        )
    if isinstance(err, openai.APIError) and not isinstance(err, openai.APIStatusError):
        # an error event in the stream: the server's own words (e.g. its worker died)
        return ServingError("server", f"{endpoint.host} failed mid-reply: {_detail(err)}.")
    if not isinstance(err, openai.APIStatusError):
        return ServingError("cut", f"The connection to {endpoint.host} broke: {err}")
    code, detail = err.status_code, _detail(err)
    mentions_model = "model" in detail.lower() or (endpoint.model and endpoint.model in detail)
    if code in (401, 403):
        hint = (
            f"check the key in ${endpoint.api_key_env}"
            if endpoint.api_key_env
            else "this server needs an API key: give the name of the environment variable "
            "that holds it"
        )
        return ServingError("auth", f"{endpoint.host} refused the request ({code}): {hint}.")
    param = _rejected_param(detail, list(sent)) if code in (400, 422) else None
    if param:
        return ServingError("parameter", f"The server refused the parameter '{param}': {detail}")
    if code == 405:  # e.g. a web page's server, which takes no POST
        return not_openai(endpoint, f"{code} {detail}")
    if code in (400, 404) and mentions_model and endpoint.model:
        return ServingError(
            "unknown_model",
            f"{endpoint.host} does not serve a model named '{endpoint.model}': {detail}",
        )
    if code == 404:
        return ServingError(
            "wrong_path",
            f"{where} answered 404 Not Found: check the path (OpenAI-compatible servers "
            "usually end in /v1, e.g. http://localhost:8000/v1).",
        )
    if code >= 500:
        return ServingError("server", f"{endpoint.host} failed ({code}): {detail}")
    return ServingError("rejected", f"{endpoint.host} refused the request ({code}): {detail}")


def not_openai(endpoint: Endpoint, what: str) -> ServingError:
    """The error for a server that answers, but not as the OpenAI API does."""
    return ServingError(
        "not_openai",
        f"{endpoint.host} answered, but this is not an OpenAI-compatible API ({what}). "
        + PORT_HINT,
    )


def served_models(endpoint: Endpoint) -> list[ListedModel]:
    """The server's models from GET /v1/models, each with its window where the server gives
    it; raises ServingError (then the user types a name)."""
    try:
        raw = client(endpoint).models.with_raw_response.list()
    except Exception as err:  # every failure becomes a message
        raise map_error(err, endpoint) from err
    try:
        return listing.parse(raw.http_response)
    except ValueError as err:
        raise not_openai(endpoint, str(err)) from None


def list_models(endpoint: Endpoint) -> list[str]:
    """Model names from GET /v1/models; raises ServingError."""
    return [m.id for m in served_models(endpoint)]


def _request(endpoint: Endpoint, settings: Settings, chat: bool, logprobs: bool) -> dict:
    """The create() keyword arguments: the settings' server fields (Settings.KNOBS; those
    that are off are left to the server), usage in the stream, and logprobs if asked."""
    req: dict = {"model": endpoint.model, "stream": True}
    req |= {"stream_options": {"include_usage": True}} | settings.server_fields()
    if logprobs:
        req |= (
            {"logprobs": True, "top_logprobs": TOP_LOGPROBS} if chat else {"logprobs": TOP_LOGPROBS}
        )
    return req


def _create(endpoint: Endpoint, req: dict, chat: bool, payload):
    """Open the stream; a parameter the server refuses is dropped and the call retried."""
    c = client(endpoint)
    dropped: list[str] = []
    while True:
        extra = {k: req[k] for k in EXTRA_BODY if k in req}
        base = {k: v for k, v in req.items() if k not in EXTRA_BODY}
        call = c.chat.completions.create if chat else c.completions.create
        key = "messages" if chat else "prompt"
        try:
            stream = call(**base, **{key: payload}, extra_body=extra or None)
        except Exception as err:
            sent = [k for k in req if k not in ("model", "stream")]
            mapped = map_error(err, endpoint, sent)
            name = _droppable(mapped, sent)
            if name is None:
                raise mapped from err
            req = _without(req, name)
            dropped.append(name)
            continue
        kind = stream.response.headers.get("content-type", "")
        if kind.startswith("text/html"):  # a web page's server that took the POST
            stream.close()
            raise not_openai(endpoint, "a stream request got a web page")
        return stream, dropped


def _droppable(err: ServingError, sent: list[str]) -> str | None:
    """The parameter to leave out and retry without: one the server says it does not know
    (a value out of range is the user's to fix; max_tokens is never dropped)."""
    if err.kind != "parameter" or not any(w in str(err).lower() for w in UNSUPPORTED_WORDS):
        return None
    name = _rejected_param(str(err), sent)
    return None if name == "max_tokens" else name


def _without(req: dict, name: str) -> dict:
    """`req` minus a refused parameter (logprobs and top_logprobs go together)."""
    drop = {name, "top_logprobs"} if name in ("logprobs", "top_logprobs") else {name}
    return {k: v for k, v in req.items() if k not in drop}


def _token_infos(chunk_logprobs, chat: bool) -> list[TokenInfo]:
    """Per-token probabilities from one chunk's `logprobs`, when the server sent them."""
    if chunk_logprobs is None:
        return []
    if chat:
        return [
            TokenInfo(
                t.token,
                math.exp(t.logprob),
                [(a.token, math.exp(a.logprob)) for a in (t.top_logprobs or [])],
            )
            for t in chunk_logprobs.content or []
        ]
    tops = chunk_logprobs.top_logprobs or [None] * len(chunk_logprobs.tokens or [])
    return [
        TokenInfo(
            tok,
            math.exp(lp) if lp is not None else math.nan,
            sorted(((a, math.exp(b)) for a, b in (top or {}).items()), key=lambda x: -x[1]),
        )
        for tok, lp, top in zip(
            chunk_logprobs.tokens or [], chunk_logprobs.token_logprobs or [], tops, strict=False
        )
    ]


def _piece(chunk, chat: bool) -> tuple[str, object, str]:
    """(text, logprobs, finish_reason) of one streamed chunk; empty for a usage-only chunk."""
    if not chunk.choices:
        return "", None, ""
    choice = chunk.choices[0]
    text = (choice.delta.content or "") if chat else (choice.text or "")
    return text, choice.logprobs, choice.finish_reason or ""


_USER_NAMES = {"stream_options": "usage in streams", "top_logprobs": "logprobs"}


def _stream(
    endpoint: Endpoint, req: dict, stop_event: threading.Event, chat: bool, payload
) -> Iterator[tuple[str, object]]:
    """The shared streaming loop of stream_chat and stream_completion."""
    if not endpoint.model:
        yield "error", ServingError("unknown_model", "Pick or type a model name first.")
        return
    reply, pieces, t0 = Reply.served(), 0, time.perf_counter()
    stream = None
    try:
        stream, dropped = _create(endpoint, req, chat, payload)
        reply.unsupported = [_USER_NAMES.get(d, d) for d in dropped]
        for chunk in stream:
            text, logprobs, finish = _piece(chunk, chat)
            if text:
                if not pieces:
                    reply.ttft_s = time.perf_counter() - t0
                pieces += 1
                reply.text += text
                reply.tokens += _token_infos(logprobs, chat)
                yield "text", reply.text
            reply.finish_reason = finish or reply.finish_reason
            if getattr(chunk, "usage", None):
                reply.prompt_tokens = chunk.usage.prompt_tokens or 0
                reply.new_tokens = chunk.usage.completion_tokens or 0
                reply.usage_reported = True
            if stop_event.is_set():
                reply.stopped = True
                break
        if not reply.stopped and not reply.finish_reason:
            raise ConnectionError("the stream ended before the reply was finished")
    except Exception as err:  # shown in the page with the partial reply
        _finish(reply, pieces, t0)
        mapped = map_error(err, endpoint)
        if pieces and mapped.kind == "nothing_listening":  # the line dropped mid-reply
            mapped = ServingError("cut", f"The connection to {endpoint.host} broke mid-reply.")
        if pieces:
            mapped = ServingError(mapped.kind, f"{mapped} The reply so far is kept.")
        mapped.partial = reply
        yield "error", mapped
        return
    finally:
        if stream is not None:
            stream.close()  # Stop, an error or an interrupted page: free the server's slot
    _finish(reply, pieces, t0)
    yield "end", reply


def _finish(reply: Reply, pieces: int, t0: float) -> None:
    reply.seconds = time.perf_counter() - t0
    if not reply.usage_reported:
        reply.new_tokens = max(pieces, len(reply.tokens))


def stream_chat(
    endpoint: Endpoint,
    messages: list[Turn],
    settings: Settings,
    stop_event: threading.Event,
    logprobs: bool = True,
) -> Iterator[tuple[str, object]]:
    """POST /v1/chat/completions, streamed: ('text', so far)... then ('end', Reply) or
    ('error', ServingError with .partial). Setting `stop_event` ends it, text kept."""
    turns = [Turn(role=m["role"], content=m["content"]) for m in messages]
    req = _request(endpoint, settings, True, logprobs)
    yield from _stream(endpoint, req, stop_event, True, turns)


def stream_completion(
    endpoint: Endpoint,
    prompt: str,
    settings: Settings,
    stop_event: threading.Event,
    logprobs: bool = True,
) -> Iterator[tuple[str, object]]:
    """POST /v1/completions, streamed; the same events as stream_chat."""
    req = _request(endpoint, settings, False, logprobs)
    yield from _stream(endpoint, req, stop_event, False, prompt)


def last_event(events: Iterator[tuple[str, object]]) -> tuple[str, object]:
    """Run a stream to its end and return its final ('end' | 'error', payload) event."""
    tail = deque(events, maxlen=1)
    return tail[0] if tail else ("error", ServingError("cut", "The stream sent nothing."))
