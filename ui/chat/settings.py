"""The sampling and prompt settings a reply is asked with: one widget per knob of
`core.text.prompt.Settings.KNOBS`, plus max new tokens, seed, stop sequences, the mode and
the system prompt."""

from __future__ import annotations

import streamlit as st

from core.text import prompt
from core.text.prompt import Settings


def max_new_tokens_ui(column, key: str, cap: int, default: int, context: int) -> int:
    """Max new tokens for a `context`-token window, keyed by the window. A value the user
    chose is kept across a change of window (another model, a local model <-> a server) when
    it fits; an untouched one follows the new window's default."""
    widget, kept = f"{key}_max_{context}", f"{key}_max_kept"
    if widget not in st.session_state:
        value, chosen = st.session_state.get(kept, (default, False))
        st.session_state[widget] = value if chosen and value <= cap else default
    value = int(column.number_input("Max new tokens", 1, cap, key=widget))
    st.session_state[kept] = (value, value != default)
    return value


def settings_ui(
    key: str,
    context: int,
    mode: str,
    system: str,
    temperature: float = 0.8,
    columns: bool = False,
) -> Settings:
    """Sampling settings for a `context`-token window; new tokens default to a third of it,
    so the conversation keeps most of the window."""
    with st.container() if columns else st.expander("Sampling and prompt settings"):
        c1, c2, c3 = st.columns(3)
        cap, default = prompt.max_new_tokens_cap(context), prompt.default_max_new_tokens(context)
        return Settings(
            temperature=c1.slider(
                "Temperature (0 = greedy)", 0.0, 2.0, temperature, 0.05, key=f"{key}_temp"
            ),
            top_k=c1.number_input("Top-k (0 = off)", 0, 1000, 50, key=f"{key}_topk"),
            top_p=c2.slider("Top-p", 0.05, 1.0, 0.95, 0.01, key=f"{key}_topp"),
            repetition_penalty=c2.slider(
                "Repetition penalty", 1.0, 2.0, 1.1, 0.05, key=f"{key}_rep"
            ),
            max_new_tokens=max_new_tokens_ui(c3, key, cap, default, context),
            seed=c3.number_input("Seed", 0, 2**31 - 1, 0, key=f"{key}_seed"),
            stop=prompt.parse_stops(
                st.text_input("Stop sequences (comma separated)", key=f"{key}_stops")
            ),
            mode=mode,
            system=system,
        )


def prompt_settings_ui(context: int) -> Settings:
    """Mode, system prompt and sampling settings for a `context`-token window."""
    c1, c2 = st.columns([1, 3])
    mode = c1.radio("Mode", ["chat", "completion"], key="chat_mode", horizontal=True)
    system = c2.text_input("System prompt (optional)", key="chat_system")
    return settings_ui("chat", context, mode, system)
