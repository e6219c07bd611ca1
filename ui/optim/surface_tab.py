"""The "On 2-D surfaces" tab: a surface, a start and the optimizers, their rates (tuned on a
log grid, or by hand) and hyperparameters; then the race: the paths over the surface
(animated), loss curves, rate sensitivity, a readable table and "Save this race".

widgets -> `core.optim.race.run_race` (NumPy, no torch) -> `core.optim.charts.race_figures`;
the race and its figures are cached by their settings (about a second of CPU per page run).
Every widget keeps its value while the tab is closed (persist_state="page").
"""

from __future__ import annotations

import streamlit as st

import ui
from core.optim import charts, race, registry, surfaces

KEEP = "page"  # a widget of the tab not drawn keeps its value while the user stays on the page
NAMES = list(registry.REGISTRY)
DEFAULT_OPTIMIZERS = ["SGD", "SGD + momentum", "Nesterov", "RMSprop", "Adam", "Lion"]
CONDITIONS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]  # the quadratic's, to pick from


def surface_ui() -> tuple[surfaces.Surface, tuple[float, float], int]:
    """The surface, the start (x, y) and the number of steps."""
    c1, c2, c3, c4 = st.columns([2, 1, 1, 2])
    functions = list(surfaces.SURFACES)
    name = c1.selectbox("Function", functions, key="optim_function", persist_state=KEEP)
    condition = 10.0
    if name == "Quadratic":
        condition = c1.select_slider(
            "Condition number", CONDITIONS, value=10, key="optim_condition", persist_state=KEEP
        )
    s = surfaces.surface(name, condition)
    x0, x1, y0, y1 = s.view
    sx = c2.number_input(
        "Start x", x0, x1, s.start[0], 0.1, key=f"optim_start_x_{name}", persist_state=KEEP
    )
    sy = c3.number_input(
        "Start y", y0, y1, s.start[1], 0.1, key=f"optim_start_y_{name}", persist_state=KEEP
    )
    steps = c4.slider("Steps", 20, 2000, 500, 10, key="optim_steps", persist_state=KEEP)
    return s, (sx, sy), steps


def grid_ui() -> tuple[float, float, int] | None:
    """The learning-rate grid to tune on, (low, high, points), or None when not tuning."""
    c1, c2, c3, c4 = st.columns(4)
    tune = c1.toggle("Tune each learning rate", True, key="optim_tune", persist_state=KEEP)
    low = c2.number_input(
        "Grid from", 1e-8, 1.0, 1e-5, format="%.0e", key="optim_grid_low", persist_state=KEEP
    )
    high = c3.number_input(
        "Grid to", 1e-6, 100.0, 10.0, format="%.0e", key="optim_grid_high", persist_state=KEEP
    )
    points = c4.slider("Grid points", 3, 40, 20, key="optim_grid_points", persist_state=KEEP)
    return (low, high, points) if tune else None


def manual_rates_ui(names: list[str]) -> dict[str, float | None]:
    """Hand-set learning rates per optimizer (None: tuned)."""
    manual = {}
    with st.expander("Learning rates by hand (blank = tuned)"):
        cols = st.columns(4)
        for i, name in enumerate(names):
            manual[name] = cols[i % 4].number_input(
                name,
                1e-8,
                100.0,
                None,
                format="%.2e",
                key=f"optim_lr_{name}",
                persist_state=KEEP,
                placeholder="tuned",
            )
    return manual


def hypers_ui(names: list[str]) -> dict[str, dict[str, float]]:
    """Every exposed hyperparameter of each optimizer, one row per optimizer."""
    hypers = {}
    with st.expander("Hyperparameters"):
        for name in names:
            entry = registry.spec(name)
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
                    key=f"optim_hp_{name}_{h.name}",
                    persist_state=KEEP,
                )
                for i, h in enumerate(entry.hypers)
            }
    return hypers


@st.cache_resource(max_entries=8, show_spinner=False)  # shared, read-only: nothing mutates them
def race_and_figures(_s, formula: str, start, names: tuple, steps, grid, manual, hypers):
    """The 2-D race on surface `_s` (cached by its `formula`, which holds its constants; grid:
    (low, high, points) to tune, None for manual rates) and its figures, computed once per
    settings: a rerun for anything else costs nothing here."""
    lrs = race.lr_grid(*grid) if grid is not None else None
    result = race.run_race(_s, start, list(names), steps, lrs, manual, hypers)
    return result, charts.race_figures(result)


def results_ui(result: race.Race, figures: dict) -> None:
    """The race's charts and table, what diverged, and "Save this race"."""
    if result.starts_at_minimum:
        st.info(
            "The start is a global minimum: every optimizer stays put and the loss is 0 "
            "throughout. Move the start away from the star to see a race."
        )
    st.plotly_chart(figures["paths"], key="optim_paths_chart")
    left, right = st.columns(2)
    left.plotly_chart(figures["loss"], key="optim_loss_chart")
    if "sensitivity" in figures:
        right.plotly_chart(figures["sensitivity"], key="optim_sensitivity_chart")
    else:
        right.info("Turn on tuning to see how each optimizer's final loss depends on its rate.")
    st.dataframe(race.display_rows(result.table()), hide_index=True, key="optim_2d_table")
    if failed := result.diverged():
        st.warning(f"Diverged (stopped and marked): {', '.join(failed)}. Lower their rate by hand.")
    ui.save_run_ui(
        "optimizers",
        lambda: race.run_record(result, figures),
        key="optim_save_2d",
        label="Save this race",
        kept="The race stays on screen.",
    )


def surface_race_ui() -> None:
    """The whole tab: the settings, then the race."""
    s, start, steps = surface_ui()
    names = st.multiselect(
        "Optimizers", NAMES, DEFAULT_OPTIMIZERS, key="optim_2d_optimizers", persist_state=KEEP
    )
    if not names:
        st.info("Pick at least one optimizer to race.")
        return
    grid = grid_ui()
    manual, hypers = manual_rates_ui(names), hypers_ui(names)
    try:
        result, figures = race_and_figures(
            s, s.formula, start, tuple(names), steps, grid, manual, hypers
        )
    except ValueError as err:
        st.error(str(err))
        return
    results_ui(result, figures)
