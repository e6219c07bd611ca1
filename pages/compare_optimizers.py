"""Compare optimizers: race them on 2-D test surfaces, each at a tuned learning rate, and on
a small model trained on digits with several seeds.

2-D: widgets -> `core.optim.optimizers.race` (NumPy, no torch) -> animated contour, curves, table;
the race and its figures are cached by their settings (about a second of CPU per page run).
Real model: a `core.jobs` worker runs `core.optim.model_compare.compare`; the tab is a fragment, so
Start and Stop rerun only it, and a nested fragment polls the job. Only the open tab runs at
all (its widgets keep their values meanwhile).
"""

import functools

import streamlit as st

import ui
from core.optim import charts, optimizers, surfaces

ui.require_navigation()
st.title("Compare optimizers")
st.caption(
    "Which optimizer, which learning rate? Each optimizer gets its own learning rate, tuned on "
    "a log grid for this very problem - one shared rate for all is an unfair race."
)
NAMES = list(optimizers.REGISTRY)
DEFAULT_2D = ["SGD", "SGD + momentum", "Nesterov", "RMSprop", "Adam", "Lion"]
DEFAULT_MODEL = ["SGD + momentum", "Adam", "AdamW", "Lion"]
BATCHES, DEFAULT_BATCH = [16, 32, 64, 128, 256], 64
MULTS, DEFAULT_MULTS = [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0], [0.3, 1.0, 3.0, 10.0, 30.0, 100.0]
JOB_KEY = "optimizer_race_job"
TABS = ["On 2-D surfaces", "On a real model (digits)"]
KEEP = "page"  # a widget of the tab not drawn keeps its value while the user stays on the page
# Only the open tab runs: a race ending reruns the whole page, and the 2-D tab cost about
# 0.2 s on the server and 0.4 s in the browser each time. A race this server knows (in the
# session, or its id in the URL after a refresh) opens on its tab.
if ui.job_of(JOB_KEY) is not None:
    st.session_state.setdefault("optim_tab", TABS[1])
tab_2d, tab_model = st.tabs(TABS, key="optim_tab", on_change="rerun")


def surface_ui() -> tuple[surfaces.Surface, tuple[float, float], int]:
    c1, c2, c3, c4 = st.columns([2, 1, 1, 2])
    name = c1.selectbox("Function", list(surfaces.SURFACES), key="fn", persist_state=KEEP)
    condition = 10.0
    if name == "Quadratic":
        condition = c1.select_slider(
            "Condition number",
            [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
            value=10,
            key="kappa",
            persist_state=KEEP,
        )
    s = surfaces.surface(name, condition)
    x0, x1, y0, y1 = s.view
    sx = c2.number_input(
        "Start x", x0, x1, s.start[0], 0.1, key=f"start_x_{name}", persist_state=KEEP
    )
    sy = c3.number_input(
        "Start y", y0, y1, s.start[1], 0.1, key=f"start_y_{name}", persist_state=KEEP
    )
    steps = c4.slider("Steps", 20, 2000, 500, 10, key="steps", persist_state=KEEP)
    return s, (sx, sy), steps


def hypers_ui(names: list[str]) -> tuple[dict, dict]:
    """Hand-set learning rates (blank: tuned) and every optimizer's hyperparameters."""
    manual, hypers = {}, {}
    with st.expander("Learning rates by hand (blank = tuned)"):
        cols = st.columns(4)
        for i, name in enumerate(names):
            manual[name] = cols[i % 4].number_input(
                name,
                1e-8,
                100.0,
                None,
                format="%.2e",
                key=f"lr_{name}",
                persist_state=KEEP,
                placeholder="tuned",
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
                    persist_state=KEEP,
                )
                for i, h in enumerate(entry.hypers)
            }
    return manual, hypers


def race_2d() -> None:
    s, start, steps = surface_ui()
    names = st.multiselect("Optimizers", NAMES, DEFAULT_2D, key="opts_2d", persist_state=KEEP)
    if not names:
        st.info("Pick at least one optimizer to race.")
        return
    c1, c2, c3, c4 = st.columns(4)
    tune = c1.toggle("Tune each learning rate", True, key="tune", persist_state=KEEP)
    low = c2.number_input(
        "Grid from", 1e-8, 1.0, 1e-5, format="%.0e", key="grid_low", persist_state=KEEP
    )
    high = c3.number_input(
        "Grid to", 1e-6, 100.0, 10.0, format="%.0e", key="grid_high", persist_state=KEEP
    )
    points = c4.slider("Grid points", 3, 40, 20, key="grid_points", persist_state=KEEP)
    manual, hypers = hypers_ui(names)
    try:
        grid = (low, high, points) if tune else None
        race, figures = race_and_figures(
            s, s.formula, start, tuple(names), steps, grid, manual, hypers
        )
    except ValueError as err:
        st.error(str(err))
        return
    if race.sweep.losses[:, 0].max() <= race.sweep.losses.min() + 1e-12 and s.minima:
        st.info(
            "The start is a global minimum: every optimizer stays put and the loss is 0 "
            "throughout. Move the start away from the star to see a race."
        )
    st.plotly_chart(figures["paths"], key="paths_chart")
    left, right = st.columns(2)
    left.plotly_chart(figures["loss"], key="loss_chart")
    if "sensitivity" in figures:
        right.plotly_chart(figures["sensitivity"], key="sensitivity_chart")
    else:
        right.info("Turn on tuning to see how each optimizer's final loss depends on its rate.")
    st.dataframe(optimizers.display_rows(race.table()), hide_index=True, key="race_table")
    failed = [n for r, n in enumerate(names) if race.sweep.diverged_at[r] > 0]
    if failed:
        st.warning(f"Diverged (stopped and marked): {', '.join(failed)}. Lower their rate by hand.")
    save_race_ui(race, figures)


@st.cache_resource(max_entries=8, show_spinner=False)  # shared, read-only: nothing mutates them
def race_and_figures(_s, formula: str, start, names: tuple, steps, grid, manual, hypers):
    """The 2-D race on surface `_s` (cached by its `formula`, which holds its constants; grid:
    (low, high, points) to tune, None for manual rates) and its figures, computed once per
    settings: a rerun for anything else costs nothing here."""
    lrs = optimizers.lr_grid(*grid) if grid is not None else None
    race = optimizers.race(_s, start, list(names), steps, lrs, manual, hypers)
    return race, race_figures(_s, race, list(names))


def race_figures(s: surfaces.Surface, race, names: list[str]) -> dict:
    """The 2-D race's charts: paths (animated), loss curves and, when tuned, sensitivity."""
    paths = {n: race.sweep.paths[r] for r, n in enumerate(names)}
    diverged = {n: int(race.sweep.diverged_at[r]) for r, n in enumerate(names)}
    losses = {n: race.sweep.losses[r] for r, n in enumerate(names)}
    figures = {
        "paths": charts.optimizer_paths(s, surfaces.grid(s), paths, diverged),
        "loss": charts.loss_curves(losses, s.log_levels),
    }
    if race.tuned is not None:
        sw = race.tuned.sweep
        lrs = {n: [lr for lr, m in zip(sw.lrs, sw.names, strict=True) if m == n] for n in names}
        finals = {
            n: [f for f, m in zip(sw.final_loss, sw.names, strict=True) if m == n] for n in names
        }
        figures["sensitivity"] = charts.sensitivity(lrs, finals, race.lrs)
    return figures


@st.fragment
def model_race_ui(device: str) -> None:
    names = st.multiselect("Optimizers", NAMES, DEFAULT_MODEL, key="opts_model", persist_state=KEEP)
    c1, c2, c3, c4 = st.columns(4)
    seeds = c1.number_input("Seeds per optimizer", 1, 10, 3, key="seeds", persist_state=KEEP)
    epochs = c2.number_input("Epochs per run", 1, 100, 8, key="epochs", persist_state=KEEP)
    batch = c3.selectbox(
        "Batch size", BATCHES, index=BATCHES.index(DEFAULT_BATCH), key="batch", persist_state=KEEP
    )
    mults = c4.multiselect(
        "Rates tried (x default)", MULTS, DEFAULT_MULTS, key="mults", persist_state=KEEP
    )
    st.caption(
        "An MLP (64 -> 128 -> 10) on scikit-learn's 1,797 digits, 80/20 stratified split. Each "
        "optimizer tries every rate with seed 0, keeps the rate with the lowest validation loss, "
        "then trains the other seeds at it. The run is recorded in the run store when it ends."
    )
    job = ui.job_of(JOB_KEY)
    if ui.job_buttons_ui(job, JOB_KEY, "Start"):
        settings = {"optimizers": tuple(names), "seeds": seeds, "epochs": epochs}
        settings |= {"batch_size": batch, "lr_multipliers": tuple(sorted(mults))}
        if start_race(settings, device) is not None:
            ui.rerun_part()  # draw Stop enabled at once, without the 2-D tab
    if job is not None and job.active:
        ui.job_progress_ui(JOB_KEY, draw=finished_count, draw_every=1.0)  # text: cheap
    elif job is not None and not ui.job_failed_ui(job, "The race"):
        race_results(job)


def start_race(settings: dict, device: str):
    """Validate, load digits onto `device` and queue the worker; None when refused."""
    from core import cache
    from core.optim import model_compare

    try:
        cfg = model_compare.CompareConfig(**settings)
    except ValueError as err:
        st.error(str(err))
        return None
    data = cache.digits(device)
    target = functools.partial(model_compare.compare_and_record, data, cfg)
    return ui.submit_job(JOB_KEY, target, "optimizer race", tool="optimizers", device=device)


def finished_count(job) -> None:
    st.caption(f"{len(job.metrics())} runs finished in {job.elapsed:.1f} s. Stop keeps them.")


def race_results(job) -> None:
    from core.optim import model_compare

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
    recorded_ui(result.run_id, result.not_recorded)
    if result.runs:
        x = st.segmented_control(
            "Loss against",
            list(model_compare.CURVE_AXES),
            default="step",
            required=True,
            key="race_x",
            persist_state=KEEP,
        )
        st.plotly_chart(model_compare.curve_figure(result, x), key="race_curves")
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


def recorded_ui(run_id: str | None, problem: str | None) -> None:
    """Where the run was recorded, or why it was not (the results stay on screen)."""
    if run_id:
        st.caption(f"Recorded as run {run_id} (see the Runs page).")
    elif problem:
        st.warning(f"Not recorded in the run store: {problem} The results below are kept.")


def save_race_ui(race, figures: dict) -> None:
    """'Save this race': the 2-D race into the run store."""
    if not st.button("Save this race", key="save_2d"):
        return
    try:
        run_id = optimizers.record_race(race, figures)
    except Exception as err:  # the store's own message; the race stays on screen
        st.warning(f"Not saved: {err}")
        return
    st.success(f"Saved as run {run_id} (see the Runs page).")


if tab_2d.open:
    with tab_2d:
        race_2d()
if tab_model.open:
    with tab_model:
        model_race_ui(ui.session_device())
