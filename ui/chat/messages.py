"""Chat messages on the page: each with its stats line and token view, and a reply streamed
into the page as it is written, from the local model or a server.

Model and user text is shown with `st.text`: literally, wrapped, never as Markdown or HTML.
"""

from __future__ import annotations

import threading

import streamlit as st

import ui
from core import device as dev
from core import units
from core.serving import client
from core.text import chat, generate, prompt
from core.text.chat import Message
from core.text.loading import LoadedModel
from core.text.prompt import Prompt, Settings, Turn

BLANK_REPLY = "(the model replied with whitespace only)"


def text_ui(where, text: str) -> None:
    """A message's text, literally; a reply of only whitespace is said, not an empty bubble."""
    if prompt.is_blank(text):
        where.caption(BLANK_REPLY if text else "(the model replied with no text)")
    else:
        where.text(text)


def token_view_ui(message: Message, index: int) -> None:
    """Each generated token coloured by its probability; alternatives for a chosen token."""
    tokens = message.reply.tokens if message.reply else []
    if not tokens:
        return
    with st.expander("Token view"):
        st.markdown(chat.token_markdown(tokens))
        st.caption("Green: probability >= 50 %, orange: >= 10 %, red: below.")
        i = st.number_input("Token #", 0, len(tokens) - 1, 0, key=f"chat_token_{index}")
        st.dataframe(chat.alternatives_table(tokens[i]), hide_index=True)


def stats_caption_ui(where, message: Message, usd_per_hour: float) -> None:
    """The reply's stats line and, for a server's reply, what the server did not send."""
    if message.reply is None:
        return
    where.caption(chat.describe(message.reply, usd_per_hour, message.settings.seed))
    for note in chat.served_notes(message):
        where.caption(note)


def messages_ui(history: list[Message], usd_per_hour: float) -> None:
    """Every message of the chat, with its error, stats and token view."""
    for i, msg in enumerate(history):
        with st.chat_message(msg.role):
            text_ui(st, msg.content)
            if msg.error:
                st.error(msg.error)
            stats_caption_ui(st, msg, usd_per_hour)
            token_view_ui(msg, i)


def stream_local_ui(
    lm: LoadedModel, prompt: Prompt, settings: Settings, where, usd_per_hour: float, sink=None
) -> Message:
    """Stream a reply into `where`; it is in `sink` from the start, so a reply cut short
    (Stop, or any click that reruns the page) keeps its text."""
    holder, message = where.empty(), Message.reply_to(settings)
    if sink is not None:
        sink.append(message)
    events = generate.stream_reply(lm, prompt, settings, threading.Event())
    for kind, payload in chat.follow(message, events):
        if kind == "waiting":
            holder.caption(f"Waiting for the model: place {payload} in the queue of replies...")
        elif kind == "text":
            holder.text(payload + " ▌")
        elif kind == "error":
            where.error(f"Generation failed: {payload}")
        else:
            text_ui(holder, payload.text)
            record_speed(lm, payload.tokens_per_s)
    stats_caption_ui(where, message, usd_per_hour)
    return message


def server_events(
    endpoint: client.Endpoint, settings: Settings, history: list[Message], where, fit=None
):
    """The server's reply stream for `history`: chat (system prompt as a system message, the
    oldest turns left out to fit `fit` = (window, token counter or None) and said in `where`)
    or completion (the last message as the prompt)."""
    stop = threading.Event()
    if settings.mode == "completion":
        return client.stream_completion(endpoint, history[-1].content, settings, stop)
    system = [Turn(role="system", content=settings.system)] if settings.system.strip() else []
    turns = system + chat.turns(history)
    if fit is not None and fit[0]:
        window, count = fit
        turns, dropped = prompt.fit_turns(
            turns, window - settings.max_new_tokens, count or prompt.estimate_tokens
        )
        how = "counted with its tokenizer" if count else "estimated, its tokenizer is not here"
        if dropped:
            where.caption(
                f"{dropped} older turn(s) left out to fit {endpoint.model}'s {window:,}-token "
                f"window with {settings.max_new_tokens} new tokens ({how})."
            )
    return client.stream_chat(endpoint, turns, settings, stop)


def stream_server_ui(
    endpoint: client.Endpoint,
    settings: Settings,
    where,
    usd_per_hour: float,
    history: list,
    fit=None,
) -> Message:
    """Stream a server's reply into `where` and `history`; an error is shown, and the chat
    and any partial reply stay."""
    events = server_events(endpoint, settings, history, where, fit)
    holder = where.empty()
    message = Message.reply_to(settings, server=f"{endpoint.model} @ {endpoint.host}")
    history.append(message)
    for kind, payload in chat.follow(message, events):
        if kind == "text":
            holder.text(payload + " ▌")
        elif kind == "error":  # kept with the message, so it shows again after a rerun
            message.error = str(payload)
            holder.text(message.content)
            where.error(message.error)
        else:
            text_ui(holder, payload.text)
    stats_caption_ui(where, message, usd_per_hour)
    return message


def record_speed(lm: LoadedModel, tokens_per_s: float) -> None:
    """Keep a reply's decode speed for the Business case (a measurement of this session)."""
    gpu = dev.probe_hardware().gpu_name
    cpu = f"CPU, {units.count(generate.generation_threads(lm), 'thread')}"  # what it ran on
    hardware = gpu if lm.device == "cuda" and gpu else cpu
    if tokens_per_s == tokens_per_s:
        label = f"{lm.name} decode (chat{', fast path' if lm.fast else ''})"
        ui.record_measurement(
            ui.Measurement(
                label=label,
                tokens_per_s=tokens_per_s,
                device=lm.device,
                hardware=hardware,
                params=lm.parameters,
            )
        )
