"""Train a CNN: not built yet (issue #3)."""

import streamlit as st

import ui

ui.require_navigation()
st.title("Train a CNN")
st.info("This tool is being built (issue #3); the shared core it runs on is ready.")
