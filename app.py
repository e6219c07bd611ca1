"""AI prototyping dashboard: page config, navigation over pages/, and the shared sidebar.

Run with `streamlit run app.py`. Nothing heavy is imported here, so Home opens at once.
"""

import importlib
import threading

import streamlit as st

import ui

WARM = ("pandas", "plotly.graph_objects", "plotly.subplots")  # the calculator's imports


@st.cache_resource(show_spinner=False)
def warm_imports() -> threading.Thread:
    """Import the calculator's libraries in the background once per process, after the
    first page has been served, so the first switch to a tool page is quick."""
    thread = threading.Thread(
        target=lambda: [importlib.import_module(m) for m in WARM], name="warm imports", daemon=True
    )
    thread.start()
    return thread


def main() -> None:
    st.set_page_config(
        page_title="AI Prototyping Dashboard",
        page_icon=":material/science:",
        layout="wide",
        initial_sidebar_state="auto",  # collapsed on a phone, open on a desktop
    )
    home = st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)
    tools = [st.Page(t.path, title=t.title, icon=t.icon) for t in ui.TOOLS]
    ui.require_login()
    page = st.navigation({"": [home], "Tools": tools})
    ui.sidebar_ui()
    page.run()
    warm_imports()


if __name__ == "__main__":
    main()
