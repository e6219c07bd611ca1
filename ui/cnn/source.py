"""Where the images come from: the built-in digits, a torchvision download (a job of its own)
or the user's .zip of class folders; and a preview of the chosen set."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

import ui
from core import cache
from core.vision import data, inspect

FETCH = "cnn_fetch"  # the download's job (and its URL parameter)
UPLOAD = "cnn_upload"  # session state: ((file id, size), ImageTensors, ZipReport)
SOURCES = {
    "digits": "Built-in digits (offline)",
    "download": "Download a classic set",
    "upload": "Your images (.zip)",
}


def data_ui(device: str) -> data.ImageTensors | None:
    """The chosen data set on `device`, or None (with a message) until there is one."""
    source = st.radio(
        "Data", list(SOURCES), format_func=SOURCES.get, horizontal=True, key="cnn_source"
    )
    if source == "digits":
        return cache.digits(device)
    return download_ui(device) if source == "download" else upload_ui(device)


def download_ui(device: str) -> data.ImageTensors | None:
    """A torchvision set once downloaded (the Download button's job), else None."""
    specs = data.downloads()
    name = st.selectbox(
        "Data set",
        list(specs),
        key="cnn_download",
        format_func=lambda n: f"{n} ({specs[n].size_mb:.0f} MB download)",
    )
    job = ui.job_of(FETCH)
    if job is not None and not job.active and job.meta.get("name") != name:
        job = None  # an earlier download of another set: its outcome stays with that set
    if job is not None and job.status == "done":
        return cache.downloaded(name, device)
    st.caption(f"Saved under {data.data_root()} after the first download.")
    if ui.job_buttons_ui(job, FETCH, f"Download {name}"):
        target = lambda progress: data.fetch_download(name, progress)  # noqa: E731
        options = {"tool": "cnn-data", "device": "network", "meta": {"name": name}}
        if ui.submit_job(FETCH, target, f"download {name}", **options):
            st.rerun()
    if job is not None and job.active:
        ui.job_progress_ui(FETCH)
    elif job is not None:
        ui.job_failed_ui(job, f"Downloading {job.meta['name']}")
    return None


def upload_ui(device: str) -> data.ImageTensors | None:
    """The user's .zip as a data set (read once per file and size), else None."""
    size = st.select_slider("Resize images to", [16, 24, 32, 48, 64], 32, key="cnn_size")
    up = st.file_uploader(
        "A .zip with one folder per class",
        type=["zip"],
        key="cnn_zip",
        help=f"e.g. cats/001.jpg, dogs/002.png ... (max {data.limits.MAX_UPLOAD_MB} MB, "
        f"{data.limits.MAX_ZIP_FILES:,} files)",
    )
    if up is None:
        st.info("Upload a .zip to train on your own images; the built-in digits work meanwhile.")
        return None
    held = st.session_state.get(UPLOAD)
    if held is None or held[0] != (up.file_id, size):
        if (read := read_zip_ui(up, device, size)) is None:
            return None
        held = st.session_state[UPLOAD] = ((up.file_id, size), *read)
    _, ds, report = held
    if report.skipped:
        with st.expander(f"{len(report.skipped)} file(s) skipped"):
            st.dataframe([{"File": f, "Why": why} for f, why in report.skipped], hide_index=True)
    if changes := report.changes(size):
        st.caption(changes)
    return ds


def read_zip_ui(up, device: str, size: int) -> tuple[data.ImageTensors, data.ZipReport] | None:
    """(data set, report) of the uploaded archive, or None with the reason shown."""
    if (content := ui.upload_bytes(up)) is None:
        return None
    try:
        with st.spinner("Reading the archive..."):
            return data.load_zip(content, device, size, Path(up.name).stem)
    except data.DataError as err:
        st.error(str(err))
        return None


def preview_ui(ds: data.ImageTensors) -> None:
    """What the set is, and one image of each of its first classes."""
    st.caption(f"{ds.describe()}, on {ds.device}; split 70/15/15 by class.")
    pictures, captions = inspect.preview(ds)
    st.image(pictures, caption=captions, width=56)
