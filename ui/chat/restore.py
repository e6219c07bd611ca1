"""A chat that survives a refresh: the session's id in the URL (`?chat=<id>`), its messages
and settings restored from core.text.sessions before any widget is drawn, and written back
whenever they change; a saved chat (`?run=<id>` from Runs -> Open in Chat, or the picker
here) loaded into the page.

    restore_ui(CHAT)  # first, before the widgets
    ...
    keep_ui(CHAT)  # last
"""

from __future__ import annotations

import streamlit as st

from core import runs, tools
from core.text import sessions

PARAM = "chat"  # the query parameter holding the chat session's id
SID, SAVED = "chat_session", "chat_session_saved"  # session state: the id, the last write
OPENED = "chat_opened_run"  # the saved chat last loaded from a run
KEPT = (  # the widgets whose values a refresh restores (and the loaded model)
    "chat_source", "chat_mode", "chat_system", "chat_temp", "chat_topk", "chat_topp",
    "chat_rep", "chat_seed", "chat_stops", "chat_max_kept", "chat_model_source",
    "chat_server_url", "chat_server_key_env", "chat_server_typed", "chat_server_price",
    "chat_fast",
)  # fmt: skip


def restore_ui(history_key: str) -> None:
    """The session's id in the URL (put back after a visit to another page, which drops it);
    a new browser session (a refresh) restores the chat and settings kept under the id it
    names, or starts a new id; then a saved chat named by `?run=<id>` opens."""
    in_url, sid = st.query_params.get(PARAM, ""), st.session_state.get(SID)
    if sid is not None and in_url in ("", sid):
        if not in_url:
            st.query_params[PARAM] = sid
    else:
        restore_session(history_key, in_url)
    run_id = st.query_params.get(tools.RUN_PARAM)
    if run_id and st.session_state.get(OPENED) != run_id:
        st.session_state[OPENED] = run_id
        open_run(history_key, run_id)


def restore_session(history_key: str, sid: str) -> None:
    """The chat and settings kept under `sid` into the page (a new id when it is none)."""
    if not sessions.SESSION_ID.match(sid):
        sid = sessions.new_id()
        st.query_params[PARAM] = sid
    st.session_state[SID] = sid
    found = sessions.load(sid)
    if found is None:
        return
    messages, state = found
    st.session_state[history_key] = messages
    for key in KEPT:
        if key in state:
            st.session_state[key] = state[key]
    st.session_state[SAVED] = sessions.encode(messages, state)
    st.toast(f"Restored this chat: {len(messages)} message(s) and its settings.")


def open_run(history_key: str, run_id: str) -> None:
    """A saved chat's messages (its chat.json) into the page, or why not."""
    try:
        messages = sessions.messages_of(runs.load_artifact(run_id, "chat.json"))
    except (runs.StoreError, ValueError) as err:
        st.error(f"Cannot open the saved chat {run_id}: {err}")
        return
    st.session_state[history_key] = messages
    st.success(f"Opened the saved chat {run_id}: {len(messages)} message(s).")


def saved_chats_ui(history_key: str) -> None:
    """A picker of the chats saved in the run store, opened into the page (the store is
    asked only once the toggle is on)."""
    if not st.toggle("Open a saved chat", key="chat_saved_show"):
        return
    try:
        saved = runs.list_runs(tool="chat")
    except runs.StoreError as err:
        st.caption(f"Saved chats cannot be listed: {err}")
        return
    if not saved:
        st.caption("No saved chats yet: 'Save this chat' below a conversation records one.")
        return
    by_id = {r.id: r for r in saved}
    with st.container(border=True):
        picked = st.selectbox(
            "Saved chat",
            list(by_id),
            index=None,
            key="chat_saved_pick",
            format_func=lambda i: f"{by_id[i].name} - {by_id[i].start:%Y-%m-%d %H:%M} UTC",
            placeholder="Pick a saved chat",
        )
        if picked and st.button("Open", key="chat_saved_open"):
            open_run(history_key, picked)
            st.session_state[OPENED] = picked


def keep_ui(history_key: str) -> None:
    """Write the chat and its settings under the session's id when they changed."""
    sid = st.session_state.get(SID)
    if sid is None:
        return
    state = {k: st.session_state[k] for k in KEPT if k in st.session_state}
    messages = st.session_state.get(history_key, [])
    try:
        encoded = sessions.encode(messages, state)
    except (TypeError, ValueError):  # a value JSON cannot hold: keep the messages
        state, encoded = {}, sessions.encode(messages, {})
    if st.session_state.get(SAVED) == encoded:
        return
    try:
        sessions.save(sid, messages, state)
    except OSError as err:
        st.caption(f"This chat is not kept for a refresh: {sessions.folder()} - {err}")
        return
    st.session_state[SAVED] = encoded
