"""Compress a model: make a trained CNN smaller or faster (ONNX Runtime, static int8,
structured and unstructured pruning, distillation, fp16 on CUDA) or a GPT-2 (dynamic int8,
fp16 weights), each variant measured beside the original on this machine in one job, the
CNN comparison recorded as a run linked to its source, and the saving carried into the
Business case.

Widgets (`ui/compress/`) -> `core.compress.tool.compress_job` or `core.compress.gpt2`
(a `core.jobs` worker) -> the shared job widgets poll it -> the results panel draws it.
"""

import streamlit as st

import ui
from ui.compress import run, text

ui.require_navigation()
st.title("Compress a model")
st.caption(
    "Smaller and faster, measured here: each method runs beside the original in the same "
    "loop on this machine, because the same recipe can win on one CPU and lose on another."
)
device = ui.session_device()
kind = st.radio("Kind of model", ["CNN", "GPT-2"], horizontal=True, key="compress_kind")
if kind == "CNN":
    run.cnn_ui(device)
else:
    text.gpt2_ui(device)
