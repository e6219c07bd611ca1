"""Limits the app enforces on what a user sends it.

`.streamlit/config.toml` sets `server.maxUploadSize` to MAX_UPLOAD_MB so that the browser
refuses a file the app would refuse anyway (a test keeps the two equal).
"""

MAX_UPLOAD_MB = 200  # largest single upload, MB (Streamlit counts 1 MB = 2**20 bytes)
