"""Compress a model: make a trained CNN smaller or faster (ONNX Runtime, static int8,
structured and unstructured pruning, distillation, fp16 on CUDA), each variant measured
beside the original on this machine in one job, the comparison recorded as a run linked to
its source, and the saving carried into the Business case.

Widgets (`ui/compress/`) -> `core.compress.tool.compress_job` (a `core.jobs` worker) -> the
shared job widgets poll it -> `ui.compress.results` draws the `Comparison`.
"""

import streamlit as st

import ui
from core.compress import tool
from ui.compress import methods, results, source

JOB = "compress_job"  # the comparison's job; its id is in the URL as ?compress_job=<id>

ui.require_navigation()
st.title("Compress a model")
st.caption(
    "Smaller and faster, measured here: each method runs beside the original in the same "
    "loop on this machine, because the same recipe can win on one CPU and lose on another."
)
device = ui.session_device()
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
