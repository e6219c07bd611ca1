"""Runs: every run the tools recorded (MLflow), filtered, compared and opened; the jobs running
now; and the pitch pack built from chosen runs.

Widgets (`ui/runs/`) -> `core.runs` (list, get, delete) -> tables and plotly charts redrawn
from the store. `?run=<id>` opens that run here; CNN runs link to the Train page with the
same parameter.
"""

import streamlit as st

import ui
from core import jobs, runs
from ui.runs import compare_tab, listing, open_tab, pitch_tab, running

ui.require_navigation()
st.title("Runs")
st.caption(f"Every run the tools recorded, in the MLflow store `{runs.tracking_uri()}`.")
running.running_now_ui(jobs.active())
st.subheader("Recorded runs", anchor=False)
listed = listing.list_or_stop(*listing.filters_ui())
by_id = {r.id: r for r in listed}
st.dataframe(listing.runs_frame(listed), hide_index=True)  # at once: read without MLflow
listing.store_opener()  # MLflow opens the store in the background for the tabs below
tab_compare, tab_open, tab_pitch = st.tabs(["Compare", "Open a run", "Pitch pack"])
try:
    with tab_compare:
        compare_tab.compare_tab_ui(by_id)
    with tab_open:
        open_tab.open_tab_ui(by_id, st.query_params.get(open_tab.RUN_PARAM))
    with tab_pitch:
        pitch_tab.pitch_tab_ui(by_id)
except runs.StoreError as err:
    st.error(str(err))
