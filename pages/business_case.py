"""Business case: training and serving cost, API break-even, runway, scaling laws, energy.

Widgets -> input dataclasses -> `business.evaluate` -> metrics, plotly charts, exports.
No torch here: the page answers at once. Inputs have no hidden bounds: a value the
calculator cannot use is named in a message and no figure is drawn from it.
"""

import pandas as pd
import streamlit as st

import ui
from core import units
from core.economics import business, charts, costs

PRESETS = costs.model_presets()
CUSTOM = "Custom size"
DEFAULT_GPU = "H100-SXM"
DEFAULT_SERVE_MODEL = "8B class (Llama 3 8B)"
DEFAULT_PRECISION = "bf16"
BOUND = "Bandwidth bound (formula)"
TABS = ["Train", "Serve vs API", "Startup view", "Scaling laws", "Published runs", "Prices"]
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


def filled_rows(frame: pd.DataFrame) -> list[dict]:
    """Rows of an edited table, leaving out rows the user added but has not filled in yet."""
    return [
        r for r in frame.to_dict("records") if not all(pd.isna(v) or v == "" for v in r.values())
    ]


def shipped_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The GPU and API price tables as the app ships them."""
    gpus = pd.DataFrame([vars(g) for g in costs.GPU_CATALOG.values()])
    apis = pd.DataFrame(costs.read_csv("api_prices.csv"))
    apis[["input_per_m", "output_per_m"]] = apis[["input_per_m", "output_per_m"]].astype(float)
    return gpus, apis


def price_tables_ui(shown: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
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
    st.markdown(
        "**GPUs** - dense BF16/FP16 tensor-core TFLOP/s (no sparsity), memory in GB, "
        "bandwidth in GB/s, board power in W, on-demand USD per GPU-hour."
    )
    gpus = st.data_editor(
        start[0], key="gpu_editor", num_rows="dynamic", hide_index=True, column_config=GPU_COLUMNS
    )
    st.markdown("**Hosted APIs** - list prices in USD per 1M input and output tokens.")
    apis = st.data_editor(
        start[1], key="api_editor", num_rows="dynamic", hide_index=True, column_config=API_COLUMNS
    )
    st.caption("Edits last for this browser session. Prices move monthly: check them.")
    # a deleted row leaves a gap in the index, and an editor drawn on such a table shows
    # its index as a required column
    edited = (gpus.reset_index(drop=True), apis.reset_index(drop=True))
    state[PRICES_START], state[PRICES_EDITED] = (start if shown else edited), edited
    return edited


def catalog_ui(shown: bool) -> tuple[dict, list[business.ApiPrice]]:
    """Session-editable GPU catalog and API price table; bad rows are reported and skipped."""
    gpus, apis = price_tables_ui(shown)
    catalog, problems = business.gpus_from_rows(filled_rows(gpus))
    api_list, api_problems = business.apis_from_rows(filled_rows(apis))
    for problem in problems + api_problems:
        st.warning(f"Row skipped: {problem}")
    return catalog or dict(costs.GPU_CATALOG), api_list


def gpu_ui(where, catalog: dict, key: str) -> costs.GPU:
    """A GPU picked from the session's catalog (H100-SXM first where it is there)."""
    names = list(catalog)
    index = names.index(DEFAULT_GPU) if DEFAULT_GPU in names else 0
    return catalog[where.selectbox("GPU", names, index=index, key=key)]


def price_ui(gpu: costs.GPU, key: str) -> float:
    """Pricing mode and the resulting USD per GPU-hour (editable)."""
    mode = st.radio("Pricing", list(business.PRICING), horizontal=True, key=f"{key}_mode")
    return st.number_input(
        "Price (USD per GPU-hour)",
        value=round(gpu.price_per_hour * business.PRICING[mode], 3),
        step=0.1,
        # the catalog's price is in the key: a number_input's identity is its key alone, so
        # without it an edit on the Prices tab would not reach a field already drawn
        key=f"{key}_price_{gpu.name}_{mode}_{gpu.price_per_hour}",
        help="Spot and reserved assume 0.5x and 0.7x on-demand.",
    )


def run_size_ui(where) -> tuple[float, float]:
    """(parameters, tokens) from a preset, two numbers, or a compute budget."""
    how = where.radio(
        "Size the run by",
        ["Parameters and tokens", "Compute budget (Chinchilla-optimal)"],
        key="train_how",
    )
    if how != "Parameters and tokens":
        budget = where.number_input(
            "Compute budget (FLOPs)", value=1.2e21, format="%.3e", key="train_budget"
        )
        n, d = costs.chinchilla_optimal(budget) if budget > 0 else (budget, budget)
        where.caption(f"20 tokens per parameter: {units.params(n)}, {units.tokens(d)}")
        return n, d
    preset = where.selectbox("Preset", [CUSTOM, *PRESETS], key="train_preset")
    start_b = 1.0 if preset == CUSTOM else PRESETS[preset].params / 1e9
    suffix = "" if preset == CUSTOM else f"_{preset}"  # a preset resets the two fields
    n = where.number_input("Parameters (billions)", value=start_b, key=f"train_params_b{suffix}")
    d = where.number_input(
        "Tokens (billions)",
        value=20.0 * start_b,
        key=f"train_tokens_b{suffix}",
        help="20 per parameter is compute-optimal (Chinchilla).",
    )
    return n * 1e9, d * 1e9


def train_ui(catalog: dict) -> business.TrainInputs:
    c1, c2, c3 = st.columns(3)
    n, d = run_size_ui(c1)
    gpu = gpu_ui(c2, catalog, "train_gpu")
    n_gpus = c2.number_input("GPUs", value=8, step=1, key="train_n_gpus")
    mfu = c2.slider(
        "MFU (model FLOPs utilisation)",
        0.05,
        1.0,
        0.40,
        0.01,
        key="train_mfu",
        help="Share of the GPU's peak the run really uses. Large published runs "
        "report 0.35-0.55; small or poorly tuned jobs get less.",
    )
    with c3:
        price = price_ui(gpu, "train")
        mixed = st.toggle("Mixed precision (bf16 + fp32 master)", True, key="train_mixed")
        ckpt = st.toggle("Activation checkpointing", False, key="train_ckpt")
    with st.expander("Sequence, energy and carbon"):
        e1, e2, e3, e4 = st.columns(4)
        seq = e1.number_input("Sequence length (tokens)", value=2048, step=1, key="train_seq")
        mb = e2.number_input("Micro-batch per GPU (sequences)", value=1, step=1, key="train_mb")
        pue = e3.number_input("PUE", value=1.2, step=0.05, key="train_pue")
        grid = e4.number_input("Grid intensity (g CO2e/kWh)", value=400.0, key="train_grid")
    return business.TrainInputs(
        params=n,
        tokens=d,
        gpu=gpu.name,
        n_gpus=n_gpus,
        mfu=mfu,
        price_per_hour=price,
        mixed_precision=mixed,
        seq_len=seq,
        micro_batch=mb,
        checkpointing=ckpt,
        pue=pue,
        grid_g_per_kwh=grid,
    )


def serve_model_ui(where) -> costs.ModelShape:
    """A preset model shape, or one assumed from a parameter count."""
    names = [*PRESETS, CUSTOM]
    preset = where.selectbox(
        "Model", names, index=names.index(DEFAULT_SERVE_MODEL), key="serve_model"
    )
    if preset != CUSTOM:
        return PRESETS[preset]
    billions = where.number_input("Parameters (billions)", value=8.0, key="serve_params_b")
    shape = costs.shape_for(billions * 1e9) if billions > 0 else costs.shape_for(8e9)
    where.caption(
        f"Assumed shape: {shape.layers} layers, {shape.kv_heads} KV heads x {shape.head_dim}"
    )
    return shape


def serve_ui(catalog: dict, users: float) -> business.ServeInputs:
    c1, c2, c3 = st.columns(3)
    shape = serve_model_ui(c1)
    precisions = list(costs.BYTES_PER_PARAM)
    precision = c1.selectbox(
        "Weights", precisions, index=precisions.index(DEFAULT_PRECISION), key="serve_precision"
    )
    ctx = c1.number_input(
        "Context per request (tokens)",
        value=min(4096, shape.context),
        step=1,
        key=f"serve_ctx_{shape.name}",
        help=f"Up to the model's window of {shape.context:,} tokens.",
    )
    per_user = c2.number_input("Requests per paying user per day", value=10.0, key="serve_per_user")
    c2.caption(
        f"x {units.compact(users)} paying users (Startup view) = "
        f"**{units.compact(users * per_user)} requests/day**: serving grows with users."
    )
    tin = c2.number_input("Input tokens per request", value=500, step=1, key="serve_in")
    tout = c2.number_input("Output tokens per request", value=300, step=1, key="serve_out")
    util = c2.slider(
        "Average utilisation",
        0.05,
        1.0,
        0.5,
        0.05,
        key="serve_util",
        help="Share of capacity in use on average; the rest absorbs peaks.",
    )
    with c3:
        gpu = gpu_ui(st, catalog, "serve_gpu")
        price = price_ui(gpu, "serve")
        measured = measured_speed_ui(ui.measurements(), shape)
    return business.ServeInputs(
        shape=shape,
        precision=precision,
        context_len=ctx,
        requests_per_day=users * per_user,
        input_tokens=tin,
        output_tokens=tout,
        gpu=gpu.name,
        price_per_hour=price,
        utilisation=util,
        measured_tokens_per_s=measured,
    )


def measured_speed_ui(found: list, shape: costs.ModelShape) -> float | None:
    """A speed measured in this session (Chat page, a server load test) in place of the
    bandwidth bound, with a warning that it belongs to the model it was measured on."""
    options = {
        f"Measured: {m.label}, {units.rate(m.tokens_per_s, 'tokens/s')} on {m.hardware}": m
        for m in found
    }
    if not options:
        st.caption("Measure a speed on the Chat page (or a server load test) to use it here.")
        return None
    choice = st.selectbox("Decode speed", [BOUND, *options], key="serve_speed")
    if choice == BOUND:
        return None
    m = options[choice]
    st.warning(business.measured_speed_warning(m.label, getattr(m, "params", None), shape))
    return m.tokens_per_s


def startup_ui() -> business.StartupInputs:
    c1, c2, c3 = st.columns(3)
    cash = c1.number_input("Cash in the bank (USD)", value=1_000_000.0, step=100_000.0, key="cash")
    retrains = c1.number_input("Training runs per year", value=4.0, key="retrains")
    other = c2.number_input(
        "Other monthly costs (USD)",
        value=50_000.0,
        step=1000.0,
        key="other",
        help="Salaries, rent: everything that is not compute.",
    )
    growth = c2.number_input("User growth per month (%)", value=5.0, step=1.0, key="growth")
    users = c3.number_input("Paying users", value=5_000, step=100, key="users")
    price = c3.number_input("Price per user (USD/month)", value=20.0, key="price_user")
    return business.StartupInputs(
        cash=cash,
        retrains_per_year=retrains,
        other_monthly=other,
        users=users,
        price_per_user=price,
        monthly_growth=growth / 100,
    )


def metrics_ui(figures: list[tuple[str, str, str]]) -> None:
    """One row of st.metric per four (label, value, help) entries."""
    for start in range(0, len(figures), 4):
        cols = st.columns(4)
        for col, (label, value, help_text) in zip(cols, figures[start : start + 4], strict=False):
            col.metric(label, value, help=help_text or None)


def train_tab(train: business.TrainInputs, report: business.Report, catalog: dict) -> None:
    metrics_ui(business.train_figures(train, report))
    left, right = st.columns(2)
    left.plotly_chart(
        charts.bars(business.memory_parts(report), "Training memory per replica", "GB"),
        key="memory_chart",
    )
    curve = business.size_curve(train, catalog)
    right.plotly_chart(
        charts.cost_vs_size(curve, train.params, report.train.usd, train.gpu), key="size_chart"
    )


def serve_tab(serve: business.ServeInputs, report: business.Report, apis: list) -> None:
    metrics_ui(business.serve_figures(serve, report))
    if serve.measured_tokens_per_s is not None:
        st.caption(
            "The measured speed stands in at every batch size, so batch 1 and full batch show "
            "the same figure: a server that batches does better (measure it under load)."
        )
    st.dataframe(business.api_table(report), hide_index=True)
    curve = business.volume_curve(serve, report.serve, apis)
    break_evens = {c.api.name: c.break_even_requests_per_day for c in report.apis}
    st.plotly_chart(
        charts.cost_vs_volume(curve, break_evens, serve.requests_per_day), key="volume_chart"
    )


def startup_tab(startup: business.StartupInputs, report: business.Report) -> None:
    metrics_ui(business.startup_figures(startup, report))
    verdict = business.verdict(startup, report)
    (st.success if report.startup.default_alive else st.error)(verdict)
    left, right = st.columns(2)
    left.plotly_chart(
        charts.bars(business.burn_breakdown(report, startup), "This month", "USD per month"),
        key="burn_chart",
    )
    right.plotly_chart(charts.cash_curve(report.startup.cash_by_month), key="cash_chart")


def scaling_tab(train: business.TrainInputs, report: business.Report) -> None:
    metrics_ui(business.scaling_figures(report))
    curve = business.isoflop_curve(report.train.flops)
    optimum = (
        report.optimal_params,
        costs.chinchilla_loss(report.optimal_params, report.optimal_tokens),
    )
    run = (train.params, report.chinchilla_loss)
    st.plotly_chart(charts.isoflop(curve, optimum, run, report.train.flops), key="isoflop_chart")
    st.caption(
        "L(N, D) = 1.69 + 406.4 / N^0.34 + 410.7 / D^0.28 (Hoffmann et al. 2022). The lowest "
        "point of this curve is the loss-optimal size; the 20-tokens-per-parameter rule of "
        "thumb lands near it."
    )


def runs_tab(train: business.TrainInputs, report: business.Report) -> None:
    st.markdown(business.runs_sentence(train, report))
    st.dataframe(business.runs_table(report.runs), hide_index=True)


def downloads_ui(train, serve, startup, apis, report) -> None:
    rows = business.result_rows(train, serve, startup, apis, report)
    d1, d2 = st.columns(2)
    d1.download_button(
        "Download inputs and results (CSV)",
        business.to_csv(rows),
        "business_case.csv",
        "text/csv",
        key="download_csv",
    )
    d2.download_button(
        "Download one-page summary (Markdown)",
        business.summary_markdown(train, serve, startup, report),
        "business_case.md",
        "text/markdown",
        key="download_md",
    )


def save_case_ui(train, serve, startup, apis, report) -> None:
    """'Save this case' into the run store; a store that fails says why, nothing is lost."""
    if not st.button("Save this case", key="save_case"):
        return
    try:
        run_id = business.record_case(train, serve, startup, apis, report)
    except Exception as err:  # the store's own message; the case stays on screen
        st.warning(f"Not saved: {err} The figures above are unchanged; try the downloads.")
        return
    st.success(f"Saved as run {run_id} (see the Runs page).")


ui.require_navigation()
st.title("Business case")
st.caption(
    "What a model costs to train and to serve, when self-hosting beats an API, and how long "
    "the money lasts. Edit any input; every figure updates at once and carries its unit."
)
problem = st.container()
# Only the open tab's figures are drawn (a tab switch reruns the page): six plotly charts
# and two tables in closed tabs made the page's first open and every edit wait for them.
# Every input but the price tables is drawn on every run, so the figures of every tab are
# computed from the same inputs as before.
tab = dict(zip(TABS, st.tabs(TABS, key="case_tab", on_change="rerun"), strict=True))
with tab["Prices"]:
    catalog, apis = catalog_ui(tab["Prices"].open)
with tab["Startup view"]:
    startup = startup_ui()
with tab["Train"]:
    train = train_ui(catalog)
with tab["Serve vs API"]:
    serve = serve_ui(catalog, startup.users)
try:
    report = business.evaluate(train, serve, startup, apis, catalog)
except ValueError as err:
    problem.error(f"Input refused: {err} No figures are shown until it is fixed.")
    st.stop()
figures = {
    "Train": lambda: train_tab(train, report, catalog),
    "Serve vs API": lambda: serve_tab(serve, report, apis),
    "Startup view": lambda: startup_tab(startup, report),
    "Scaling laws": lambda: scaling_tab(train, report),
    "Published runs": lambda: runs_tab(train, report),
}
for name, draw in figures.items():
    if tab[name].open:
        with tab[name]:
            draw()
downloads_ui(train, serve, startup, apis, report)
save_case_ui(train, serve, startup, apis, report)
