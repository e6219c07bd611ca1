"""Business case: not built yet (issue #6)."""

import streamlit as st

st.title("Business case")
st.info("This tool is being built (issue #6); the shared core it runs on is ready.")
