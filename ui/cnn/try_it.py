"""A trained model in use: its guesses for a picture or camera snapshot of the user's, and
its files to download (safetensors + JSON, ONNX)."""

from __future__ import annotations

import streamlit as st
from PIL import Image, UnidentifiedImageError

import ui
from core.vision import export, inspect
from core.vision.model import Classifier

IMAGE_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp"]


def try_ui(model: Classifier, key: str) -> None:
    """The model's three likeliest classes for an uploaded image or a snapshot."""
    st.caption(model.expected_input())
    c1, c2 = st.columns(2)
    up = c1.file_uploader("An image", type=IMAGE_TYPES, key=f"{key}_try")
    invert = c1.toggle("Invert (dark on light -> light on dark)", key=f"{key}_invert")
    snap = (
        c2.camera_input("Or a camera snapshot", key=f"{key}_camera")
        if c2.toggle("Use the camera", key=f"{key}_use_camera")
        else None
    )
    if (source := up or snap) is None or ui.upload_bytes(source) is None:
        return
    try:
        image = inspect.prepare_image(
            Image.open(source), model.config.in_channels, model.config.image_size, invert
        )
    except (UnidentifiedImageError, OSError) as err:
        st.error(f"That file is not an image this page can read ({type(err).__name__}).")
        return
    st.image(
        inspect.picture(image, max(1, 128 // model.config.image_size)),
        caption="as the model sees it",
    )
    for name, p in inspect.top_k(model.model, image, model.classes):
        st.progress(p, text=f"{name}: {p:.1%}")


def export_ui(model: Classifier, key: str) -> None:
    """Files made when clicked, not on every rerun."""
    c1, c2, c3 = st.columns(3)
    weights = lambda: export.export_safetensors(model)[0]  # noqa: E731
    meta = lambda: export.export_safetensors(model)[1]  # noqa: E731
    onnx = lambda: export.export_onnx(model.model, model.config)  # noqa: E731
    for col, label, content, name in (
        (c1, "Weights (.safetensors)", weights, "cnn.safetensors"),
        (c2, "Classes and preprocessing (.json)", meta, "cnn.json"),
        (c3, "Model (.onnx)", onnx, "cnn.onnx"),
    ):
        col.download_button(label, content, name, key=f"{key}_dl_{name}", on_click="ignore")
