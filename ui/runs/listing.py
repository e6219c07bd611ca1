"""The recorded runs: the store opened in the background as the page starts, the tool,
status and date filters, the runs that match (or a message and the page ends), their
table, and how a picker names a run."""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import threading

import pandas as pd
import streamlit as st

from core import runs

ANY = "Any"  # the filters' first choice: no filter
STORE_WAIT_S = 120.0  # the longest the table waits on the store being opened
EXIT_WAIT_S = 30.0  # the longest a quitting process waits for the store to finish opening


OPENED = threading.Event()  # set once the store has been opened in this process


def _open_store() -> None:
    try:
        with contextlib.suppress(runs.StoreError):  # list_runs says why, in the page
            runs.warm()
    finally:
        OPENED.set()


@st.cache_resource(show_spinner=False)
def store_opener() -> threading.Thread:
    """The run store opened in a background thread, once per process (MLflow's import and
    the store's tables: seconds after a restart). The page starts it once its table is
    drawn (the import holds the GIL in long bursts that would delay the table)."""
    thread = threading.Thread(target=_open_store, name="open the run store", daemon=True)
    thread.start()
    # a process that quits while MLflow is still being imported would abort ("FATAL:
    # exception not rethrown": the daemon thread is torn down inside C++ code): let it end
    atexit.register(thread.join, EXIT_WAIT_S)
    return thread


def filters_ui() -> tuple[str | None, str | None, dt.date | None]:
    """Tool, status and start-date filters; None where any is fine."""
    c1, c2, c3 = st.columns(3)
    tool = c1.selectbox(
        "Tool",
        [ANY, *runs.TOOLS],
        key="runs_tool",
        format_func=lambda t: runs.TOOL_LABELS.get(t, "All tools"),
    )
    status = c2.selectbox("Status", [ANY, *runs.STATUSES], key="runs_status")
    since = c3.date_input("Started on or after", value=None, key="runs_since")
    return (None if tool == ANY else tool), (None if status == ANY else status), since


def list_or_stop(
    tool: str | None, status: str | None, since: dt.date | None
) -> list[runs.RunSummary]:
    """The runs that match, newest first; a message and the page ends when none can be read."""
    try:
        if OPENED.is_set() and not st.session_state.get("runs_swept"):
            # runs whose process died: KILLED (the warm-up thread sweeps once at start-up)
            st.session_state["runs_swept"] = runs.try_sweep() or True
        listed = None if OPENED.is_set() else runs.quick_list(tool, status, since)
        if not listed:  # MLflow reads it (another store, or nothing to show at once)
            opener = store_opener()
            if opener.is_alive():
                with st.spinner("Opening the run store..."):  # the first visit after a restart
                    opener.join(STORE_WAIT_S)
            listed = runs.list_runs(tool=tool, status=status, since=since)
    except runs.StoreError as err:
        st.error(f"{err}  \nThe tools still work; their runs are not recorded until this is fixed.")
        st.stop()
    if reason := runs.read_only_reason():
        st.warning(reason)
    if live := sum(r.status == "RUNNING" for r in listed):
        st.caption(
            f"{live} run(s) below are RUNNING: jobs of this server (above), headless jobs or "
            "other machines. One whose process died is closed as killed, with a note."
        )
    if not listed:
        st.info("No runs match. Train a CNN, race optimizers, or save a chat or a business case.")
        st.stop()
    return listed


def runs_frame(rows: list[runs.RunSummary]) -> pd.DataFrame:
    """One line per run, newest first, with its tool's headline figure: under the figure's
    own name when all runs are of one tool, as 'Test accuracy 97.5 %' otherwise."""
    one_tool = len({r.tool for r in rows}) == 1
    result = rows[0].headline_label if one_tool else "Result"
    table = [
        {
            "Name": r.name,
            result: r.headline_text if one_tool else f"{r.headline_label} {r.headline_text}",
            "Tool": runs.TOOL_LABELS[r.tool],
            "Started (UTC)": r.start.strftime("%Y-%m-%d %H:%M"),
            "Status": r.status.lower() + (" (process died)" if _died(r) else ""),
            "Device": r.device or "-",
            "Run id": r.id,
        }
        for r in rows
    ]
    return pd.DataFrame(table)


def run_label(summaries: dict[str, runs.RunSummary], run_id: str) -> str:
    """'digits 3 blocks (Train a CNN, 2026-11-25 14:20)' for a picker."""
    r = summaries[run_id]
    return f"{r.name} ({runs.TOOL_LABELS[r.tool]}, {r.start:%Y-%m-%d %H:%M})"


def _died(run: runs.RunSummary) -> bool:
    """True for a run the app closed because its process had died (core.runs.sweep)."""
    return "ended with its process" in run.tags.get(runs.NOTE, "")
