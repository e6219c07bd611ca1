"""A served endpoint under load: `transformers serve --continuous-batching` on localhost with
the GPT-2 124M architecture (random weights, built offline), measured through core.serving.

- aggregate_speedup_8_vs_1: output tokens/s of all streams with 8 concurrent requests over
  the same with 1 (core.serving.loadtest.load_test; target >= 2.5 on this 2-core CPU).
- client_overhead_ratio: tokens/s of one streamed completion through core.serving.client over the
  same request in a plain `openai` client loop (same server, prompt and settings; medians
  of --repeats, interleaved; target >= 0.95).
Last line: a JSON object.

    python3 bench/serve.py [--tokens 64] [--requests 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import cpu  # noqa: E402
from bench.chat import gpt2_124m  # noqa: E402
from core.serving import client, loadtest, servers  # noqa: E402
from core.text.prompt import Settings  # noqa: E402


def save_model(folder: Path) -> str:
    """GPT-2 small's shape with random weights and bench/chat.py's word tokenizer, saved."""
    lm = gpt2_124m("cpu")
    lm.model.save_pretrained(folder)
    lm.tokenizer.save_pretrained(folder)
    return str(folder)


def app_request(ep: client.Endpoint, prompt: str, tokens: int) -> tuple[float, int]:
    """(seconds, completion tokens) of one streamed completion through core.serving.client:
    greedy, no other knob sent (as the plain request below)."""
    settings = Settings.only(max_new_tokens=tokens, temperature=0.0)
    t0 = time.perf_counter()
    kind, reply = client.last_event(
        client.stream_completion(ep, prompt, settings, threading.Event(), logprobs=False)
    )
    if kind != "end":
        raise reply
    return time.perf_counter() - t0, reply.new_tokens


def plain_request(ep: client.Endpoint, prompt: str, tokens: int) -> tuple[float, int]:
    """The same request in a plain openai client loop."""
    import openai

    client = openai.OpenAI(base_url=ep.base_url, api_key="none", max_retries=0, timeout=120)
    t0 = time.perf_counter()
    stream = client.completions.create(
        model=ep.model,
        prompt=prompt,
        max_tokens=tokens,
        temperature=0.0,
        stream=True,
        stream_options={"include_usage": True},
    )
    used = 0
    for chunk in stream:
        if chunk.usage:
            used = chunk.usage.completion_tokens
    return time.perf_counter() - t0, used


def overhead(ep: client.Endpoint, tokens: int, repeats: int) -> dict:
    """App vs plain tokens/s, interleaved, medians."""
    prompt = loadtest.load_prompt(16)
    app, plain = [], []
    for _ in range(repeats):
        s, n = app_request(ep, prompt, tokens)
        app.append(n / s)
        s, n = plain_request(ep, prompt, tokens)
        plain.append(n / s)
    a, p = statistics.median(app), statistics.median(plain)
    return {"tokens_per_s_app": a, "tokens_per_s_plain": p, "client_overhead_ratio": a / p}


def concurrency(ep: client.Endpoint, tokens: int, requests: int) -> dict:
    """Aggregate tokens/s at 1 and 8 concurrent streams."""
    test = loadtest.LoadTest(
        levels=(1, 8),
        prompt_tokens=16,
        output_tokens=tokens,
        requests_per_level=requests,
        time_limit_s=1800,
    )
    one, eight = loadtest.load_test(ep, test)
    for level in (one, eight):
        if level.errors:
            raise RuntimeError(f"level {level.concurrency}: {level.first_error}")
    return {
        "tokens_per_s_1": one.aggregate_tokens_per_s,
        "tokens_per_s_8": eight.aggregate_tokens_per_s,
        "tokens_per_s_per_stream_8": eight.tokens_per_s_per_stream,
        "ttft_p50_s_1": one.ttft_p50_s,
        "ttft_p50_s_8": eight.ttft_p50_s,
        "aggregate_speedup_8_vs_1": eight.aggregate_tokens_per_s / one.aggregate_tokens_per_s,
        "requests_done": [one.requests, eight.requests],  # fewer than asked: time limit hit
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=64, help="output tokens per request")
    ap.add_argument("--requests", type=int, default=8, help="requests at each level (1 and 8)")
    ap.add_argument("--repeats", type=int, default=5, help="app/plain pairs for the overhead")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so `finally` stops the server
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("DASHBOARD_HOME", tmp)
        model = save_model(Path(tmp) / "gpt2-124m-random")
        t0 = time.perf_counter()
        server = servers.start(model)
        try:
            if not servers.wait_ready(server, timeout_s=600):
                raise SystemExit("server did not start:\n" + "\n".join(server.log_tail()))
            startup = time.perf_counter() - t0
            ep = client.Endpoint(base_url=server.base_url, model=model, timeout_s=300)
            app_request(ep, "hello", 8)  # warm-up, untimed
            print(f"server up in {startup:.1f} s", flush=True)
            result = concurrency(ep, args.tokens, args.requests)
            print(json.dumps(result), flush=True)
            result |= overhead(ep, args.tokens, args.repeats)
        finally:
            servers.stop(model)
    result |= {
        "model": "GPT-2 124M architecture, random weights",
        "server": "transformers serve --continuous-batching (127.0.0.1)",
        "output_tokens": args.tokens,
        "requests_per_level": args.requests,
        "server_startup_s": startup,
        "load_average_1min": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(cpu.stamp(result)))


if __name__ == "__main__":
    main()
