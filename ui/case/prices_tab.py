"""The Prices tab: the session's GPU and hosted-API price tables in editable grids, kept in
the session while the tab is closed, read back into a GPU catalog and API prices."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.economics import catalog

# session keys: the tables the grids open on, as last edited, and whether they were drawn
PRICES_START, PRICES_EDITED, PRICES_DRAWN = (
    "case_prices_start",
    "case_prices_edited",
    "case_prices_drawn",
)
NUM = st.column_config.NumberColumn
GPU_COLUMNS = {
    "name": "GPU",
    "tflops": NUM("TFLOP/s (dense)"),
    "memory_gb": NUM("Memory (GB)"),
    "bandwidth_gbs": NUM("Bandwidth (GB/s)"),
    "power_w": NUM("Power (W)"),
    "price_per_hour": NUM("USD per GPU-hour", format="$%.2f"),
    "price_date": "Price date",
    "source": "Source",
}
API_COLUMNS = {
    "name": "API",
    "input_per_m": NUM("Input (USD per 1M)", format="$%.3g"),
    "output_per_m": NUM("Output (USD per 1M)", format="$%.3g"),
    "price_date": "Price date",
    "source": "Source",
}
GPU_TITLE = (
    "**GPUs** - dense BF16/FP16 tensor-core TFLOP/s (no sparsity), memory in GB, "
    "bandwidth in GB/s, board power in W, on-demand USD per GPU-hour."
)
API_TITLE = "**Hosted APIs** - list prices in USD per 1M input and output tokens."
Tables = tuple[pd.DataFrame, pd.DataFrame]  # (GPUs, APIs)


def filled_rows(frame: pd.DataFrame) -> list[dict]:
    """Rows of an edited table, leaving out rows the user added but has not filled in yet."""
    return [
        r for r in frame.to_dict("records") if not all(pd.isna(v) or v == "" for v in r.values())
    ]


def shipped_tables() -> Tables:
    """The GPU and API price tables as the app ships them."""
    gpus = pd.DataFrame([vars(g) for g in catalog.GPU_CATALOG.values()])
    apis = pd.DataFrame(catalog.read_csv("api_prices.csv"))
    apis[["input_per_m", "output_per_m"]] = apis[["input_per_m", "output_per_m"]].astype(float)
    return gpus, apis


def grid_ui(title: str, table: pd.DataFrame, key: str, columns: dict) -> pd.DataFrame:
    """One editable price table under its title; rows can be added and deleted."""
    st.markdown(title)
    edited = st.data_editor(
        table, key=key, num_rows="dynamic", hide_index=True, column_config=columns
    )
    # a deleted row leaves a gap in the index, and an editor drawn on such a table shows
    # its index as a required column
    return edited.reset_index(drop=True)


def grids_ui(start: Tables) -> Tables:
    """The two editable grids, opened on `start`; the tables as edited."""
    gpus = grid_ui(GPU_TITLE, start[0], "case_gpu_editor", GPU_COLUMNS)
    apis = grid_ui(API_TITLE, start[1], "case_api_editor", API_COLUMNS)
    st.caption("Edits last for this browser session. Prices move monthly: check them.")
    return gpus, apis


def price_tables_ui(shown: bool) -> Tables:
    """The session's GPU and API tables, editable while the Prices tab is open.

    Their grids are the heaviest part of the page for a browser, so they are drawn only on
    their own tab. A closed tab's editors keep no state, so the edited tables are kept here:
    the editors open on the tables as last edited and stay on them while the tab is open
    (new data under the same key would redraw the grid on every edit). The first run after
    the tab closes draws them once more, hidden: an edit whose own run was cut short by the
    tab switch still reaches the tables."""
    state = st.session_state
    start = state.get(PRICES_START) or shipped_tables()
    if not shown and not state.get(PRICES_DRAWN):
        state[PRICES_START] = state.get(PRICES_EDITED, start)  # the next open starts here
        return state[PRICES_START]
    state[PRICES_DRAWN] = shown  # set before drawing: a run can stop at any element
    edited = grids_ui(start)
    state[PRICES_START], state[PRICES_EDITED] = (start if shown else edited), edited
    return edited


def catalog_ui(shown: bool) -> tuple[dict[str, catalog.GPU], tuple[catalog.ApiPrice, ...]]:
    """Session-editable GPU catalog and API price table; bad rows are reported and skipped."""
    gpus, apis = price_tables_ui(shown)
    gpu_table, problems = catalog.gpus_from_rows(filled_rows(gpus))
    api_list, api_problems = catalog.apis_from_rows(filled_rows(apis))
    for problem in problems + api_problems:
        st.warning(f"Row skipped: {problem}")
    return gpu_table or dict(catalog.GPU_CATALOG), tuple(api_list)
