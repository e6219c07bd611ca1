"""AI prototyping dashboard: page config, navigation over pages/, and the shared sidebar.

Run with `streamlit run app.py`. Nothing heavy is imported here, so Home opens at once.
"""

import atexit
import contextlib
import importlib
import os
import threading
import time

import streamlit as st
import streamlit.delta_generator

import ui

# Streamlit asks once per process whether it runs in a Python REPL (or without `streamlit
# run`), on the first element it draws, with inspect.stack(): 0.13 s of the first page after
# a launch here, spent resolving the path of every loaded module. Under `streamlit run` it
# is neither, so mark that warning as given.
if st.runtime.exists():
    streamlit.delta_generator._use_warning_has_been_displayed = True

WARM = ("pandas", "plotly.graph_objects", "plotly.subplots")  # the calculator's imports
RUNS_WARM_DELAY_S = 3.0  # mlflow's import holds the GIL for about a second
EXIT_WAIT_S = 30.0  # the longest a quitting server waits for the warm-up to end


def warm() -> None:
    """The calculator's libraries, then the run store (mlflow's import and, on a new store,
    its migrations: seconds that would otherwise fall on the first recorded run), and the
    runs whose process died closed (core.runs.sweep)."""
    for module in WARM:
        importlib.import_module(module)
    time.sleep(RUNS_WARM_DELAY_S)  # let the first page finish reaching the browser first
    from core import runs

    with contextlib.suppress(runs.StoreError):
        runs.warm()
    runs.try_sweep()  # runs left RUNNING by a process that died (a crash): closed as KILLED


@st.cache_resource(show_spinner=False)
def warm_imports() -> threading.Thread | None:
    """Warm up in the background once per process, after the first page has been served, so
    the first switch to a tool page is quick. DASHBOARD_WARM=0 turns it off."""
    if os.environ.get("DASHBOARD_WARM") == "0":
        return None
    thread = threading.Thread(target=warm, name="warm imports", daemon=True)
    thread.start()
    atexit.register(thread.join, EXIT_WAIT_S)  # torn down mid-import, the process aborts
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
