"""GPT-2 (any local causal LM folder): dynamic int8, fp16 weights and a distilled student
measured beside the original (decode tokens/s, perplexity with its window and stride, greedy
agreement), as a job with progress and Stop; the results in ui.compress.text_results."""

from __future__ import annotations

import streamlit as st

import ui
from core.compress import textjob
from core.compress.cnn import CompressError
from core.compress.student import StudentSettings
from core.text import sources, tinygpt
from ui.compress import text_results

JOB = "compress_gpt2_job"
SHAPE_OF = "compress_gpt2_shape_of"  # session_state: the folder the student's shape follows
LABELS = {"int8": "Dynamic int8 (linear layers)", "fp16": "fp16 weights", "student": "Distil"}


def gpt2_ui(device: str) -> None:
    """Pick a folder and methods, measure, show the results."""
    folder = st.selectbox(
        "Model folder",
        sources.local_models(),
        format_func=sources.model_label,
        key="compress_gpt2_folder",
        accept_new_options=True,
        placeholder="Train one on Chat with GPT-2, or type a folder path",
    )
    cols = st.columns(3)
    chosen = tuple(
        m
        for i, (m, label) in enumerate(LABELS.items())
        if cols[i].checkbox(label, value=True, key=f"compress_gpt2_{m}")
    )
    s = student_ui(folder) if "student" in chosen else StudentSettings()
    text, text_name = text_ui() if "student" in chosen else (None, "the built-in text")
    job = ui.job_of(JOB)
    ready = bool(folder and chosen and s is not None and text_name)
    if ui.job_buttons_ui(job, JOB, "Compress and measure", disabled=not ready) and ready:
        try:
            request = textjob.TextRequest(
                folder=folder, methods=chosen, student=s, text=text, text_name=text_name
            )
            textjob.check(request)
        except (CompressError, ValueError, OSError) as err:
            st.error(str(err))
            return
        meta = {"label": f"{folder}: {', '.join(chosen)}"}
        if ui.submit_job(
            JOB, textjob.text_job(request), "compress gpt2", tool="compress", meta=meta
        ):
            st.rerun()
    if job is not None and job.active:
        ui.job_progress_ui(JOB)
    elif job is not None and not ui.job_failed_ui(job, "Compression") and job.result:
        text_results.results_ui(job.result)


def student_ui(folder: str | None) -> StudentSettings | None:
    """The student's layers and width (defaults: half the teacher's), temperature, weight on
    the teacher and steps; None (with the message) when they are out of range."""
    shape = textjob.teacher_shape(folder) if folder else None
    layers, width = shape or (2, 128)
    if st.session_state.get(SHAPE_OF) != folder:  # a new teacher: half its layers and width
        st.session_state[SHAPE_OF] = folder
        st.session_state["compress_gpt2_layers"] = max(1, layers // 2)
        st.session_state["compress_gpt2_width"] = max(8, width // 2)
    with st.expander("Student", expanded=False):
        st.caption(
            f"The teacher has {layers} layers of width {width}" if shape else "GPT-2 folders only."
        )
        c1, c2, c3 = st.columns(3)
        n = c1.number_input("Layers", 1, 48, key="compress_gpt2_layers")
        w = c2.number_input("Width", 8, 4096, step=8, key="compress_gpt2_width")
        steps = c3.number_input("Steps", 1, 20_000, 200, 50, key="compress_gpt2_steps")
        t = c1.slider("Temperature", 0.5, 10.0, 2.0, 0.5, key="compress_gpt2_temperature")
        a = c2.slider("Weight on the teacher", 0.0, 1.0, 0.5, 0.05, key="compress_gpt2_alpha")
    try:
        return StudentSettings(layers=n, width=w, temperature=t, alpha=a, steps=steps)
    except CompressError as err:
        st.error(str(err))
        return None


def text_ui() -> tuple[str | None, str]:
    """The student's training text: the built-in one, or an uploaded .txt/.md (its last
    tenth is held out for perplexity); ("", "") after a message when it cannot be used."""
    upload = st.file_uploader(
        "Training text for the student (optional; default: the built-in text)",
        type=["txt", "md"],
        key="compress_gpt2_text",
    )
    if upload is None:
        return None, "the built-in text"
    raw = ui.upload_bytes(upload)
    if raw is None:
        return None, ""
    try:
        return tinygpt.read_corpus(raw), upload.name
    except ValueError as err:
        st.error(str(err))
        return None, ""
