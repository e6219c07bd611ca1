"""A server as the chat's source: its URL, the name of its API key's variable, Check (the
server's models) and the model; an `Endpoint` once a model is chosen.

    endpoint = ui.chat.server.server_source_ui("chat_server")
"""

from __future__ import annotations

import streamlit as st

from core.serving import client

DEFAULT_URL = "http://localhost:8000/v1"


def _endpoint_from(base_url: str, key_env: str, model: str = "") -> client.Endpoint | None:
    """An Endpoint from the typed fields, or None with the reason shown."""
    try:
        return client.Endpoint(base_url=base_url, api_key_env=key_env.strip(), model=model)
    except ValueError as err:
        st.error(str(err))
        return None


def _check_ui(key: str, endpoint: client.Endpoint) -> list[str]:
    """The Check button: the server's models, or a clear message why it could not list them
    (an empty list then; the user types the name)."""
    if st.button("Check", key=f"{key}_check", help="Asks the server for its models (GET /models)."):
        try:
            found, problem = client.list_models(endpoint), ""
        except client.ServingError as err:
            found, problem = [], str(err)
        st.session_state[f"{key}_checked"] = (endpoint.base_url, found, problem)
    checked_url, found, problem = st.session_state.get(f"{key}_checked", ("", [], ""))
    if checked_url != endpoint.base_url:  # the URL changed since the last Check
        found, problem = [], ""
    if problem:
        st.error(f"{problem} You can still type the model name below.")
    return found


def _model_ui(key: str, listed: list[str]) -> str:
    """The model: picked from the listed ones, or typed (a typed name wins)."""
    picked = st.selectbox("Model", listed, key=f"{key}_model") if listed else ""
    typed = st.text_input(
        "Or type the model name",
        key=f"{key}_typed",
        help="As the server names it, e.g. meta-llama/Llama-3.1-8B-Instruct.",
    )
    return typed.strip() or picked or ""


def server_source_ui(key: str) -> client.Endpoint | None:
    """Base URL, the name of the API key's variable, Check, and the model; the Endpoint once
    a model is chosen, else None. The key itself is never read into the page."""
    base_url = st.text_input("Server URL", DEFAULT_URL, key=f"{key}_url")
    key_env = st.text_input(
        "API key: name of its environment variable or secrets.toml entry (optional)",
        key=f"{key}_key_env",
        help="For example OPENAI_API_KEY. The key itself is never shown, logged or exported.",
    )
    endpoint = _endpoint_from(base_url, key_env)
    if endpoint is None:
        return None
    if endpoint.api_key_env and not client.key_found(endpoint):
        st.warning(
            f"No environment variable or secrets.toml entry named {endpoint.api_key_env}: "
            "requests go without a key."
        )
    model = _model_ui(key, _check_ui(key, endpoint))
    if not model:
        st.info("Press Check to list the server's models, or type a model name.")
        return None
    return _endpoint_from(base_url, key_env, model)
