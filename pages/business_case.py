"""Business case: training and serving cost, API break-even, runway, scaling laws, energy.

Widgets -> one `Case` -> `case.evaluate` -> metrics, plotly charts, exports. No torch here:
the page answers at once. Inputs have no hidden bounds: a value the calculator cannot use
is named in a message and only the figures drawn from it wait; zero users, revenue or
growth are real cases.
"""

import streamlit as st

import ui
from core.economics import case
from ui.case import exports, keep, load, tabs

ui.require_navigation()
st.title("Business case")
st.caption(
    "What a model costs to train and to serve, when self-hosting beats an API, and how long "
    "the money lasts. Edit any input; every figure updates at once and carries its unit."
)
st.caption(case.DEFAULTS_SAID)
load.link_ui()  # a saved case named in the URL (Runs: "Open in Business case")
keep.restore()  # the inputs as this session (or the URL, after a refresh) left them
load.picker_ui()
loaded = st.container()
# a tab switch reruns the page, which draws only the open tab's figures
tab = dict(zip(tabs.TABS, st.tabs(tabs.TABS, key="case_tab", on_change="rerun"), strict=True))
inputs = keep.drawn(lambda: tabs.case_ui(tab))  # a value a widget refuses: dropped
report = case.assess(inputs)  # a refused input leaves out the figures drawn from it alone
with loaded:
    load.loaded_ui(inputs)
tabs.figures_ui(tab, inputs, report)
exports.exports_ui(inputs, report)
keep.remember()
