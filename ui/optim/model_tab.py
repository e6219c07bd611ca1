"""The "On a real model (digits)" tab: what to race, Start and Stop, progress, then the
results: loss bands over seeds against step or training time, rate sensitivity, the
summary table with its CSV, and where the race was recorded.

A `core.jobs` worker runs `core.optim.model_race.compare_and_record`; the tab is a fragment,
so Start and Stop rerun only it, and a nested fragment polls the job. torch loads with the
first race, not with the page.
"""

from __future__ import annotations

import functools

import streamlit as st

import ui
from core import jobs
from core.optim import charts, registry

KEEP = "page"  # a widget of the tab not drawn keeps its value while the user stays on the page
JOB_KEY = "optim_model_job"  # the race's id is in the URL under this name: ?optim_model_job=
OLD_JOB_KEYS = ("optimizer_race_job",)  # its name in links made before, still read
NAMES = list(registry.REGISTRY)
DEFAULT_OPTIMIZERS = ["SGD + momentum", "Adam", "AdamW", "Lion"]
BATCHES, DEFAULT_BATCH = [16, 32, 64, 128, 256], 64
MULTS, DEFAULT_MULTS = [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0], [0.3, 1.0, 3.0, 10.0, 30.0, 100.0]


def race_job() -> jobs.Job | None:
    """The race this session started, or the one whose id is in the URL (after a refresh)."""
    return ui.job_of(JOB_KEY, legacy=OLD_JOB_KEYS)


def settings_ui() -> dict:
    """What to race: `model_race.CompareConfig`'s keyword arguments."""
    names = st.multiselect(
        "Optimizers", NAMES, DEFAULT_OPTIMIZERS, key="optim_model_optimizers", persist_state=KEEP
    )
    c1, c2, c3, c4 = st.columns(4)
    seeds = c1.number_input(
        "Seeds per optimizer", 1, 10, 3, key="optim_model_seeds", persist_state=KEEP
    )
    epochs = c2.number_input(
        "Epochs per run", 1, 100, 8, key="optim_model_epochs", persist_state=KEEP
    )
    batch = c3.selectbox(
        "Batch size",
        BATCHES,
        index=BATCHES.index(DEFAULT_BATCH),
        key="optim_model_batch",
        persist_state=KEEP,
    )
    mults = c4.multiselect(
        "Rates tried (x default)", MULTS, DEFAULT_MULTS, key="optim_model_mults", persist_state=KEEP
    )
    st.caption(
        "An MLP (64 -> 128 -> 10) on scikit-learn's 1,797 digits, 80/20 stratified split. Each "
        "optimizer tries every rate with seed 0, keeps the rate with the lowest validation loss, "
        "then trains the other seeds at it. The run is recorded in the run store when it ends."
    )
    return {
        "optimizers": tuple(names),
        "seeds": seeds,
        "epochs": epochs,
        "batch_size": batch,
        "lr_multipliers": tuple(sorted(mults)),
    }


@st.fragment
def model_race_ui(device: str) -> None:
    """The whole tab, on `device`: settings, Start and Stop, then progress or the results."""
    settings = settings_ui()
    job = race_job()
    if ui.job_buttons_ui(job, JOB_KEY, "Start") and start_race(settings, device) is not None:
        ui.rerun_part()  # draw Stop enabled at once, without the 2-D tab
    if job is not None and job.active:
        ui.job_progress_ui(JOB_KEY, draw=finished_count_ui, draw_every=1.0)
    elif job is not None and not ui.job_failed_ui(job, "The race"):
        results_ui(job)


def start_race(settings: dict, device: str) -> jobs.Job | None:
    """Validate, load digits onto `device` and queue the worker; None when refused."""
    from core import cache
    from core.optim import model_race

    try:
        cfg = model_race.CompareConfig(**settings)
    except ValueError as err:
        st.error(str(err))
        return None
    data = cache.digits(device)
    target = functools.partial(model_race.compare_and_record, data, cfg)
    return ui.submit_job(JOB_KEY, target, "optimizer race", tool="optimizers", device=device)


def finished_count_ui(job: jobs.Job) -> None:
    """The race's live view while it runs: how many runs have finished (text: cheap to draw)."""
    st.caption(f"{len(job.metrics())} runs finished in {job.elapsed:.1f} s. Stop keeps them.")


def outcome_ui(job: jobs.Job) -> bool:
    """How the race ended (done, or stopped with what it kept); False when nothing finished."""
    finished = len(job.metrics())
    if job.result.stopped and not job.result.runs:
        st.warning(f"Stopped after {job.elapsed:.1f} s, before any run finished.")
        return False
    if job.result.stopped:
        st.warning(
            f"Stopped after {finished} finished runs in {job.elapsed:.1f} s; "
            "showing every one of them (a rate sweep cut short counts the rates it tried)."
        )
    else:
        st.success(f"{finished} runs in {job.elapsed:.1f} s.")
    return True


def results_ui(job: jobs.Job) -> None:
    """The finished race: where it was recorded, its curves, sensitivity and summary."""
    from core.optim import model_race

    if not outcome_ui(job):
        return
    result = job.result
    if result.recorded is not None:
        ui.recorded_ui(result.recorded, kept="The results below are kept.")
    if result.runs:
        x = st.segmented_control(
            "Loss against",
            list(model_race.CURVE_AXES),
            default="step",
            required=True,
            key="optim_model_x",
            persist_state=KEEP,
        )
        st.plotly_chart(model_race.curve_figure(result, x), key="optim_model_curves")
    lrs = {n: list(g) for n, g in result.grid.items()}
    finals = {n: list(g.values()) for n, g in result.grid.items()}
    st.plotly_chart(charts.sensitivity(lrs, finals, result.best_lr), key="optim_model_sensitivity")
    rows = model_race.summary(result)
    st.dataframe(rows, hide_index=True, key="optim_model_table")
    st.download_button(
        "Download summary (CSV)",
        model_race.to_csv(rows),
        "optimizer_race.csv",
        "text/csv",
        key="optim_model_csv",
    )
