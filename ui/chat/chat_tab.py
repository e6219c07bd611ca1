"""The Chat tab: a model loaded into this process or an OpenAI-compatible server as the
source, its settings and the conversation; a model loaded from a folder can be served."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.serving.client import Endpoint
from core.text import chat, prompt
from core.text.chat import Message
from core.text.loading import LoadedModel
from ui.chat import conversation, messages, model, restore, serve, server, settings

CHAT, MODEL = "chat_history", "chat_model_source"  # the chat's messages; the loaded model
LOCAL, SERVER = "Local model", "A server (OpenAI-compatible)"
FALLBACK_WINDOW = 1024  # the settings' window before a model is loaded


def chat_tab_ui(device: str, usd_per_hour: float):
    """(local model or None, server Endpoint or None, the server's USD per hour). The chat
    and its settings survive a refresh (ui.chat.restore)."""
    restore.restore_ui(CHAT)
    source = st.radio("Model source", [LOCAL, SERVER], key="chat_source", horizontal=True)
    restore.saved_chats_ui(CHAT)  # (may open a saved chat in place of this one)
    history: list[Message] = st.session_state.setdefault(CHAT, [])
    if source == SERVER:
        found = None, *server_chat_ui(history)
    else:
        found = local_chat_ui(device, usd_per_hour, history), None, 0.0
    restore.keep_ui(CHAT)
    return found


def local_chat_ui(device: str, usd_per_hour: float, history: list[Message]):
    """The chat with a model loaded into this process; returns it (None until loaded)."""
    lm = model.model_ui(MODEL, device)
    lm = model.fast_ui(lm, device) if lm is not None else None
    asked = settings.prompt_settings_ui(lm.context if lm else FALLBACK_WINDOW)
    if lm is None:
        messages.messages_ui(history, usd_per_hour)
        return None
    card = lambda: chat.run_card(lm.name, asked, device=device, parameters=lm.parameters)  # noqa: E731
    conversation.conversation_ui(lm, asked, history, usd_per_hour, card)
    serve_it_ui(lm)
    return lm


def server_chat_ui(history: list[Message]) -> tuple[Endpoint | None, float]:
    """The chat with an OpenAI-compatible server; returns the server and its USD per hour."""
    endpoint = server.server_source_ui("chat_server")
    price = st.number_input(
        "Server GPU price (USD per hour)", 0.0, 1_000.0, 2.0, 0.1, key="chat_server_price"
    )
    asked = settings.prompt_settings_ui(server.served_window_ui("chat_server", endpoint))
    if endpoint is None:
        messages.messages_ui(history, price)
        return None, price
    card = lambda: chat.run_card(endpoint.model, asked, server=endpoint.host)  # noqa: E731
    conversation.conversation_ui(endpoint, asked, history, price, card, server_fit(endpoint))
    return endpoint, price


def server_fit(endpoint: Endpoint) -> tuple[int | None, object]:
    """(the server's window where known, its tokenizer's counter where this app serves a
    folder): what the oldest turns are left out to fit."""
    window, _ = server.window_of("chat_server", endpoint)
    managed = server.managed_server(endpoint)
    mine = managed is not None and managed.model == endpoint.model
    folder = mine and Path(endpoint.model).is_dir()
    return window, prompt.template_counter(endpoint.model) if folder else None


def serve_it_ui(lm: LoadedModel) -> None:
    """'Serve it' for a model loaded from a folder: an OpenAI-compatible server for it."""
    if not Path(lm.name).is_dir():
        return
    with st.expander("Serve it (OpenAI-compatible server)"):
        served = serve.serve_panel_ui("chat_serve", lm.name)
        if served is not None:
            st.info(
                f"Pick '{SERVER}' above and use {served.base_url} with the model {served.model}."
            )
