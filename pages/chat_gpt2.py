"""Chat with GPT-2: not built yet (issue #4)."""

import streamlit as st

import ui

ui.require_navigation()
st.title("Chat with GPT-2")
st.info("This tool is being built (issue #4); the shared core it runs on is ready.")
