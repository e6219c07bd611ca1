"""Business case: training and serving cost, API break-even, runway, scaling laws, energy.

Widgets -> input dataclasses -> `core.business.evaluate` -> metrics, plotly charts, exports.
No torch here: the page answers at once.
"""

import pandas as pd
import streamlit as st

import ui
from core import business, charts, costs, units

PRESETS = costs.model_presets()
CUSTOM = "Custom size"
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
    "input_per_m": NUM("Input (USD per 1M)", format="$%.2f"),
    "output_per_m": NUM("Output (USD per 1M)", format="$%.2f"),
    "price_date": "Price date",
    "source": "Source",
}

ui.require_navigation()
st.title("Business case")
st.caption(
    "What a model costs to train and to serve, when self-hosting beats an API, and how long "
    "the money lasts. Edit any input; every figure updates at once and carries its unit."
)
tab_train, tab_serve, tab_startup, tab_scaling, tab_runs, tab_prices = st.tabs(
    [
        "Train",
        "Serve vs API",
        "Startup view",
        "Scaling laws",
        "Checked against published runs",
        "GPU & API prices",
    ]
)


def filled_rows(frame: pd.DataFrame) -> list[dict]:
    """Rows of an edited table, leaving out rows the user added but has not filled in yet."""
    return [
        r for r in frame.to_dict("records") if not all(pd.isna(v) or v == "" for v in r.values())
    ]


def catalog_ui() -> tuple[dict, list[business.ApiPrice]]:
    """Session-editable GPU catalog and API price table; bad rows are reported and skipped."""
    st.markdown(
        "**GPUs** - dense BF16/FP16 tensor-core TFLOP/s (no sparsity), memory in GB, "
        "bandwidth in GB/s, board power in W, on-demand USD per GPU-hour."
    )
    gpus = pd.DataFrame([vars(g) for g in costs.GPU_CATALOG.values()])
    edited = st.data_editor(
        gpus, key="gpu_editor", num_rows="dynamic", hide_index=True, column_config=GPU_COLUMNS
    )
    catalog, problems = {}, []
    for row in filled_rows(edited):
        try:
            catalog[str(row["name"])] = costs.gpu_from_row(row)
        except ValueError as err:
            problems.append(str(err))
    st.markdown("**Hosted APIs** - USD per 1M input and output tokens.")
    apis = pd.DataFrame(costs.read_csv("api_prices.csv"))
    apis[["input_per_m", "output_per_m"]] = apis[["input_per_m", "output_per_m"]].astype(float)
    edited_apis = st.data_editor(
        apis, key="api_editor", num_rows="dynamic", hide_index=True, column_config=API_COLUMNS
    )
    api_list = []
    for row in filled_rows(edited_apis):
        try:
            price_in = costs.non_negative(f"{row['name']} input price", float(row["input_per_m"]))
            price_out = costs.non_negative(
                f"{row['name']} output price", float(row["output_per_m"])
            )
            api_list.append(business.ApiPrice(str(row["name"]), price_in, price_out))
        except (TypeError, ValueError) as err:
            problems.append(str(err))
    for problem in problems:
        st.warning(f"Row skipped: {problem}")
    st.caption("Edits last for this browser session. Prices move monthly: check them.")
    return catalog or dict(costs.GPU_CATALOG), api_list


def price_ui(gpu: costs.GPU, key: str) -> float:
    """Pricing mode and the resulting USD per GPU-hour (editable)."""
    mode = st.radio("Pricing", list(business.PRICING), horizontal=True, key=f"{key}_mode")
    default = round(gpu.price_per_hour * business.PRICING[mode], 3)
    return st.number_input(
        "Price (USD per GPU-hour)",
        0.01,
        1000.0,
        default,
        0.1,
        key=f"{key}_price_{gpu.name}_{mode}",
        help="Spot and reserved assume 0.5x and 0.7x on-demand.",
    )


def train_ui(catalog: dict) -> business.TrainInputs:
    c1, c2, c3 = st.columns(3)
    how = c1.radio(
        "Size the run by",
        ["Parameters and tokens", "Compute budget (Chinchilla-optimal)"],
        key="train_how",
    )
    if how.startswith("Parameters"):
        preset = c1.selectbox("Preset", [CUSTOM, *PRESETS], key="train_preset")
        start_b = 1.0 if preset == CUSTOM else PRESETS[preset].params / 1e9
        suffix = "" if preset == CUSTOM else f"_{preset}"  # a preset resets the two fields
        n = (
            c1.number_input(
                "Parameters (billions)", 0.001, 10_000.0, start_b, key=f"train_params_b{suffix}"
            )
            * 1e9
        )
        d = (
            c1.number_input(
                "Tokens (billions)",
                0.001,
                1e6,
                20.0 * start_b,
                key=f"train_tokens_b{suffix}",
                help="20 per parameter is compute-optimal (Chinchilla).",
            )
            * 1e9
        )
    else:
        budget = c1.number_input(
            "Compute budget (FLOPs)", 1e15, 1e28, 1.2e21, format="%.3e", key="train_budget"
        )
        n, d = costs.chinchilla_optimal(budget)
        c1.caption(f"Compute-optimal: {units.params(n)}, {units.tokens(d)}")
    gpu = gpu_ui(c2, catalog, "train_gpu")
    n_gpus = c2.number_input("GPUs", 1, 100_000, 8, key="train_n_gpus")
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
        seq = e1.number_input("Sequence length (tokens)", 128, 1_000_000, 2048, key="train_seq")
        mb = e2.number_input("Micro-batch per GPU (sequences)", 1, 1024, 1, key="train_mb")
        pue = e3.number_input("PUE", 1.0, 3.0, 1.2, 0.05, key="train_pue")
        grid = e4.number_input("Grid intensity (g CO2e/kWh)", 0.0, 2000.0, 400.0, key="train_grid")
    return business.TrainInputs(n, d, gpu.name, n_gpus, mfu, price, mixed, seq, mb, ckpt, pue, grid)


def gpu_ui(where, catalog: dict, key: str) -> costs.GPU:
    """A GPU picked from the session's catalog (H100-SXM first where it is there)."""
    names = list(catalog)
    index = names.index("H100-SXM") if "H100-SXM" in names else 0
    return catalog[where.selectbox("GPU", names, index=index, key=key)]


def serve_ui(catalog: dict) -> business.ServeInputs:
    c1, c2, c3 = st.columns(3)
    preset = c1.selectbox("Model", [*PRESETS, CUSTOM], index=6, key="serve_model")
    if preset == CUSTOM:
        shape = costs.shape_for(
            c1.number_input("Parameters (billions)", 0.01, 5000.0, 8.0, key="serve_params_b") * 1e9
        )
        c1.caption(
            f"Assumed shape: {shape.layers} layers, {shape.kv_heads} KV heads x {shape.head_dim}"
        )
    else:
        shape = PRESETS[preset]
    precision = c1.selectbox("Weights", list(costs.BYTES_PER_PARAM), index=1, key="serve_precision")
    ctx = c1.number_input(
        "Context per request (tokens)",
        16,
        shape.context,
        min(4096, shape.context),
        key=f"serve_ctx_{preset}",
        help=f"Up to the model's window of {shape.context:,} tokens.",
    )
    reqs = c2.number_input("Requests per day", 1, 10**10, 50_000, key="serve_requests")
    tin = c2.number_input("Input tokens per request", 0, 1_000_000, 500, key="serve_in")
    tout = c2.number_input("Output tokens per request", 1, 1_000_000, 300, key="serve_out")
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
        measured = measured_speed_ui()
    return business.ServeInputs(
        shape, precision, ctx, reqs, tin, tout, gpu.name, price, util, measured
    )


def measured_speed_ui() -> float | None:
    """A speed measured in this session (Chat page) in place of the bandwidth bound."""
    found = {
        f"{m.label}: {m.tokens_per_s:.1f} tokens/s on {m.hardware}": m for m in ui.measurements()
    }
    if not found:
        st.caption("Generate on the Chat page and its measured tokens/s can stand in here.")
        return None
    choice = st.selectbox("Decode speed", ["Bandwidth bound (formula)", *found], key="serve_speed")
    return found[choice].tokens_per_s if choice in found else None


def startup_ui() -> business.StartupInputs:
    c1, c2, c3 = st.columns(3)
    cash = c1.number_input("Cash in the bank (USD)", 0.0, 1e12, 1_000_000.0, 100_000.0, key="cash")
    retrains = c1.number_input("Training runs per year", 0.0, 1000.0, 4.0, key="retrains")
    other = c2.number_input(
        "Other monthly costs (USD)",
        0.0,
        1e10,
        50_000.0,
        1000.0,
        key="other",
        help="Salaries, rent: everything that is not compute.",
    )
    users = c3.number_input("Paying users", 1, 10**10, 5_000, key="users")
    price = c3.number_input("Price per user (USD/month)", 0.01, 1e6, 20.0, key="price_user")
    return business.StartupInputs(cash, retrains, other, users, price)


with tab_prices:
    catalog, apis = catalog_ui()
with tab_train:
    train = train_ui(catalog)
with tab_serve:
    serve = serve_ui(catalog)
with tab_startup:
    startup = startup_ui()

try:
    report = business.evaluate(train, serve, startup, apis, catalog)
except ValueError as err:
    st.error(f"Cannot compute this case: {err}")
    st.stop()

with tab_train:
    t, m = report.train, report.memory
    cols = st.columns(4)
    cols[0].metric("Training cost", units.usd(t.usd))
    cols[1].metric("GPU time", units.hours(t.gpu_hours))
    cols[2].metric(f"Wall clock on {train.n_gpus} GPUs", units.days(t.wall_days))
    cols[3].metric("Compute", units.flops(t.flops))
    cols = st.columns(4)
    cols[0].metric("Energy", f"{units.compact(t.kwh)} kWh")
    cols[1].metric("Emissions", f"{units.compact(t.co2_kg)} kg CO2e")
    cols[2].metric("Training memory", units.gigabytes(m.total))
    plain = f"{report.gpus_plain} GPU" if report.gpus_plain else "does not fit one GPU"
    sharded = f"{report.gpus_sharded} GPU(s)" if report.gpus_sharded else "never (activations)"
    cols[3].metric("GPUs to fit (ZeRO-3)", sharded, help=f"Without sharding: {plain}.")
    left, right = st.columns(2)
    parts = {
        "Weights": m.weights,
        "Gradients": m.gradients,
        "Adam states": m.optimizer,
        "Activations": m.activations,
    }
    left.plotly_chart(
        charts.bars({k: v / 1e9 for k, v in parts.items()}, "Training memory per replica", "GB"),
        key="memory_chart",
    )
    curve = business.size_curve(train, catalog)
    right.plotly_chart(charts.cost_vs_size(curve, train.params, t.usd, train.gpu), key="size_chart")

with tab_serve:
    s = report.serve
    cols = st.columns(4)
    cols[0].metric("Monthly serving cost", units.usd(s.monthly_usd))
    cols[1].metric("Cost per 1M tokens", units.usd(s.usd_per_m_tokens))
    cols[2].metric(
        "GPUs for the load",
        f"{s.gpus}",
        help=f"{s.replicas} replica(s) x {s.gpus_per_replica} GPU(s) each, at "
        f"{units.percent(serve.utilisation)} average utilisation.",
    )
    cols[3].metric("Concurrent requests per replica", f"{s.max_batch}")
    cols = st.columns(4)
    cols[0].metric("Weights", units.gigabytes(s.weight_bytes))
    cols[1].metric("KV cache per request", units.gigabytes(s.kv_bytes_per_request))
    cols[2].metric(
        "Decode at batch 1",
        units.rate(s.tokens_per_s_batch1, "tokens/s"),
        help="Memory-bandwidth bound: every weight is read once per token.",
    )
    cols[3].metric(f"Decode at batch {s.max_batch}", units.rate(s.tokens_per_s_full, "tokens/s"))
    st.dataframe(business.api_table(report), hide_index=True)
    curve = business.volume_curve(serve, s, apis)
    break_evens = {c.api.name: c.break_even_requests_per_day for c in report.apis}
    st.plotly_chart(
        charts.cost_vs_volume(curve, break_evens, serve.requests_per_day), key="volume_chart"
    )

with tab_startup:
    u = report.startup
    cols = st.columns(4)
    cols[0].metric("Monthly burn", units.usd(u.monthly_burn))
    cols[1].metric("Runway", f"{u.runway_months:.3g} months")
    cols[2].metric("Compute cost per user", f"{units.usd(u.cost_per_user)}/month")
    cols[3].metric("Gross margin per user", units.percent(u.gross_margin))
    burn = business.burn_breakdown(report, startup)
    st.plotly_chart(charts.bars(burn, "Monthly burn", "USD per month"), key="burn_chart")

with tab_scaling:
    cols = st.columns(3)
    cols[0].metric("Predicted loss of this run", f"{report.chinchilla_loss:.3f} nats/token")
    cols[1].metric("Compute-optimal size", units.params(report.optimal_params))
    cols[2].metric("Compute-optimal data", units.tokens(report.optimal_tokens))
    curve = business.isoflop_curve(report.train.flops)
    optimum = (
        report.optimal_params,
        costs.chinchilla_loss(report.optimal_params, report.optimal_tokens),
    )
    run = (train.params, report.chinchilla_loss)
    st.plotly_chart(charts.isoflop(curve, optimum, run, report.train.flops), key="isoflop_chart")
    st.caption("L(N, D) = 1.69 + 406.4 / N^0.34 + 410.7 / D^0.28 (Hoffmann et al. 2022).")

with tab_runs:
    summary = business.summarise_runs(report.runs)
    st.markdown(
        f"At **MFU {train.mfu:.2f}** (set on the Train tab) the GPU-hour estimates land within "
        f"**{units.percent(summary.worst_hours_error)}** of what was reported (median "
        f"{units.percent(summary.median_hours_error)}). The furthest is {summary.worst_model}, "
        f"whose reported hours imply an MFU of {summary.worst_implied_mfu:.2f}. 6ND matches "
        f"the FLOPs papers report within **{units.percent(summary.worst_flops_error)}**."
    )
    st.dataframe(business.runs_table(report.runs), hide_index=True)

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
