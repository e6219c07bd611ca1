"""One run's results: the data and settings behind them, where the run was recorded, its
figures and curves, and the diagnostics tabs (confusion and per-class, mistakes, Grad-CAM,
Try it, Export). The same block shows a run just trained and one loaded back."""

from __future__ import annotations

import streamlit as st

import ui
from core.vision import charts, data, inspect, tool
from ui.cnn import try_it

KEPT = "The model below still works."  # what a failed recording leaves


def outcome_ui(outcome: tool.Outcome, ds: data.ImageTensors, device: str, key: str) -> None:
    """Every result of one run, headed by the data and settings that produced it; `key`
    prefixes the block's widget keys."""
    trained_on = outcome.request.data.describe()
    if trained_on != ds.describe():
        st.info(
            f"Your last run trained on other data ({trained_on}): its results are hidden. "
            "Switch back to that data to see them."
        )
        return
    st.subheader("Results", anchor=False)
    st.caption(f"Trained on {outcome.request.describe()}.")
    r = outcome.result
    if r.reason in ("diverged", "out of memory", "did not learn"):
        st.warning(r.message)
    elif r.message:
        st.info(r.message)
    if outcome.evaluation is None:
        return
    record_ui(outcome)
    metrics_ui(outcome, device)
    st.plotly_chart(charts.training_curves([vars(e) for e in r.history]), key=f"{key}_curves")
    diagnostics_ui(outcome, key)
    outcome.shown.set()  # the recording may start now (core.vision.tool.train_job)


def metrics_ui(outcome: tool.Outcome, device: str) -> None:
    """The run's figures side by side (tool.page_metrics)."""
    figures = tool.page_metrics(outcome, device)
    for col, figure in zip(st.columns(len(figures)), figures, strict=True):
        col.metric(figure.label, figure.value, help=figure.help)


def diagnostics_ui(outcome: tool.Outcome, key: str) -> None:
    """The diagnostics tabs of a run with a test evaluation."""
    ev, classes = outcome.evaluation, outcome.request.data.classes
    tabs = st.tabs(["Confusion and per-class", "Mistakes", "Why (Grad-CAM)", "Try it", "Export"])
    with tabs[0]:
        left, right = st.columns([3, 2])
        left.plotly_chart(charts.confusion(ev.confusion, classes), key=f"{key}_confusion")
        right.dataframe(inspect.per_class_rows(ev, classes), hide_index=True)
    with tabs[1]:
        mistakes_ui(outcome)
    with tabs[2]:
        gradcam_ui(outcome, key)
    with tabs[3]:
        try_it.try_ui(outcome.classifier, key)
    with tabs[4]:
        try_it.export_ui(outcome.classifier, key)


@st.fragment(run_every=1.0)
def recording_ui(outcome: tool.Outcome) -> None:
    """Polls until the worker's recording ends, then redraws the page once."""
    if outcome.recorded.is_set():
        st.rerun()
    st.caption("Recording this run in the run store...")


def record_ui(outcome: tool.Outcome) -> None:
    """Recording..., then where the run went (or why it did not): ui.recorded_ui."""
    if not outcome.recorded.is_set():
        recording_ui(outcome)
    elif outcome.recording is not None:
        ui.recorded_ui(outcome.recording, kept=KEPT)


def mistakes_ui(outcome: tool.Outcome) -> None:
    """The first misclassified test images, with what they were taken for."""
    test = outcome.splits[2]
    pictures, captions, wrong = inspect.mistakes(outcome.request.data, test, outcome.evaluation)
    if not wrong:
        st.success("No test image was misclassified.")
        return
    st.caption(f"{wrong} of {len(test)} test images misclassified (first 24 shown).")
    st.image(pictures, caption=captions, width=110)


def gradcam_ui(outcome: tool.Outcome, key: str) -> None:
    """One test image beside what the prediction leaned on."""
    test = outcome.splits[2]
    pick = st.number_input("Test image #", 0, len(test) - 1, 0, key=f"{key}_cam")
    picture, overlay, true, predicted = inspect.explain(
        outcome.result.model, outcome.request.data, test, pick
    )
    c1, c2 = st.columns(2)
    c1.image(picture, caption=f"true: {true}")
    c2.image(overlay, caption=f"predicted: {predicted} (red: what the prediction leaned on)")
