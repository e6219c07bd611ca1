"""Home: what the dashboard is for, one card per tool, and what works offline."""

import streamlit as st

import ui

ui.require_navigation()
st.title("AI Prototyping Dashboard")
st.markdown(
    "Train, chat, compare and cost AI models **in the browser, on the hardware in front of "
    "you** - for live demos, investor pitches and quick experiments. Every figure is measured "
    "on this machine or computed from a published formula, never guessed."
)

for row in (ui.TOOLS[i : i + 2] for i in range(0, len(ui.TOOLS), 2)):
    for col, tool in zip(st.columns(2), row):  # noqa: B905 - the last row may hold one card
        with col.container(border=True):
            st.subheader(tool.title, anchor=False)
            st.write(tool.pitch)
            st.page_link(tool.path, label=f"Open {tool.title}", icon=tool.icon)

st.subheader("With no network", anchor=False)
st.markdown("\n".join(f"- **{t.title}**: {t.offline}" for t in ui.TOOLS))
st.caption(
    "Downloads (torchvision data sets, Hugging Face models) need a network the first time; "
    "when it is down the page says so and the offline options keep working."
)
