"""A conversation with a local model or a server: the messages, the message box (a message
that would be cut to fit waits for "Send anyway"), the reply streamed below, then
Regenerate, Undo, Clear and Stop, the window meter and the exports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import streamlit as st

import ui
from core.serving.client import Endpoint
from core.text import chat, prompt
from core.text.chat import Message
from core.text.loading import LoadedModel
from core.text.prompt import Settings
from ui.chat import messages

FOLDED = (
    "This model's chat template has no system role: the system prompt was put at the start "
    "of the first user message instead."
)
PENDING = "chat_pending"  # a message too long to send, waiting for "Send anyway"
SEND_ANYWAY, REGENERATE = "chat_send_anyway", "chat_regenerate"  # asked for on the last run


def conversation_ui(
    source: LoadedModel | Endpoint,
    settings: Settings,
    history: list[Message],
    usd_per_hour: float,
    card: Callable[[], dict],
    fit=None,
) -> None:
    """The chat with `source` (a local model or an Endpoint; `fit`: a server's (window, token
    counter or None)): the messages, a new turn streamed below them, then the buttons, the
    window meter and the exports - drawn after the turn, so a message costs one page run and
    nothing on the page is stale once it ends."""
    messages.messages_ui(history, usd_per_hour)
    turn, controls = st.container(), st.container()
    sent = input_ui(source, settings, history)
    regenerate = st.session_state.pop(REGENERATE, False) and history
    if sent or regenerate:
        with turn:
            if sent:
                with st.chat_message("user"):
                    st.text(history[-1].content)
            # each Regenerate samples anew; the seed is recorded with the reply
            fresh = replace(settings, seed=prompt.fresh_seed()) if regenerate else settings
            respond(source, fresh, history, usd_per_hour, fit)
    with controls:
        chat_buttons_ui(history)
        if not isinstance(source, Endpoint):
            meter_ui(source, settings, history)
        if history:
            export_ui(card(), history, usd_per_hour)


def respond(
    source, settings: Settings, history: list[Message], usd_per_hour: float, fit=None
) -> None:
    """The next reply, from the local model or a server (an Endpoint), drawn with its stats
    and token view."""
    if isinstance(source, Endpoint):
        with st.chat_message("assistant"):
            messages.stream_server_ui(source, settings, st, usd_per_hour, history, fit)
        return
    try:
        p = prompt.build_prompt(source, chat.turns(history), settings)
    except ValueError as err:
        st.error(str(err))
        return
    if p.system_folded:
        st.caption(FOLDED)
    with st.chat_message("assistant"):
        message = messages.stream_local_ui(source, p, settings, st, usd_per_hour, sink=history)
        messages.token_view_ui(message, len(history) - 1)


def meter_ui(lm: LoadedModel, settings: Settings, history: list[Message]) -> None:
    """How full the window is, and what was left out to fit."""
    if not history:
        st.caption(f"Room for a message of about {lm.context - settings.max_new_tokens} tokens.")
        return
    try:
        p = prompt.build_prompt(lm, chat.turns(history), settings)
    except ValueError as err:  # e.g. a template that refuses this conversation
        st.caption(f"Context: not measured - {err}")
        return
    used = len(p.ids) + settings.max_new_tokens
    note = f" - {p.dropped_turns} older turn(s) dropped to fit" if p.dropped_turns else ""
    note += f" - the last message lost its first {p.cut_tokens} tokens" if p.truncated else ""
    note += " - the system prompt opens the first user message" if p.system_folded else ""
    text = f"Context: {used:,} of {lm.context:,} tokens (prompt + max new){note}"
    st.progress(min(used / lm.context, 1.0), text=text)


def drop_reply(history: list[Message]) -> None:
    """Regenerate's first half (a callback): the last reply goes, a new one is asked for."""
    while history and history[-1].role == "assistant":
        history.pop()
    st.session_state[REGENERATE] = bool(history)


def undo_turn(history: list[Message]) -> None:
    """Undo's callback: the last user turn goes, with the replies after it."""
    while history and history.pop().role != "user":
        pass


def chat_buttons_ui(history: list[Message]) -> None:
    """Regenerate, Undo, Clear (callbacks: the chat is changed before the page draws it, so a
    press costs one page run) and Stop (its rerun ends the reply being written)."""
    b1, b2, b3, b4 = st.columns(4)
    b1.button(
        "Regenerate",
        key="chat_regen",
        disabled=not history,
        help="A new random seed",
        on_click=drop_reply,
        args=(history,),
    )
    b2.button(
        "Undo last turn", key="chat_undo", disabled=not history, on_click=undo_turn, args=(history,)
    )
    b3.button("Clear", key="chat_clear", on_click=history.clear)
    b4.button("Stop", key="chat_stop", help="Ends the reply being written; keeps its text.")


def input_ui(source, settings: Settings, history: list[Message]) -> bool:
    """The message box; True when a new user turn was added to `history`. A message that
    would be cut to fit waits for "Send anyway"."""
    text = st.chat_input("Message the model", key="chat_input")
    if text is not None and prompt.is_blank(text):
        st.warning("Type something first: an empty message has nothing to answer.")
    elif text is not None:
        st.session_state[PENDING] = prompt.clean(text)
    if st.session_state.get(PENDING) is None:
        return False
    turn = Message(role="user", content=st.session_state[PENDING])
    if isinstance(source, Endpoint):  # the server fits the prompt to its own window
        fitted = None
    else:
        try:
            fitted = prompt.build_prompt(source, chat.turns([*history, turn]), settings)
        except ValueError:  # respond() says why, once the message is in the chat
            fitted = None
    if fitted is None or not fitted.truncated or st.session_state.pop(SEND_ANYWAY, False):
        history.append(replace(turn, content=st.session_state.pop(PENDING)))
        return True
    too_long_ui(source, settings, fitted)
    return False


def too_long_ui(lm: LoadedModel, settings: Settings, fitted: prompt.Prompt) -> None:
    """The warning for a message that would be cut to fit, with Send anyway and Cancel."""
    st.warning(
        f"Too long for this model: the first {fitted.cut_tokens:,} tokens of your message "
        f"would be cut off to fit its {lm.context:,}-token window with "
        f"{settings.max_new_tokens} new tokens. Shorten it, lower Max new tokens, or send it."
    )
    c1, c2, _ = st.columns([1, 1, 3])
    if c1.button("Send anyway", key="chat_send_cut"):
        st.session_state[SEND_ANYWAY] = True
        st.rerun()
    if c2.button("Cancel", key="chat_cancel"):
        st.session_state.pop(PENDING)
        st.rerun()


def export_ui(card: dict, history: list[Message], usd_per_hour: float) -> None:
    """Exports, and "Save this chat" into the run store (a failure loses nothing)."""
    c1, c2, c3 = st.columns(3)
    chat_json = chat.transcript_json(card, history)
    c1.download_button("Export JSON", chat_json, "chat.json", key="chat_json")
    md = chat.transcript_markdown(card, history, usd_per_hour)
    c2.download_button("Export Markdown", md, "chat.md", key="chat_md")
    with c3:
        ui.save_run_ui(
            "chat",
            lambda: chat.run_record(card, history, usd_per_hour),
            key="chat_save",
            label="Save this chat",
            kept="The chat is still here; export it instead.",
        )
