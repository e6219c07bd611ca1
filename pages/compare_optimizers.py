"""Compare optimizers: race them on 2-D test surfaces, each at a tuned learning rate, and on
a small model trained on digits with several seeds.

2-D: widgets -> `core.optimizers.race` (NumPy, no torch) -> animated contour, curves, table.
Real model: a `core.jobs` worker runs `core.model_compare.compare`; a fragment polls it.
"""

import streamlit as st

import ui
from core import charts, optimizers, surfaces

ui.require_navigation()
st.title("Compare optimizers")
st.caption(
    "Which optimizer, which learning rate? Each optimizer gets its own learning rate, tuned on "
    "a log grid for this very problem - one shared rate for all is an unfair race."
)
NAMES = list(optimizers.REGISTRY)
DEFAULT_2D = ["SGD", "SGD + momentum", "Nesterov", "RMSprop", "Adam", "Lion"]
JOB_KEY = "optimizer_race_job"
tab_2d, tab_model = st.tabs(["On 2-D surfaces", "On a real model (digits)"])


def surface_ui() -> tuple[surfaces.Surface, tuple[float, float], int]:
    c1, c2, c3, c4 = st.columns([2, 1, 1, 2])
    name = c1.selectbox("Function", list(surfaces.SURFACES), key="fn")
    condition = 10.0
    if name == "Quadratic":
        condition = c1.select_slider(
            "Condition number", [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], value=10, key="kappa"
        )
    s = surfaces.surface(name, condition)
    x0, x1, y0, y1 = s.view
    sx = c2.number_input("Start x", x0, x1, s.start[0], 0.1, key=f"start_x_{name}")
    sy = c3.number_input("Start y", y0, y1, s.start[1], 0.1, key=f"start_y_{name}")
    steps = c4.slider("Steps", 20, 2000, 500, 10, key="steps")
    return s, (sx, sy), steps


def hypers_ui(names: list[str]) -> tuple[dict, dict]:
    """Hand-set learning rates (blank: tuned) and every optimizer's hyperparameters."""
    manual, hypers = {}, {}
    with st.expander("Learning rates by hand (blank = tuned)"):
        cols = st.columns(4)
        for i, name in enumerate(names):
            manual[name] = cols[i % 4].number_input(
                name, 1e-8, 100.0, None, format="%.2e", key=f"lr_{name}", placeholder="tuned"
            )
    with st.expander("Hyperparameters"):
        for name in names:
            entry = optimizers.REGISTRY[name]
            if not entry.hypers:
                continue
            cols = st.columns(5)
            cols[0].markdown(f"**{name}**")
            hypers[name] = {
                h.name: cols[i + 1].number_input(
                    h.name,
                    h.low,
                    h.high,
                    h.default,
                    format="%g",
                    help=h.help,
                    key=f"hp_{name}_{h.name}",
                )
                for i, h in enumerate(entry.hypers)
            }
    return manual, hypers


def race_2d() -> None:
    s, start, steps = surface_ui()
    names = st.multiselect("Optimizers", NAMES, DEFAULT_2D, key="opts_2d")
    if not names:
        st.info("Pick at least one optimizer to race.")
        return
    c1, c2, c3, c4 = st.columns(4)
    tune = c1.toggle("Tune each learning rate", True, key="tune")
    low = c2.number_input("Grid from", 1e-8, 1.0, 1e-5, format="%.0e", key="grid_low")
    high = c3.number_input("Grid to", 1e-6, 100.0, 10.0, format="%.0e", key="grid_high")
    points = c4.slider("Grid points", 3, 40, 20, key="grid_points")
    manual, hypers = hypers_ui(names)
    try:
        grid = optimizers.lr_grid(low, high, points) if tune else None
        race = optimizers.race(s, start, names, steps, grid, manual, hypers)
    except ValueError as err:
        st.error(str(err))
        return
    paths = {n: race.sweep.paths[r] for r, n in enumerate(names)}
    diverged = {n: int(race.sweep.diverged_at[r]) for r, n in enumerate(names)}
    fig = charts.optimizer_paths(s, surfaces.grid(s), paths, diverged)
    st.plotly_chart(fig, key="paths_chart")
    left, right = st.columns(2)
    losses = {n: race.sweep.losses[r] for r, n in enumerate(names)}
    left.plotly_chart(charts.loss_curves(losses, s.log_levels), key="loss_chart")
    if race.tuned is not None:
        sw = race.tuned.sweep
        lrs = {n: [sw.lrs[r] for r in range(len(sw.names)) if sw.names[r] == n] for n in names}
        finals = {
            n: [sw.final_loss[r] for r in range(len(sw.names)) if sw.names[r] == n] for n in names
        }
        right.plotly_chart(charts.sensitivity(lrs, finals, race.lrs), key="sensitivity_chart")
    else:
        right.info("Turn on tuning to see how each optimizer's final loss depends on its rate.")
    st.dataframe(
        race.table(),
        hide_index=True,
        key="race_table",
        column_config={
            "Learning rate": st.column_config.NumberColumn(format="%.2e"),
            "Final loss": st.column_config.NumberColumn(format="%.3e"),
        },
    )
    failed = [n for n in names if diverged[n] > 0]
    if failed:
        st.warning(f"Diverged (stopped and marked): {', '.join(failed)}. Lower their rate by hand.")


def model_race_ui() -> None:
    names = st.multiselect(
        "Optimizers", NAMES, ["SGD + momentum", "Adam", "AdamW", "Lion"], key="opts_model"
    )
    c1, c2, c3, c4 = st.columns(4)
    seeds = c1.number_input("Seeds per optimizer", 1, 10, 3, key="seeds")
    epochs = c2.number_input("Epochs per run", 1, 100, 8, key="epochs")
    batch = c3.selectbox("Batch size", [16, 32, 64, 128, 256], index=2, key="batch")
    mults = c4.multiselect(
        "Rates tried (x default)",
        [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0],
        [0.3, 1.0, 3.0, 10.0, 30.0, 100.0],
        key="mults",
    )
    st.caption(
        "An MLP (64 -> 128 -> 10) on scikit-learn's 1,797 digits, 80/20 stratified split. Each "
        "optimizer tries every rate with seed 0, keeps the rate with the lowest validation loss, "
        "then trains the other seeds at it."
    )
    job = st.session_state.get(JOB_KEY)
    running = job is not None and job.running
    b1, b2, _ = st.columns([1, 1, 4])
    start = b1.button("Start", type="primary", disabled=running, key="race_start")
    if start and start_race(names, seeds, epochs, batch, mults) is not None:
        st.rerun()  # draw Stop enabled at once
    if b2.button("Stop", disabled=not running, key="race_stop"):
        job.stop()
        st.rerun()
    if job is None:
        return
    if job.running:
        race_progress()
    else:
        race_results(job)


def start_race(names, seeds, epochs, batch, mults):
    """Validate, load digits onto the session's device and start the worker."""
    from core import cache, jobs, model_compare

    try:
        cfg = model_compare.CompareConfig(tuple(names), seeds, epochs, batch, tuple(sorted(mults)))
    except ValueError as err:
        st.error(str(err))
        return None
    data = cache.digits(ui.session_device())
    job = jobs.Job(lambda ctx: model_compare.compare(data, cfg, ctx), "optimizer race").start()
    st.session_state[JOB_KEY] = job
    return job


@st.fragment(run_every=1.0)
def race_progress() -> None:
    """Progress while the worker runs; a full rerun draws the results once it ends."""
    job = st.session_state[JOB_KEY]
    if not job.running:
        st.rerun()
    eta = f", about {job.eta:.0f} s left" if job.eta is not None else ""
    st.progress(job.progress, text=f"{job.message or 'Starting'} - {job.progress:.0%}{eta}")
    st.caption(f"{len(job.metrics())} runs finished in {job.elapsed:.1f} s. Stop keeps them.")


def race_results(job) -> None:
    from core import model_compare

    if job.status == "failed":
        st.error(f"The race failed: {job.error}")
        with st.expander("Details"):
            st.code(job.details)
        return
    result = job.result
    if result.stopped and not result.runs:
        st.warning(f"Stopped after {job.elapsed:.1f} s, before any run finished.")
        return
    if result.stopped:
        st.warning(
            f"Stopped after {len(job.metrics())} finished runs in {job.elapsed:.1f} s; "
            "showing every one of them (a rate sweep cut short counts the rates it tried)."
        )
    else:
        st.success(f"{len(job.metrics())} runs in {job.elapsed:.1f} s.")
    if not result.runs:
        return
    curves = {}
    for run in result.runs:
        curves.setdefault(run.optimizer, []).append(
            {
                "step": run.steps,
                "seconds": run.seconds,
                "train": run.train_loss,
                "val": run.val_loss,
            }
        )
    for split, label in (("val", "Validation loss"), ("train", "Training loss")):
        left, right = st.columns(2)
        left.plotly_chart(
            charts.mean_band(curves, "step", split, label, "step"), key=f"{split}_step"
        )
        right.plotly_chart(
            charts.mean_band(curves, "seconds", split, label, "training seconds"),
            key=f"{split}_time",
        )
    lrs = {n: list(g) for n, g in result.grid.items()}
    finals = {n: list(g.values()) for n, g in result.grid.items()}
    st.plotly_chart(charts.sensitivity(lrs, finals, result.best_lr), key="model_sensitivity")
    rows = model_compare.summary(result)
    st.dataframe(rows, hide_index=True, key="model_table")
    st.download_button(
        "Download summary (CSV)",
        model_compare.to_csv(rows),
        "optimizer_race.csv",
        "text/csv",
        key="race_csv",
    )


with tab_2d:
    race_2d()
with tab_model:
    model_race_ui()
