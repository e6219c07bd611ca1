"""The Side by side tab: one prompt, two settings (or two models), both outputs kept when a
setting changes and marked when they no longer match it."""

from __future__ import annotations

import streamlit as st

from core.text import prompt
from core.text.chat import Message
from core.text.loading import LoadedModel
from core.text.prompt import Settings, Turn
from ui.chat import messages, model, settings

OUTPUTS = "chat_side_outputs"  # the last outputs, kept while settings change
STARTS = (0.0, 1.0)  # A starts greedy, B sampling: two settings worth comparing
FALLBACK_WINDOW = 1024  # the settings' window while model B is not loaded


def side_tab_ui(lm: LoadedModel | None, device: str, usd_per_hour: float) -> None:
    """Two generations of one prompt side by side, from the Chat tab's model (and model B)."""
    if lm is None:
        st.info("Load a model on the Chat tab first.")
        return
    two = st.toggle("Compare two models", key="chat_side_two", help="Off: two settings, one model.")
    b = model.model_ui("chat_side_model_b", device, "Model B", "side_model_b") if two else lm
    models = (lm, b)
    text = st.text_area("One prompt for both", "Once upon a time", key="chat_side_prompt")
    cols, sides = st.columns(2), []
    for col, name, m, temperature in zip(cols, "ab", models, STARTS, strict=True):
        with col:
            st.markdown(f"**{name.upper()}: {m.name if m else 'no model loaded'}**")
            window = m.context if m else FALLBACK_WINDOW
            sides.append(
                settings.settings_ui(
                    f"chat_side_{name}", window, "completion", "", temperature, columns=True
                )
            )
    go = st.button("Generate both", key="chat_side_go", type="primary", disabled=models[1] is None)
    if not go:
        outputs_ui(cols, st.session_state.get(OUTPUTS, []), sides, usd_per_hour)
    elif prompt.is_blank(text):
        st.warning("Type a prompt first.")
    else:
        st.session_state[OUTPUTS] = generate_both_ui(cols, models, sides, text, usd_per_hour)


def generate_both_ui(cols, models, sides: list[Settings], text: str, usd_per_hour: float):
    """Both outputs, one after the other: a shared model serves one generation at a time."""
    outputs = []
    for col, s, m in zip(cols, sides, models, strict=True):
        try:
            p = prompt.build_prompt(m, [Turn(role="user", content=text)], s)
        except ValueError as err:
            col.error(str(err))
            continue
        outputs.append(messages.stream_local_ui(m, p, s, col, usd_per_hour))
    return outputs


def outputs_ui(cols, outputs: list[Message], sides: list[Settings], usd_per_hour: float) -> None:
    """The last outputs, kept when a setting changes (marked when they differ from it)."""
    for col, out, s in zip(cols, outputs, sides, strict=False):
        col.text(out.content)
        messages.stats_caption_ui(col, out, usd_per_hour)
        if out.settings != s:
            col.caption("Made with earlier settings: press Generate both to refresh.")
