"""A served endpoint under load: concurrency levels x bounded requests, each level bounded
in time too, with throughput, time to first token, latency and USD per 1M tokens.

    results = load_test(endpoint, LoadTest(levels=(1, 8)), progress)   # a Progress
    best_level(results)
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from core.progress import QUIET, Progress
from core.serving.client import Endpoint, ServingError, last_event, stream_chat, stream_completion
from core.text.generate import cost_per_1k_tokens
from core.text.prompt import Settings, Turn

STOP_GRACE_S = 5.0  # after the time limit, streams in flight get this long to end


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

    def settings(self) -> Settings:
        """What each request asks: greedy, `output_tokens` long, nothing else (every other
        knob off: the server's own defaults)."""
        return Settings.only(temperature=0.0, max_new_tokens=self.output_tokens)


@dataclass(kw_only=True)
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


def usd_per_1m_tokens(usd_per_hour: float, tokens_per_s: float) -> float:
    """USD per million tokens at `tokens_per_s` (core.economics.costs' formula); nan when
    nothing was generated."""
    per_1k = cost_per_1k_tokens(usd_per_hour, tokens_per_s)
    return math.nan if per_1k is None else per_1k * 1000


def _one_request(endpoint: Endpoint, test: LoadTest, stop: threading.Event):
    settings, prompt = test.settings(), load_prompt(test.prompt_tokens)
    if test.chat:
        turns = [Turn(role="user", content=prompt)]
        return last_event(stream_chat(endpoint, turns, settings, stop, logprobs=False))
    return last_event(stream_completion(endpoint, prompt, settings, stop, logprobs=False))


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
        usd_per_1m_tokens=usd_per_1m_tokens(test.usd_per_gpu_hour, agg),
        first_error=str(errs[0]) if errs else "",
        cut_short=len(ok) + len(errs) < total,
    )


def load_test(
    endpoint: Endpoint, test: LoadTest, progress: Progress = QUIET, warmup: bool = True
) -> list[LevelResult]:
    """Run each level in turn (one untimed warm-up request first), reporting to `progress`;
    stops by itself when the time limit passes, when `progress.should_stop()` turns true,
    or when nothing is listening."""
    stop, start = threading.Event(), time.monotonic()
    end = start + test.time_limit_s
    watcher = threading.Thread(target=_watch, args=(stop, progress, end), daemon=True)
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
            progress.report(i / len(test.levels), f"{level} concurrent streams")
            out.append(_run_level(endpoint, test, level, time.monotonic() + share, stop))
        progress.report(1.0, "done")
        return out
    finally:
        stop.set()


def _watch(stop: threading.Event, progress: Progress, end: float) -> None:
    """Set `stop` on the user's Stop or at the hard end (plus a grace for the last stream)."""
    while not stop.wait(0.2):
        if progress.should_stop() or time.monotonic() > end + STOP_GRACE_S:
            stop.set()


def best_level(results: list[LevelResult]) -> LevelResult | None:
    """The level with the highest aggregate throughput and no errors, if any."""
    clean = [r for r in results if r.errors == 0 and r.requests > 0]
    return max(clean, key=lambda r: r.aggregate_tokens_per_s, default=None)
