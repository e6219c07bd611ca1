"""Limits the app enforces on what a user sends it.

`.streamlit/config.toml` sets `server.maxUploadSize` to MAX_UPLOAD_MB so that the browser
refuses a file the app would refuse anyway (a test keeps the two equal).
"""

MAX_UPLOAD_MB = 200  # largest single upload, MB (Streamlit counts 1 MB = 2**20 bytes)
MAX_ZIP_FILES = 20_000  # files in one uploaded archive
MAX_ZIP_UNCOMPRESSED_MB = 1024  # what an archive may expand to, MiB (zip bombs stop here)
MIN_IMAGES_PER_CLASS = 5  # fewer cannot fill a train / validation / test split
