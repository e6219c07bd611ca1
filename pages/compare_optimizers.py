"""Compare optimizers: not built yet (issue #5)."""

import streamlit as st

import ui

ui.require_navigation()
st.title("Compare optimizers")
st.info("This tool is being built (issue #5); the shared core it runs on is ready.")
