"""Which CNN to compress: one trained now on the digits, the one trained on Train a CNN in
this session, or a run from the store. Returns how the job gets it (loading a run or training
runs inside the job, not in the page)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from core.compress import sources

FRESH, SESSION, RUN = "fresh", "session", "run"
LABELS = {
    FRESH: "A digits CNN trained now (Train a CNN's defaults, about 15 s)",
    SESSION: "The CNN trained on Train a CNN in this session",
    RUN: "A recorded CNN run",
}
CNN_JOB = "cnn_job"  # where Train a CNN keeps its job in the session (ui.cnn.training.JOB)


def session_outcome():
    """This session's finished Train a CNN outcome, or None."""
    job = st.session_state.get(CNN_JOB)
    if job is None or job.active or job.result is None or job.result.evaluation is None:
        return None
    return job.result


def source_ui() -> tuple[str, Callable] | None:
    """(the source in words, make_source(progress) -> sources.Source), or None with a message."""
    outcome = session_outcome()
    options = [FRESH, SESSION, RUN] if outcome is not None else [FRESH, RUN]
    pick = st.radio("Model", options, format_func=LABELS.get, key="compress_source")
    if pick == FRESH:
        return LABELS[FRESH], sources.train_digits
    if pick == SESSION:
        recording = outcome.recording
        run_id = recording.run_id if recording is not None else None
        source = sources.from_outcome(outcome, run_id)
        return source.label, lambda progress: source
    return run_pick_ui()


def run_pick_ui() -> tuple[str, Callable] | None:
    """A CNN run from the store (its data are loaded again in the job)."""
    from core import runs

    try:
        listed = runs.list_runs(tool="cnn", limit=50)
    except runs.StoreError as err:
        st.error(f"The run store cannot be read: {err}")
        return None
    if not listed:
        st.info("No CNN runs recorded yet: train one on Train a CNN, or pick the digits CNN.")
        return None
    names = {r.id: f"{r.name} - {r.headline_text} - {r.id[:8]}" for r in listed}
    run_id = st.selectbox("Run", list(names), format_func=names.get, key="compress_run")
    return f"run {run_id[:8]}", lambda progress: sources.from_run(run_id)
