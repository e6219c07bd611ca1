"""The dashboard's engine: device choice, resident data and models, and the tools' logic.

Nothing here imports Streamlit except `core.cache`, so every module works from a notebook
or a test with no server running.
"""
