"""The CNN comparison from the page: Start and Stop, the job's progress, the results."""

from __future__ import annotations

import streamlit as st

import ui
from core.compress import tool
from ui.compress import methods, results, source

JOB = "compress_job"  # the comparison's job; its id is in the URL as ?compress_job=<id>


def cnn_ui(device: str) -> None:
    """Source, methods, the job, and its results once it ends."""
    picked = source.source_ui()
    chosen, settings = methods.methods_ui(device)
    job = ui.job_of(JOB)
    ready = picked is not None and bool(chosen)
    if not chosen:
        st.info("Tick at least one method.")
    if ui.job_buttons_ui(job, JOB, "Compress and measure", disabled=not ready) and ready:
        label, make = picked
        target = tool.compress_job(make, chosen, settings, device=device)
        meta = {"label": f"{label}: {', '.join(chosen)}"}
        if ui.submit_job(JOB, target, "compress cnn", tool="compress", device=device, meta=meta):
            st.rerun()
    if job is not None and job.active:
        ui.job_progress_ui(JOB)
    elif job is not None and not ui.job_failed_ui(job, "Compression") and job.result is not None:
        results.comparison_ui(job.result)
