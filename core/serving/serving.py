"""Chat with any OpenAI-compatible server (vLLM, TGI, llama.cpp, Ollama, `transformers
serve`) through the `openai` client, and measure one under load.

- `Endpoint`: where the server is and which model; the API key is named (an environment
  variable or a top-level entry of `.streamlit/secrets.toml`), never held in the object.
- `list_models`, `stream_chat`, `stream_completion`: streamed replies as events
  ("text", reply so far) ... then ("end", ServedReply) or ("error", ServingError).
  Parameters a server rejects are dropped, the request retried, and listed as unsupported.
- `load_test`: concurrency levels x bounded requests, each level bounded in time too.

Only the URL the user typed (or a localhost server the app started) is ever contacted.
"""

from __future__ import annotations

import functools
import math
import os
import re
import statistics
import threading
import time
import tomllib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlparse

NO_KEY = "not-needed"  # local servers ignore the key, but the client insists on one
SECRETS_FILES = (Path(".streamlit") / "secrets.toml", Path.home() / ".streamlit" / "secrets.toml")
TOP_LOGPROBS = 5
# the parameters a user sets, as they are sent; anything else a server rejects is an error
USER_PARAMS = ("temperature", "top_p", "max_tokens", "stop", "seed", "top_k", "repetition_penalty")
EXTRA_PARAMS = ("top_k", "repetition_penalty")  # not in the OpenAI API; vLLM and TGI take them
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

    def __init__(self, kind: str, message: str, partial: ServedReply | None = None):
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
    def host(self) -> str:
        """host:port, for messages and labels."""
        url = urlparse(self.base_url)
        return f"{url.hostname}:{url.port or (443 if url.scheme == 'https' else 80)}"


@dataclass(frozen=True, kw_only=True)
class GenParams:
    """What to ask the server for; None leaves a setting to the server."""

    max_tokens: int = 120  # new tokens at most
    temperature: float | None = 0.8  # 0 = greedy
    top_p: float | None = None
    top_k: int | None = None  # not OpenAI API: sent as an extra field
    repetition_penalty: float | None = None  # not OpenAI API: sent as an extra field
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logprobs: bool = True  # ask for per-token probabilities (dropped if refused)

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError("Max new tokens must be at least 1.")
        if self.temperature is not None and self.temperature < 0:
            raise ValueError("Temperature must be 0 or more.")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError("Top-p must be in (0, 1].")

    @classmethod
    def from_settings(cls, s) -> GenParams:
        """From the chat page's `textgen.Settings` (0 / 1 mean 'off' there)."""
        return cls(
            max_tokens=s.max_new_tokens,
            temperature=s.temperature,
            top_p=s.top_p if s.top_p < 1 else None,
            top_k=s.top_k or None,
            repetition_penalty=s.repetition_penalty if s.repetition_penalty != 1 else None,
            stop=tuple(s.stop),
            seed=s.seed,
        )


@dataclass
class TokenInfo:
    """One generated token, as the server reported it (same fields as textgen.TokenInfo)."""

    text: str
    probability: float
    alternatives: list[tuple[str, float]]  # top 5 (token text, probability)


@dataclass
class ServedReply:
    """A finished (or stopped) reply from a server, with the stats textgen.Reply has."""

    text: str = ""
    prompt_tokens: int = 0  # from `usage`; 0 when the server sent none
    new_tokens: int = 0  # from `usage`, else the number of streamed pieces
    ttft_s: float = math.nan  # seconds from the request to the first text
    seconds: float = 0.0  # request to last piece
    stopped: bool = False  # Stop pressed
    waited_s: float = 0.0  # always 0: queueing happens inside the server
    tokens: list[TokenInfo] = field(default_factory=list)  # empty: server sent no logprobs
    usage_reported: bool = False  # token counts came from the server's `usage`
    unsupported: list[str] = field(default_factory=list)  # parameters the server refused
    finish_reason: str = ""

    @property
    def tokens_per_s(self) -> float:
        """Decode speed: tokens after the first, per second after the first arrived."""
        return decode_rate(self.new_tokens, self.seconds - self.ttft_s)

    def stats(self) -> dict:
        """The reply's figures without its text's token list (the keys textgen.Reply has)."""
        figures = asdict(self)
        del figures["tokens"]
        figures["tokens_per_s"] = self.tokens_per_s
        return figures


def decode_rate(new_tokens: int, decode_s: float) -> float:
    """Tokens per second after the first token; nan when it cannot be told."""
    if new_tokens < 2 or not decode_s > 0:
        return math.nan
    return (new_tokens - 1) / decode_s


def usd_per_tokens(tokens_per_s: float, usd_per_hour: float, tokens: float = 1_000) -> float:
    """USD for `tokens` tokens at `tokens_per_s` on hardware costing `usd_per_hour`."""
    if not tokens_per_s > 0:
        return math.nan
    return usd_per_hour / 3600 / tokens_per_s * tokens


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


def list_models(endpoint: Endpoint) -> list[str]:
    """Model names from GET /v1/models; raises ServingError (then the user types a name)."""
    try:
        return sorted(m.id for m in client(endpoint).models.list())
    except Exception as err:  # every failure becomes a message
        raise map_error(err, endpoint) from err


def _request(endpoint: Endpoint, params: GenParams, chat: bool) -> dict:
    """The create() keyword arguments; extra (non-OpenAI) fields go in extra_body."""
    req: dict = {"model": endpoint.model, "max_tokens": params.max_tokens, "stream": True}
    req["stream_options"] = {"include_usage": True}
    for name in ("temperature", "top_p", "seed", "top_k", "repetition_penalty"):
        if getattr(params, name) is not None:
            req[name] = getattr(params, name)
    if params.stop:
        req["stop"] = list(params.stop)
    if params.logprobs:
        req |= (
            {"logprobs": True, "top_logprobs": TOP_LOGPROBS} if chat else {"logprobs": TOP_LOGPROBS}
        )
    return req


def _create(endpoint: Endpoint, req: dict, chat: bool, payload):
    """Open the stream; a parameter the server refuses is dropped and the call retried."""
    c = client(endpoint)
    dropped: list[str] = []
    while True:
        extra = {k: req[k] for k in EXTRA_PARAMS if k in req}
        base = {k: v for k, v in req.items() if k not in EXTRA_PARAMS}
        call = c.chat.completions.create if chat else c.completions.create
        key = "messages" if chat else "prompt"
        try:
            return call(**base, **{key: payload}, extra_body=extra or None), dropped
        except Exception as err:
            sent = [k for k in req if k not in ("model", "stream")]
            mapped = map_error(err, endpoint, sent)
            name = _droppable(mapped, sent)
            if name is None:
                raise mapped from err
            req = _without(req, name)
            dropped.append(name)


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
    endpoint: Endpoint, params: GenParams, stop_event: threading.Event, chat: bool, payload
) -> Iterator[tuple[str, object]]:
    """The shared streaming loop of stream_chat and stream_completion."""
    if not endpoint.model:
        yield "error", ServingError("unknown_model", "Pick or type a model name first.")
        return
    reply, pieces, t0 = ServedReply(), 0, time.perf_counter()
    stream = None
    try:
        stream, dropped = _create(endpoint, _request(endpoint, params, chat), chat, payload)
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


def _finish(reply: ServedReply, pieces: int, t0: float) -> None:
    reply.seconds = time.perf_counter() - t0
    if not reply.usage_reported:
        reply.new_tokens = max(pieces, len(reply.tokens))


def stream_chat(
    endpoint: Endpoint, messages: list[dict], params: GenParams, stop_event: threading.Event
) -> Iterator[tuple[str, object]]:
    """POST /v1/chat/completions, streamed: ('text', so far)... then ('end', ServedReply)
    or ('error', ServingError with .partial). Setting `stop_event` ends it, text kept."""
    clean = [{"role": m["role"], "content": m["content"]} for m in messages]
    yield from _stream(endpoint, params, stop_event, True, clean)


def stream_completion(
    endpoint: Endpoint, prompt: str, params: GenParams, stop_event: threading.Event
) -> Iterator[tuple[str, object]]:
    """POST /v1/completions, streamed; the same events as stream_chat."""
    yield from _stream(endpoint, params, stop_event, False, prompt)


def last_event(events: Iterator[tuple[str, object]]) -> tuple[str, object]:
    """Run a stream to its end and return its final ('end' | 'error', payload) event."""
    tail = deque(events, maxlen=1)
    return tail[0] if tail else ("error", ServingError("cut", "The stream sent nothing."))


# ---- load test --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LoadTest:
    """A bounded load test: every level ends after `requests_per_level` or its time share."""

    levels: tuple[int, ...] = (1, 2, 4, 8, 16)  # concurrent streams
    prompt_tokens: int = 64  # about this many prompt tokens (one word each)
    output_tokens: int = 64  # max_tokens per request
    requests_per_level: int = 16  # at least the level's concurrency is used
    time_limit_s: float = 120.0  # whole test; levels left when it runs out are skipped
    usd_per_gpu_hour: float = 0.0  # price of the server's hardware, USD per hour
    chat: bool = False  # /v1/chat/completions instead of /v1/completions

    def __post_init__(self) -> None:
        if not self.levels or any(c < 1 or c > 256 for c in self.levels):
            raise ValueError("Concurrency levels must be whole numbers between 1 and 256.")
        if not 1 <= self.prompt_tokens <= 32_000 or not 1 <= self.output_tokens <= 8_192:
            raise ValueError("Prompt length 1-32,000 tokens and output length 1-8,192.")
        if not 1 <= self.requests_per_level <= 1_000:
            raise ValueError("Requests per level must be between 1 and 1,000.")
        if not 1 <= self.time_limit_s <= 3_600:
            raise ValueError("The time limit must be between 1 s and 1 hour.")
        if self.usd_per_gpu_hour < 0:
            raise ValueError("The GPU price cannot be negative.")


@dataclass
class LevelResult:
    """What one concurrency level delivered."""

    concurrency: int
    requests: int  # finished without error
    errors: int
    seconds: float  # wall time of the level
    output_tokens: int
    aggregate_tokens_per_s: float  # all streams together
    tokens_per_s_per_stream: float  # median decode speed one user sees
    ttft_p50_s: float
    ttft_p95_s: float
    latency_p50_s: float
    latency_p95_s: float
    usd_per_1m_tokens: float  # at the given hardware price
    first_error: str = ""
    cut_short: bool = False  # the time limit or Stop ended it before all requests ran


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; nan for no values."""
    if not values:
        return math.nan
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def load_prompt(tokens: int) -> str:
    """A prompt of about `tokens` tokens for any BPE or word tokenizer."""
    return " ".join(["hello"] * tokens)


def _one_request(endpoint: Endpoint, test: LoadTest, stop: threading.Event):
    params = GenParams(max_tokens=test.output_tokens, temperature=0.0, logprobs=False)
    prompt = load_prompt(test.prompt_tokens)
    if test.chat:
        events = stream_chat(endpoint, [{"role": "user", "content": prompt}], params, stop)
    else:
        events = stream_completion(endpoint, prompt, params, stop)
    return last_event(events)


def _run_level(
    endpoint: Endpoint, test: LoadTest, concurrency: int, deadline: float, stop: threading.Event
) -> LevelResult:
    """`concurrency` workers take requests until the level's count or the deadline."""
    total = max(test.requests_per_level, concurrency)
    taken, lock, results = [0], threading.Lock(), []

    def worker() -> None:
        while not stop.is_set() and time.monotonic() < deadline:
            with lock:
                if taken[0] >= total:
                    return
                taken[0] += 1
            try:
                results.append(_one_request(endpoint, test, stop))
            except Exception as err:  # counted as a failed request, never a silent gap
                results.append(("error", ServingError("rejected", f"{type(err).__name__}: {err}")))

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency, thread_name_prefix="load") as pool:
        for _ in range(concurrency):
            pool.submit(worker)
    return _summarise(concurrency, results, time.perf_counter() - t0, total, test)


def _summarise(concurrency: int, results: list, seconds: float, total: int, test: LoadTest):
    ok = [r for kind, r in results if kind == "end" and not r.stopped]
    errs = [r for kind, r in results if kind == "error"]
    tokens = sum(r.new_tokens for r in ok)
    agg = tokens / seconds if seconds > 0 else math.nan
    per_stream = [r.tokens_per_s for r in ok if r.tokens_per_s == r.tokens_per_s]
    return LevelResult(
        concurrency=concurrency,
        requests=len(ok),
        errors=len(errs),
        seconds=seconds,
        output_tokens=tokens,
        aggregate_tokens_per_s=agg,
        tokens_per_s_per_stream=statistics.median(per_stream) if per_stream else math.nan,
        ttft_p50_s=percentile([r.ttft_s for r in ok], 50),
        ttft_p95_s=percentile([r.ttft_s for r in ok], 95),
        latency_p50_s=percentile([r.seconds for r in ok], 50),
        latency_p95_s=percentile([r.seconds for r in ok], 95),
        usd_per_1m_tokens=usd_per_tokens(agg, test.usd_per_gpu_hour, 1e6),
        first_error=str(errs[0]) if errs else "",
        cut_short=len(ok) + len(errs) < total,
    )


def load_test(
    endpoint: Endpoint,
    test: LoadTest,
    progress: Callable[[float, str], None] = lambda p, m: None,
    should_stop: Callable[[], bool] = lambda: False,
    warmup: bool = True,
) -> list[LevelResult]:
    """Run each level in turn (one untimed warm-up request first); stops by itself when the
    time limit passes, when `should_stop()` turns true, or when nothing is listening."""
    stop, start = threading.Event(), time.monotonic()
    end = start + test.time_limit_s
    watcher = threading.Thread(target=_watch, args=(stop, should_stop, end), daemon=True)
    watcher.start()
    try:
        if warmup:
            kind, payload = _one_request(endpoint, test, stop)
            if kind == "error" and payload.kind not in ("cut", "timeout"):
                raise payload
        out: list[LevelResult] = []
        for i, level in enumerate(test.levels):
            if stop.is_set():
                break
            # each level gets an equal share of the time that is left
            share = (end - time.monotonic()) / (len(test.levels) - i)
            progress(i / len(test.levels), f"{level} concurrent streams")
            out.append(_run_level(endpoint, test, level, time.monotonic() + share, stop))
        progress(1.0, "done")
        return out
    finally:
        stop.set()


def _watch(stop: threading.Event, should_stop: Callable[[], bool], end: float) -> None:
    """Set `stop` on the user's Stop or at the hard end (plus a grace for the last stream)."""
    while not stop.wait(0.2):
        if should_stop() or time.monotonic() > end + 5.0:
            stop.set()


def best_level(results: list[LevelResult]) -> LevelResult | None:
    """The level with the highest aggregate throughput and no errors, if any."""
    clean = [r for r in results if r.errors == 0 and r.requests > 0]
    return max(clean, key=lambda r: r.aggregate_tokens_per_s, default=None)
