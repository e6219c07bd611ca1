"""Training from the page: Train and Stop, the job's progress with live loss and accuracy,
its results once it ends, and the same settings as a command to run elsewhere."""

from __future__ import annotations

import streamlit as st

import ui
from core import jobs, train
from core.vision import tool
from ui import cluster
from ui.cnn import results

JOB = "cnn_job"  # the training's job; its id is in the URL as ?cnn_job=<id>
RESULT = "cnn_result"  # widget keys of this session's run's results


def train_ui(request: tool.Request, device: str) -> None:
    """Train (a job on `device`), its progress while it runs, its results once it ends."""
    job = ui.job_of(JOB)
    if ui.job_buttons_ui(job, JOB, "Train"):
        target = tool.train_job(request, after_page=True)
        meta = {"label": request.describe()}
        if ui.submit_job(JOB, target, "train cnn", tool="cnn", device=device, meta=meta):
            st.rerun()
    if job is None:
        return
    if job.active:
        ui.job_progress_ui(JOB, draw=live_curves_ui)
    elif not ui.job_failed_ui(job, "Training") and job.result is not None:
        results.outcome_ui(job.result, request.data, device, RESULT)


def live_curves_ui(job: jobs.Job) -> None:
    """Loss and accuracy while training (redrawn every few polls: ui.job_progress_ui)."""
    rows = job.metrics()
    if not rows:
        return
    left, right = st.columns(2)
    loss = {"train_loss": "train", "val_loss": "validation"}
    accuracy = {"train_accuracy": "train", "val_accuracy": "validation"}
    ui.live_lines_ui(rows, "epoch", loss, "Loss", where=left)
    ui.live_lines_ui(rows, "epoch", accuracy, "Accuracy", where=right)


def run_elsewhere_ui(request: tool.Request) -> None:
    """These data and settings as run.json and the torchrun commands (ui.cluster)."""
    config = train.cnn_run_config(request.data, request.model, request.train)
    cluster.run_elsewhere_ui("cnn", config, key="cnn_elsewhere")
