"""What to try: one checkbox per method (small defaults that finish in under a minute on the
digits) and the knobs of each, with the student's size checked before the job starts."""

from __future__ import annotations

import streamlit as st

from core.compress import cnn, tool

HELP = {
    "onnx": "The same weights run by ONNX Runtime: often the biggest CPU win by itself.",
    "int8": "8-bit weights and activations, calibrated on training images. Smaller; faster "
    "only where the CPU has int8 dot products (VNNI, AMX).",
    "structured": "Removes whole channels (a narrower network), then fine-tunes briefly.",
    "unstructured": "Zeros the smallest weights. Stored dense, it shrinks nothing and speeds "
    "nothing: shown so you can see that.",
    "distil": "Trains a narrower student on the original's softened outputs, starting from "
    "its strongest channels.",
    "fp16": "Half precision on a CUDA GPU (skipped on a CPU).",
}


def methods_ui(device: str) -> tuple[tuple[str, ...], cnn.Settings]:
    """(the methods ticked, their settings)."""
    st.markdown("**Methods** (each measured beside the original, in one run)")
    picked = []
    cols = st.columns(2)  # room for each method's whole label
    for i, (key, (label, _)) in enumerate(tool.METHODS.items()):
        on = cols[i % 2].checkbox(
            label,
            value=key in tool.DEFAULT_METHODS,
            key=f"compress_method_{key}",
            help=HELP[key],
            disabled=key == "fp16" and device != "cuda",
        )
        if on:
            picked.append(key)
    return tuple(picked), settings_ui()


def settings_ui() -> cnn.Settings:
    """The knobs, in an expander."""
    d = cnn.Settings()
    with st.expander("Settings of the methods"):
        a, b, c = st.columns(3)
        calibration = a.number_input(
            "Calibration images (int8)", 0, 2000, d.calibration_images, key="compress_calib"
        )
        amount = b.slider(
            "Channels removed (structured)", 0.1, 0.9, d.prune_amount, 0.05, key="compress_amount"
        )
        finetune = c.number_input(
            "Fine-tune epochs", 0, 100, d.finetune_epochs, key="compress_finetune"
        )
        sparsity = a.slider(
            "Weights zeroed (unstructured)", 0.1, 0.95, d.sparsity, 0.05, key="compress_sparsity"
        )
        width = b.number_input(
            "Student width (channels of its first block)",
            4,
            512,
            d.student_width,
            key="compress_width",
        )
        epochs = c.number_input(
            "Distillation epochs", 1, 500, d.distil_epochs, key="compress_distil_epochs"
        )
        temperature = a.number_input(
            "Temperature", 1.0, 20.0, d.temperature, 0.5, key="compress_temperature"
        )
        alpha = b.slider(
            "Weight on the teacher (alpha)", 0.0, 1.0, d.alpha, 0.05, key="compress_alpha"
        )
        from_teacher = c.checkbox(
            "Student starts from the teacher's strongest channels",
            d.student_from_teacher,
            key="compress_student_init",
            help="Off: the student starts from random weights (less accurate at few epochs).",
        )
    return cnn.Settings(
        calibration_images=int(calibration),
        prune_amount=float(amount),
        finetune_epochs=int(finetune),
        sparsity=float(sparsity),
        student_width=int(width),
        temperature=float(temperature),
        alpha=float(alpha),
        distil_epochs=int(epochs),
        student_from_teacher=bool(from_teacher),
    )
