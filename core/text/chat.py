"""A chat: `Message` (one turn as the page keeps it), `follow` (a reply's event stream
written into its message, at most 20 redraws a second), what a reply line says, the exports
(JSON, Markdown that shows every text literally) and the saved chat's `run_record`.

    message = Message.reply_to(settings)
    for kind, payload in follow(message, stream_reply(lm, prompt, settings, stop)): ...
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from core import units
from core.runs.types import RunRecord
from core.text.generate import Reply, TokenInfo, cost_per_1k_tokens
from core.text.prompt import Settings, Turn

REDRAW_EVERY_S = 0.05  # the page redraws a streaming reply at most 20 times a second


@dataclass(kw_only=True)
class Message:
    """One turn of a chat: what was said and, for a reply, how it was made."""

    role: str  # "user" or "assistant"
    content: str = ""  # the text as shown (a reply's grows while it streams)
    settings: Settings | None = None  # what a reply was asked with (None: a user's turn)
    reply: Reply | None = None  # its figures and tokens once it ended (None: cut short)
    server: str = ""  # "model @ host" when a server wrote it
    error: str = ""  # why a server's reply failed (shown with it)

    @classmethod
    def reply_to(cls, settings: Settings, server: str = "") -> Message:
        """An empty assistant message for a reply about to stream with `settings`."""
        return cls(role="assistant", settings=settings, server=server)

    def turn(self) -> Turn:
        """Role and content: what a prompt (or a server's chat API) is built from."""
        return Turn(role=self.role, content=self.content)

    def as_record(self) -> dict:
        """As JSON-able values, without the per-token details (exports and saved runs)."""
        record: dict = {"role": self.role, "content": self.content}
        if self.settings is not None:
            stats = self.reply.stats() if self.reply else None
            record |= {"stats": stats, "settings": settings_record(self.settings)}
        if self.server:
            record["server"] = self.server
        if self.error:
            record["error"] = self.error
        return record


def turns(history: list[Message]) -> list[Turn]:
    """A chat's messages as the turns a prompt is built from."""
    return [m.turn() for m in history]


def settings_record(settings: Settings) -> dict:
    """The settings as plain JSON-able values (kept with each reply)."""
    return asdict(settings) | {"stop": list(settings.stop)}


def follow(
    message: Message,
    events: Iterator[tuple[str, object]],
    every: float = REDRAW_EVERY_S,
    clock=time.monotonic,
) -> Iterator[tuple[str, object]]:
    """Stream a reply's `events` (core.text.generate.stream_reply, or a server's stream)
    into `message`, yielding what the page draws: ('waiting', place in the queue), ('text',
    reply so far) at most once per `every` s whatever the token rate, ('error', why),
    ('end', Reply). A stream cut short (Stop, or any click that reruns the page) keeps its
    text, marked [stopped], and closes `events` (which stops the worker); a failed one is
    marked with why (`error_label`), never [stopped]."""
    last, failed = -math.inf, False
    try:
        for kind, payload in events:
            if kind == "text":
                message.content = payload
                if clock() - last < every:
                    continue
                last = clock()
            elif kind == "error":
                failed = True
                message.content += f" {error_label(payload)}"
            elif kind == "end":
                message.content, message.reply = payload.text, payload
            yield kind, payload
    finally:
        getattr(events, "close", lambda: None)()
        if message.reply is None and not failed:
            message.content += " [stopped]"


def error_label(err: object) -> str:
    """How a failed reply is marked: cut (the line to the server broke) at how many tokens,
    a server's error in its first sentence, or a local failure."""
    kind, partial = getattr(err, "kind", None), getattr(err, "partial", None)
    tokens = partial.new_tokens if partial is not None else 0
    if kind == "cut":
        return f"[cut at {tokens} tokens]"
    if kind is not None:  # a ServingError
        return f"[server error: {str(err).split('. ')[0].rstrip('.')}]"
    return f"[failed: {err}]"


def describe(reply: Reply, usd_per_hour: float, seed: int | None = None) -> str:
    """One line for a reply: tokens, time to first token, tokens/s, USD per 1,000 tokens."""
    usd = cost_per_1k_tokens(usd_per_hour, reply.tokens_per_s)
    speed = (
        "too short to time its speed"  # one token: no time between tokens to divide by
        if usd is None
        else f"{reply.tokens_per_s:.1f} tokens/s - {units.usd(usd)} per 1,000 tokens"
    )
    first = f"{reply.ttft_s:.2f} s" if reply.ttft_s >= 0.005 else "under 0.01 s"
    if not math.isfinite(reply.ttft_s):
        first = "not timed"
    return (
        f"{reply.prompt_tokens} prompt + {reply.new_tokens} new tokens - first token "
        f"{first} - {speed}"
        + (f" - seed {seed}" if seed is not None else "")
        + (" - stopped" if reply.stopped else "")
    )


def served_notes(message: Message) -> list[str]:
    """What a server's reply lacked: refused settings, usage counts, token probabilities."""
    reply, notes = message.reply, []
    if reply is None or not message.server:
        return notes
    if reply.unsupported:
        notes.append(f"not supported by this server: {', '.join(reply.unsupported)}")
    if not reply.usage_reported:
        notes.append("this server sent no usage: tokens counted from the stream")
    if not reply.tokens:
        notes.append("this server sent no token probabilities")
    if reply.finish_reason == "length":
        notes.append(f"cut at {reply.new_tokens} tokens: it reached Max new tokens")
    return notes


def markdown_literal(text: str) -> str:
    """Markdown that shows `text` literally: punctuation escaped (so no HTML, links or
    formatting), leading spaces kept as no-break spaces (so no code blocks), hard breaks."""
    escaped = re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~^$:=&\"'])", r"\\\1", text)
    lines = [
        "\u00a0" * (len(line) - len(line.lstrip(" \t"))) + line.lstrip(" \t")
        for line in escaped.split("\n")
    ]
    return "  \n".join(lines) or " "


def token_markdown(tokens: list[TokenInfo]) -> str:
    """Tokens as Markdown, each on a background coloured by its probability (green >= 50 %,
    orange >= 10 %, red below), the text itself shown literally."""
    colour = lambda p: "green" if p >= 0.5 else ("orange" if p >= 0.1 else "red")  # noqa: E731
    return "".join(
        f":{colour(t.probability)}-background[{markdown_literal(t.text)}]" for t in tokens
    )


def alternatives_table(token: TokenInfo) -> list[dict]:
    """The top-5 alternatives of one generated token, as table rows."""
    return [{"Alternative": repr(a), "Probability": round(p, 4)} for a, p in token.alternatives]


def run_card(model: str, settings: Settings, **where) -> dict:
    """What produced a chat: the model, where it ran (device and size, or the server) and
    the settings."""
    return {"model": model} | where | {"settings": settings_record(settings)}


def transcript_json(card: dict, messages: list[Message]) -> str:
    """A chat as JSON: the run card and the messages with their stats (no token details)."""
    return json.dumps({"run_card": card, "messages": [m.as_record() for m in messages]}, indent=2)


def transcript_markdown(card: dict, messages: list[Message], usd_per_hour: float) -> str:
    """A chat as Markdown that shows every user and model text literally."""
    md = [
        f"# Conversation with {markdown_literal(card['model'])}",
        "",
        f"Run card: {markdown_literal(json.dumps(card))}",
        "",
    ]
    for m in messages:
        md += [f"**{m.role}**: {markdown_literal(m.content)}", ""]
        if m.reply is not None:
            seed = m.settings.seed if m.settings else None
            md += [f"_{markdown_literal(describe(m.reply, usd_per_hour, seed))}_", ""]
    return "\n".join(md)


def _reply_rows(messages: list[Message], usd_per_hour: float) -> list[dict]:
    """One row per finished reply: its place in the chat, seed, stats and USD per 1k tokens."""
    rows = []
    for i, m in enumerate(messages):
        if m.reply is not None:
            row = {"reply": i, "seed": m.settings.seed} | m.reply.stats()
            rows.append(
                row | {"usd_per_1k_tokens": cost_per_1k_tokens(usd_per_hour, row["tokens_per_s"])}
            )
    return rows


def run_record(card: dict, messages: list[Message], usd_per_hour: float) -> RunRecord:
    """A saved chat as a run: its run card, per-reply stats and cost, the transcript."""
    replies = _reply_rows(messages, usd_per_hour)
    timed = [r for r in replies if r["usd_per_1k_tokens"] is not None]
    metrics = {"replies": len(replies), "new_tokens": sum(r["new_tokens"] for r in replies)}
    if timed:
        mean = lambda key: sum(r[key] for r in timed) / len(timed)  # noqa: E731
        metrics |= {k: mean(k) for k in ("tokens_per_s", "ttft_s", "usd_per_1k_tokens")}
    return RunRecord(
        name=f"chat with {card['model']}",
        params=card | {"usd_per_hour": usd_per_hour},
        metrics=metrics,
        tables={"replies": replies, "transcript": turns(messages)},
        artifacts={
            "chat.json": transcript_json(card, messages),
            "chat.md": transcript_markdown(card, messages, usd_per_hour),
        },
        tags={"device": card["device"]} if "device" in card else {"server": card["server"]},
    )
