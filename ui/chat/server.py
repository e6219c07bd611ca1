"""A server as the chat's source: its URL, the name of its API key's variable, Check (the
server's models) and the model; an `Endpoint` once a model is chosen; the window Max new
tokens is bounded by, where it can be known. A server this app started shows its health
(failed, with its log and Restart) here too. The fields keep their values while the page
shows a local model instead.

    endpoint = ui.chat.server.server_source_ui("chat_server")
    window = ui.chat.server.served_window_ui("chat_server", endpoint)
"""

from __future__ import annotations

import streamlit as st

from core.serving import client, servers
from core.serving.listing import ListedModel
from ui.chat import serve

DEFAULT_URL = "http://localhost:8000/v1"
UNKNOWN_WINDOW = 2048  # bounds Max new tokens for a server that does not say its window
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
KEEP = "page"  # widgets keep their values while not drawn (the source is a local model)


def _endpoint_from(base_url: str, key_env: str, model: str = "") -> client.Endpoint | None:
    """An Endpoint from the typed fields, or None with the reason shown."""
    try:
        return client.Endpoint(base_url=base_url, api_key_env=key_env.strip(), model=model)
    except ValueError as err:
        st.error(str(err))
        return None


def _checked(key: str, endpoint: client.Endpoint) -> list[ListedModel]:
    """The models the last Check listed for this URL (none when the URL changed since)."""
    url, found, _ = st.session_state.get(f"{key}_checked", ("", [], ""))
    return found if url == endpoint.base_url else []


def _check_ui(key: str, endpoint: client.Endpoint) -> list[str]:
    """The Check button: the server's models, or a clear message why it could not list them
    (an empty list then; the user types the name)."""
    if st.button("Check", key=f"{key}_check", help="Asks the server for its models (GET /models)."):
        try:
            found, problem = client.served_models(endpoint), ""
        except client.ServingError as err:
            found, problem = [], str(err)
        if not found and not problem:
            problem = f"{endpoint.host} answered, but lists no models."
        st.session_state[f"{key}_checked"] = (endpoint.base_url, found, problem)
    checked_url, found, problem = st.session_state.get(f"{key}_checked", ("", [], ""))
    if checked_url != endpoint.base_url:  # the URL changed since the last Check
        found, problem = [], ""
    if problem:
        st.error(f"{problem} You can still type the model name below.")
    return [m.id for m in found]


def _model_ui(key: str, listed: list[str]) -> str:
    """The model: picked from the listed ones, or typed (a typed name wins)."""
    picked = st.selectbox("Model", listed, key=f"{key}_model", persist_state=KEEP) if listed else ""
    typed = st.text_input(
        "Or type the model name",
        key=f"{key}_typed",
        help="As the server names it, e.g. meta-llama/Llama-3.1-8B-Instruct.",
        persist_state=KEEP,
    )
    return typed.strip() or picked or ""


def managed_server(endpoint: client.Endpoint) -> servers.ManagedServer | None:
    """The server this app started (or found again) that the endpoint's URL points at."""
    host = (endpoint.host.rsplit(":", 1)[0]).strip("[]")
    return servers.at_port(endpoint.port) if host in LOCAL_HOSTS else None


def server_source_ui(key: str) -> client.Endpoint | None:
    """Base URL, the name of the API key's variable, Check, and the model; the Endpoint once
    a model is chosen, else None. The key itself is never read into the page."""
    base_url = st.text_input("Server URL", DEFAULT_URL, key=f"{key}_url", persist_state=KEEP)
    key_env = st.text_input(
        "API key: name of its environment variable or secrets.toml entry (optional)",
        key=f"{key}_key_env",
        help="For example OPENAI_API_KEY. The key itself is never shown, logged or exported.",
        persist_state=KEEP,
    )
    endpoint = _endpoint_from(base_url, key_env)
    if endpoint is None:
        return None
    if endpoint.api_key_env and not client.key_found(endpoint):
        st.warning(
            f"No environment variable or secrets.toml entry named {endpoint.api_key_env}: "
            "requests go without a key."
        )
    managed = managed_server(endpoint)
    if managed is not None:
        status = managed.status()
        if status == "ready":
            st.caption(f"The server this app started for {managed.model}: healthy.")
        else:
            serve.managed_status_ui(f"{key}_managed", managed, status)
    model = _model_ui(key, _check_ui(key, endpoint))
    if not model:
        st.info("Press Check to list the server's models, or type a model name.")
        return None
    return _endpoint_from(base_url, key_env, model)


def window_of(key: str, endpoint: client.Endpoint) -> tuple[int | None, str]:
    """(the endpoint's model's window in tokens, where that comes from); None: unknown."""
    managed = managed_server(endpoint)
    if managed is not None and managed.model == endpoint.model and managed.window:
        return managed.window, "from the model's config; this app serves it"
    listed = next((m for m in _checked(key, endpoint) if m.id == endpoint.model), None)
    if listed is not None and listed.window:
        return listed.window, "as the server lists it"
    return None, ""


def served_window_ui(key: str, endpoint: client.Endpoint | None) -> int:
    """The window that bounds Max new tokens for a server, said where it comes from, or
    UNKNOWN_WINDOW with a caption that says the server's window is not known."""
    if endpoint is None:
        return UNKNOWN_WINDOW
    window, where = window_of(key, endpoint)
    if window:
        st.caption(f"{endpoint.model}: a {window:,}-token window ({where}).")
        return window
    st.caption(
        f"{endpoint.host} does not say {endpoint.model}'s window, so Max new tokens is bounded "
        f"at {UNKNOWN_WINDOW:,}: keep the prompt and the new tokens within the model's window "
        "(a server may refuse or fail past it)."
    )
    return UNKNOWN_WINDOW
