"""Replies: `Reply` and `TokenInfo`, the one shape of a reply whether the local model or a
server (`core.serving.client`) wrote it, and `stream_reply`, which streams the local
model's reply token by token.

A local reply is a `core.jobs` job in the device's reply lane, so replies queue in order with
their place shown. Its worker holds `LoadedModel.lock` (two threads calling `generate` on one
model can corrupt each other, transformers #32217) and always ends the stream with an 'end'
or 'error' event, so a failure shows in the page instead of hanging it (transformers
#27927). Stop is an Event checked by a StoppingCriteria at every token.

torch is imported where a reply is generated, so the types load light (the server client
uses them).
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from core import device as dev
from core.economics import costs
from core.text.prompt import Prompt, Settings, stop_sequences

if TYPE_CHECKING:
    from core.text.loading import LoadedModel

SMALL_MODEL_PARAMS = 50_000_000  # below this a reply decodes on one CPU thread (see below)
WAITING_POLL_S = 0.25  # how often a queued reply reports its place
TOP_ALTERNATIVES = 5  # alternatives kept per generated token


@dataclass
class TokenInfo:
    """One generated token and what else the model considered."""

    text: str
    probability: float  # under the model's own distribution (before sampling filters)
    alternatives: list[tuple[str, float]]  # top 5 (token text, probability)


@dataclass(kw_only=True)
class Reply:
    """A finished (or stopped) reply with its measurements, from the local model or a
    server. The last three fields are a server's; a local reply leaves them None."""

    text: str = ""
    prompt_tokens: int = 0  # a server's from its `usage`; 0 when it sent none
    new_tokens: int = 0  # a server's from `usage`, else the number of streamed pieces
    ttft_s: float = math.nan  # seconds from the call to the first new token
    seconds: float = 0.0  # the call (after any queueing) to the last token
    stopped: bool = False  # Stop pressed
    waited_s: float = 0.0  # seconds queued behind other replies (a server queues inside: 0)
    tokens: list[TokenInfo] = field(default_factory=list)  # empty: a server sent no logprobs
    usage_reported: bool | None = None  # token counts came from the server's `usage`
    unsupported: list[str] | None = None  # parameters the server refused
    finish_reason: str | None = None  # why the server ended it ("length", "stop")

    @classmethod
    def served(cls) -> Reply:
        """An empty reply from a server, its server fields set."""
        return cls(usage_reported=False, unsupported=[], finish_reason="")

    @property
    def tokens_per_s(self) -> float:
        """Decode speed: tokens after the first, per second after the first arrived."""
        return decode_rate(self.new_tokens, self.seconds - self.ttft_s)

    def stats(self) -> dict:
        """The measurements as plain values (no token details; a local reply has no server
        fields)."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "tokens"}
        values = {name: value for name, value in values.items() if value is not None}
        return values | {"tokens_per_s": self.tokens_per_s}


def decode_rate(new_tokens: int, decode_s: float) -> float:
    """Tokens per second after the first token; nan when it cannot be told."""
    if new_tokens < 2 or not decode_s > 0:
        return math.nan
    return (new_tokens - 1) / decode_s


def cost_per_1k_tokens(usd_per_hour: float, tokens_per_s: float) -> float | None:
    """`costs.usd_per_1k_tokens` at a measured speed; None when the speed could not be
    timed (a reply of one token, or nothing)."""
    if not (math.isfinite(tokens_per_s) and tokens_per_s > 0):
        return None
    return costs.usd_per_1k_tokens(usd_per_hour, tokens_per_s)


class TokenStreamer:
    """A transformers streamer that forwards each new token id to a queue."""

    def __init__(self, q: queue.Queue):
        self.q, self.prompt_seen = q, False

    def put(self, value) -> None:
        if not self.prompt_seen:  # generate() sends the prompt first
            self.prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            self.q.put(("token", token, time.perf_counter()))

    def end(self) -> None:
        pass


def generate_kwargs(lm: LoadedModel, prompt: Prompt, s: Settings, halt) -> dict:
    """generate()'s arguments for `prompt`; `halt()` True ends it at the next token."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class OnEvent(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full(
                (input_ids.shape[0],), halt(), dtype=torch.bool, device=input_ids.device
            )

    ids = torch.tensor([prompt.ids], device=lm.device)
    tok = lm.tokenizer
    kwargs = s.generate_kwargs() | dict(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),  # GPT-2 has no pad token: say what is prompt
        pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
        stopping_criteria=StoppingCriteriaList([OnEvent()]),
        return_dict_in_generate=True,
        output_logits=True,
    )
    stops = stop_sequences(lm, s)
    if stops:  # stop_strings needs the tokenizer to find them in the tokens
        kwargs |= dict(stop_strings=stops, tokenizer=tok)
    if lm.static_cache:
        kwargs["cache_implementation"] = "static"
    return kwargs


def generation_threads(lm: LoadedModel) -> int:
    """CPU threads for one reply on `lm`: one for a model under SMALL_MODEL_PARAMS, where a
    second thread decoded at most 1 % faster yet spent twice the CPU time (OpenMP's idle
    spinning; measured on GPT-2s of 0.07M-16M parameters, 2 cores), which on a shared server
    is CPU another session waits for; all of them for bigger models, which they speed up."""
    chosen = getattr(lm.choice, "threads", 0)  # the fast path's measured count, if any
    if lm.device == "cpu" and chosen:
        return chosen
    if lm.device == "cpu" and lm.parameters < SMALL_MODEL_PARAMS:
        return 1
    return dev.cpu_threads()


def _generate_job(lm: LoadedModel, prompt: Prompt, s: Settings, stop: threading.Event, q):
    """The queued work of one reply: generate under the model's lock, every event to `q`."""

    def work(ctx) -> None:
        import torch

        try:
            with lm.lock:  # one generation per model at a time (transformers #32217)
                q.put(("started", None, time.perf_counter()))
                with dev.torch_threads(generation_threads(lm)), torch.inference_mode():
                    if s.seed is not None:
                        torch.manual_seed(s.seed)
                    halt = lambda: stop.is_set() or ctx.should_stop()  # noqa: E731
                    kwargs = generate_kwargs(lm, prompt, s, halt)
                    out = lm.model.generate(streamer=TokenStreamer(q), **kwargs)
            q.put(("done", out, time.perf_counter()))
        except Exception as err:  # shown in the page; the stream always ends
            q.put(("error", f"{type(err).__name__}: {err}", 0.0))

    return work


def stream_reply(
    lm: LoadedModel, prompt: Prompt, settings: Settings, stop: threading.Event, timeout: float = 120
) -> Iterator[tuple[str, object]]:
    """Events while a queued worker generates: ('waiting', place in the queue) while other
    replies on this device go first (again each time the place changes), ('text', reply so
    far) as tokens arrive, then ('end', Reply) or ('error', message). The reply is a
    `core.jobs` job in the device's reply lane (so it waits its turn in order, and the Runs
    page's Stop reaches it). Closing the iterator early (the page was interrupted) sets
    `stop`; a reply still waiting then leaves the queue."""
    from core import jobs

    q: queue.Queue = queue.Queue()
    t_call = time.perf_counter()
    job = jobs.submit(
        _generate_job(lm, prompt, settings, stop, q),
        f"reply on {Path(lm.name).name or lm.name}",
        tool="chat",
        device=jobs.reply_lane(lm.device),
        meta={"uses": (lm,)},
        keep=False,
    )
    try:
        yield from _events(lm, prompt, settings, job, q, t_call, timeout, stop)
    finally:
        stop.set()  # an interrupted page stops the worker within a token
        job.stop()  # and a reply still queued leaves the queue


def _events(lm, prompt, settings, job, q, t_call: float, timeout: float, stop):
    """stream_reply's events from the worker's queue `q` and the state of its `job`."""
    reply, ids, t_start, idle_s = Reply(prompt_tokens=len(prompt.ids)), [], t_call, 0.0
    place = None  # the last place reported: a page redraws only when it changes
    while True:
        try:
            kind, payload, at = q.get(timeout=WAITING_POLL_S)
        except queue.Empty:
            if job.queued:
                if job.position != place:
                    place = job.position
                    yield "waiting", place or 1
                continue
            if not job.active:  # cancelled while queued (Runs page) or ended silently
                yield "error", "The reply was cancelled before it started."
                return
            idle_s += WAITING_POLL_S
            if idle_s >= timeout:
                yield "error", f"No token for {timeout:.0f} s; generation was abandoned."
                return
            continue
        idle_s = 0.0
        if kind == "started":
            reply.waited_s, t_start = at - t_call, at
        elif kind == "token":
            if not ids:
                reply.ttft_s = at - t_start
            ids.append(payload)
            if q.empty():  # decode only when caught up, not once per queued token
                reply.text = lm.tokenizer.decode(ids, skip_special_tokens=True)
                yield "text", reply.text
        elif kind == "error":
            yield "error", payload
            return
        else:
            reply.seconds = at - t_start
            _finish(lm, reply, payload, settings, stop.is_set() or job.stop_requested)
            yield "end", reply
            return


def _finish(lm: LoadedModel, reply: Reply, out, s: Settings, stopped: bool) -> None:
    """Trim stop strings, count tokens, attach per-token probabilities."""
    tok = lm.tokenizer
    new = out.sequences[0, reply.prompt_tokens :].tolist()
    if tok.eos_token_id is not None and new and new[-1] == tok.eos_token_id:
        new = new[:-1]
    reply.new_tokens, reply.stopped = len(new), stopped
    text = tok.decode(new, skip_special_tokens=True)
    cut = min((text.find(x) for x in stop_sequences(lm, s) if x and x in text), default=-1)
    reply.text = (text[:cut] if cut >= 0 else text).strip() if s.mode == "chat" else text
    if new:
        reply.tokens = _token_details(tok, out.logits, new)


def _token_details(tok, logits, new: list[int]) -> list[TokenInfo]:
    """Each new token's probability and top alternatives, from generate()'s logits."""
    import torch

    # one softmax and one top-k for the whole reply, not one per token
    probs = torch.cat([step[:1] for step in logits[: len(new)]]).float().softmax(-1)
    chosen = probs.gather(1, torch.tensor(new, device=probs.device)[:, None])[:, 0].tolist()
    top_p, top_i = (t.tolist() for t in probs.topk(TOP_ALTERNATIVES, dim=-1))
    text_of = {j: tok.decode([j]) for j in set(new).union(*top_i)}
    return [
        TokenInfo(
            text_of[token],
            chosen[k],
            [(text_of[j], q) for q, j in zip(top_p[k], top_i[k], strict=True)],
        )
        for k, token in enumerate(new)
    ]
