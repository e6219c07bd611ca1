"""The Business case's inputs kept for the browser session and in the URL.

Streamlit forgets the state of a widget that a run does not draw, so leaving the page (for
Home, Runs, or by Back) dropped every input. The page copies its inputs' values into a
session key that is no widget's (`KEPT`) at the end of each run, and puts them back before
its widgets are drawn; the inputs changed from their defaults go into the URL (`?case=`,
JSON compressed with zlib, base64url), so a refresh, which starts a new session, restores
them too.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Callable
from typing import TypeVar

import streamlit as st
from streamlit.errors import StreamlitAPIException

T = TypeVar("T")

KEPT = "case_kept"  # session: widget key -> value, as the last run left them
DEFAULTS = "case_kept_defaults"  # session: each input's value when first drawn (its default)
SET = "case_kept_set"  # session: inputs set from the URL or a saved case (no default known)
DROPPED = "case_kept_dropped"  # session: why inputs from a link or a saved case were dropped
URL_PARAM = "case"  # query parameter holding the same, compressed
# keys that are no input: buttons, downloads, the price grids (kept by prices_tab), the
# page's own bookkeeping, a speed or a compression measured in this session only
SKIP = (
    "case_save",
    "case_download_",
    "case_prices_",
    "case_kept",
    "case_load",
    "case_serve_speed",
    "case_serve_saving",
)
Inputs = dict[str, bool | int | float | str]


def is_input(key: str, value: object) -> bool:
    """Whether session key `key` holds one of the page's input widgets' values."""
    return (
        key.startswith("case_")
        and not key.startswith(SKIP)
        and isinstance(value, bool | int | float | str)
    )


def current_of(state) -> Inputs:
    """The page's inputs in `state` (a session state, or an AppTest's)."""
    return {k: state[k] for k in list(state) if is_input(k, state[k])}


def current() -> Inputs:
    """The page's inputs as the widgets hold them now."""
    return current_of(st.session_state.to_dict())


def encode(inputs: Inputs) -> str:
    """`inputs` as a short URL-safe text."""
    packed = zlib.compress(json.dumps(inputs, separators=(",", ":")).encode(), 9)
    return base64.urlsafe_b64encode(packed).decode().rstrip("=")


def decode(text: str) -> Inputs:
    """What `encode` made, or {} for text that is not (a hand-edited or cut URL)."""
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        inputs = json.loads(raw)
    except (ValueError, zlib.error, binascii.Error):
        return {}
    if not isinstance(inputs, dict):
        return {}
    return {k: v for k, v in inputs.items() if isinstance(k, str) and is_input(k, v)}


def put(inputs: Inputs) -> None:
    """Set the widgets to `inputs` (before they are drawn, or from a callback); inputs not in
    it go back to their defaults."""
    state = st.session_state
    for key in [k for k, v in state.to_dict().items() if is_input(k, v)]:
        del state[key]
    for key, value in inputs.items():
        state[key] = value
    state[KEPT] = dict(inputs)
    state[SET] = set(state.get(SET, set())) | set(inputs)


def restore() -> None:
    """Before the widgets: put back the inputs this session kept, or, in a new session (a
    refresh), those in the URL. A widget already holding a value keeps it."""
    state = st.session_state
    kept = state.get(KEPT)
    if kept is None:
        kept = decode(st.query_params.get(URL_PARAM, ""))
        state[SET] = set(state.get(SET, set())) | set(kept)
    for key, value in kept.items():
        if key not in state:
            state[key] = value


def changed(inputs: Inputs) -> Inputs:
    """The inputs that differ from their defaults (the values they were first drawn with),
    and those whose default this session never saw: what the URL needs."""
    state = st.session_state
    defaults = state.setdefault(DEFAULTS, {})
    given = state.get(SET, set())
    for key, value in inputs.items():
        if key not in defaults and key not in given:
            defaults[key] = value  # drawn for the first time, untouched: its default
    return {k: v for k, v in inputs.items() if k not in defaults or defaults[k] != v}


def drawn(draw: Callable[[], T]) -> T:
    """`draw()` (the widgets); a value from the URL or a saved case that a widget refuses
    (a hand-edited link, a GPU since deleted) is dropped, said, and the page drawn again."""
    state = st.session_state
    if DROPPED in state:
        st.warning(state.pop(DROPPED))
    try:
        return draw()
    except StreamlitAPIException as err:
        given = state.get(SET, set())
        if not given:
            raise  # the page's own mistake: no input of ours to blame
        for key in given:
            state.pop(key, None)
            state.get(KEPT, {}).pop(key, None)
        state[SET] = set()
        state[DROPPED] = (
            f"Some inputs from the link or the saved case could not be used ({err}); they are "
            "back at their defaults."
        )
        st.query_params.pop(URL_PARAM, None)
        st.rerun()


def remember() -> None:
    """After the widgets: keep their values for the next visit, and the changed ones in the
    URL (nothing changed: no parameter)."""
    inputs = current()
    st.session_state[KEPT] = inputs
    diff = changed(inputs)
    if not diff:
        st.query_params.pop(URL_PARAM, None)
        return
    text = encode(diff)
    if st.query_params.get(URL_PARAM) != text:
        st.query_params[URL_PARAM] = text
