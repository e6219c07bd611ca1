"""Train a CNN: pick data (built-in digits, a torchvision download, or your own .zip), train
with live curves and Stop, then read the diagnostics, try the model and export it. Every run
is recorded in the run store; `?run=<run_id>` loads a recorded model back.

Widgets (`ui/cnn/`) -> a `core.vision.tool.Request` -> a `core.jobs` worker
(`tool.train_job`: train, evaluate, record) -> the shared job widgets poll it -> the page
draws the outcome.
"""

import streamlit as st

import ui
from core.vision import tool
from ui.cnn import loader, settings, source, training

ui.require_navigation()
st.title("Train a CNN")
st.caption(
    "Train an image classifier on the hardware in front of you: data live on the device, "
    "curves update as it learns, Stop keeps the best model so far."
)
device = ui.session_device()
tool.warm()
ds = source.data_ui(device)
if ds is not None:
    source.preview_ui(ds)
    if (request := settings.settings_ui(ds)) is None:
        st.stop()
    training.train_ui(request, device)
    training.run_elsewhere_ui(request)
loader.loader_ui(ds, device)
