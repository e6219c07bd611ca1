"""Home: what the dashboard is for, a start-here path that works offline, one card per tool,
and what works with no network. Light: no torch, no mlflow."""

import streamlit as st

import ui
from core import device as dev


def start_here_ui(gpu: bool) -> None:
    """The steps a new user can follow offline, each with how long it takes."""
    st.subheader("Start here", anchor=False)
    where = "a GPU is faster" if gpu else "this machine is of that kind or similar"
    st.caption(f"Works offline. Times measured on a 2-core CPU ({where}).")
    for number, step in enumerate(ui.TOUR, start=1):
        with st.container(border=True):
            left, right = st.columns([3, 1], vertical_alignment="center")
            # one markdown, not markdown and caption: each element is a parse in the browser
            left.markdown(
                f"**{number}. {step.title}** - {step.how}  \n:small[:gray[Takes {step.takes}.]]"
            )
            right.page_link(step.page, label=step.button, icon=":material/arrow_forward:")


def tools_ui() -> None:
    """One card per tool, two to a row, equal heights."""
    st.subheader("The tools", anchor=False)
    for row in (ui.TOOLS[i : i + 2] for i in range(0, len(ui.TOOLS), 2)):
        for col, tool in zip(st.columns(2), row):  # noqa: B905 - the last row may hold one card
            with col.container(border=True, height=170):
                st.markdown(f"**{tool.title}**\n\n{tool.pitch}")
                st.page_link(tool.path, label=f"Open {tool.title}", icon=tool.icon)


def offline_ui() -> None:
    st.subheader("With no network", anchor=False)
    st.markdown("\n".join(f"- **{t.title}**: {t.offline}" for t in ui.TOOLS))
    st.caption(
        "Downloads (torchvision data sets, Hugging Face models) need a network the first time; "
        "when it is down the page says so and the offline options keep working."
    )


ui.require_navigation()
st.title("AI Prototyping Dashboard")
st.markdown(
    "Train, chat, compare and cost AI models **in the browser, on the hardware in front of "
    "you** - for live demos, investor pitches and quick experiments. Every figure is measured "
    "on this machine or computed from a published formula, never guessed."
)
start_here_ui(gpu=dev.probe_hardware().kinds[0] != "cpu")
tools_ui()
offline_ui()
