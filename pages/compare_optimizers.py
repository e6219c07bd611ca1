"""Compare optimizers: race them on 2-D test surfaces, each at a tuned learning rate, and on
a small model trained on digits with several seeds.

2-D: `ui.optim.surface_tab` (NumPy, no torch; the race and its figures cached by their
settings). Real model: `ui.optim.model_tab`, a fragment over a `core.jobs` worker. Only the
open tab runs at all (its widgets keep their values meanwhile).
"""

import streamlit as st

import ui
from ui.optim import model_tab, surface_tab

ui.require_navigation()
st.title("Compare optimizers")
st.caption(
    "Which optimizer, which learning rate? Each optimizer gets its own learning rate, tuned on "
    "a log grid for this very problem - one shared rate for all is an unfair race."
)
TABS = ["On 2-D surfaces", "On a real model (digits)"]
# Only the open tab runs: a race ending reruns the whole page, and the 2-D tab cost about
# 0.2 s on the server and 0.4 s in the browser each time. A race this server knows (in the
# session, or its id in the URL after a refresh) opens on its tab.
if model_tab.race_job() is not None:
    st.session_state.setdefault("optim_tab", TABS[1])
tab_2d, tab_model = st.tabs(TABS, key="optim_tab", on_change="rerun")

if tab_2d.open:
    with tab_2d:
        surface_tab.surface_race_ui()
if tab_model.open:
    with tab_model:
        model_tab.model_race_ui(ui.session_device())
