"""The Serve vs API tab: the served model, its load and hardware (or a speed measured in
this session), and its figures: serving cost, GPUs, speed, and each API's break-even."""

from __future__ import annotations

import streamlit as st

import ui
from core import units
from core.economics import charts, costs, figures
from core.economics.case import Case, Report, ServeInputs
from core.economics.catalog import GPU, ModelShape, model_presets
from ui.case.widgets import gpu_ui, metrics_ui, price_ui

DEFAULT = ServeInputs()  # what the widgets open on
PRESETS = model_presets()
PRECISIONS = list(costs.BYTES_PER_PARAM)
CUSTOM = "Custom size"
BOUND = "Bandwidth bound (formula)"
CUSTOM_B = 8.0  # billions of parameters a custom model opens on
REQUESTS_PER_USER = 10.0  # per user per day: the default 425 users make DEFAULT's load


def model_ui(where) -> ModelShape:
    """A preset model shape, or one assumed from a parameter count."""
    names = [*PRESETS, CUSTOM]
    index = names.index(DEFAULT.shape.name)
    preset = where.selectbox("Model", names, index=index, key="case_serve_model")
    if preset != CUSTOM:
        return PRESETS[preset]
    billions = where.number_input(
        "Parameters (billions)", value=CUSTOM_B, key="case_serve_params_b"
    )
    shape = costs.shape_for(billions * 1e9) if billions > 0 else costs.shape_for(CUSTOM_B * 1e9)
    where.caption(
        f"Assumed shape: {shape.layers} layers, {shape.kv_heads} KV heads x {shape.head_dim}"
    )
    return shape


def load_ui(where, users: float) -> dict[str, float]:
    """The daily load (paying and pilot users x requests each), its tokens and the
    utilisation aimed at (ServeInputs fields)."""
    per_user = where.number_input(
        "Requests per user per day",
        value=REQUESTS_PER_USER,
        key="case_serve_requests_per_user",
    )
    where.caption(
        f"x {units.compact(users)} paying and pilot users (Startup view) = "
        f"**{units.compact(users * per_user)} requests/day**: serving grows with users."
    )
    tokens_in = where.number_input(
        "Input tokens per request",
        value=DEFAULT.input_tokens,
        step=1,
        key="case_serve_input_tokens",
    )
    tokens_out = where.number_input(
        "Output tokens per request",
        value=DEFAULT.output_tokens,
        step=1,
        key="case_serve_output_tokens",
    )
    utilisation = where.slider(
        "Average utilisation",
        0.05,
        1.0,
        DEFAULT.utilisation,
        0.05,
        key="case_serve_utilisation",
        help="Share of capacity in use on average; the rest absorbs peaks.",
    )
    return {
        "requests_per_day": users * per_user,
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "utilisation": utilisation,
    }


def measured_speed_ui(found: list, shape: ModelShape) -> float | None:
    """A speed measured in this session (Chat page, a server load test) in place of the
    bandwidth bound, with a warning that it belongs to the model it was measured on."""
    options = {
        f"Measured: {m.label}, {units.rate(m.tokens_per_s, 'tokens/s')} on {m.hardware}": m
        for m in found
    }
    if not options:
        st.caption("Measure a speed on the Chat page (or a server load test) to use it here.")
        return None
    choice = st.selectbox("Decode speed", [BOUND, *options], key="case_serve_speed")
    if choice == BOUND:
        return None
    m = options[choice]
    st.warning(figures.measured_speed_warning(m.label, getattr(m, "params", None), shape))
    return m.tokens_per_s


NO_SAVING = "None (the model as it is)"


def saving_ui(found: list) -> dict:
    """A compression measured in this session (Compress page) applied to serving: its decode
    speed-up and weight ratio (ServeInputs fields), labelled with method and hardware."""
    options = {f"{s.method} on {s.hardware}: {s.speedup:.2f}x decode ({s.label})": s for s in found}
    if not options:
        return {}
    # the newest saving is applied at first: it was measured to be priced here
    choice = st.selectbox(
        "Compression", [NO_SAVING, *options], index=len(options), key="case_serve_saving"
    )
    if choice == NO_SAVING:
        return {}
    s = options[choice]
    st.caption(
        f"{s.label}, measured on {s.hardware}: {s.speedup:.2f}x the speed, weights "
        f"x{s.memory_ratio:.2f}, {s.quality}. Applied as ratios to this model and GPU: a ratio "
        "measured on another model or device is an estimate here, not a measurement."
    )
    return {
        "saving": f"{s.method} on {s.hardware}",
        "speedup": s.speedup,
        "memory_ratio": s.memory_ratio,
    }


def inputs_ui(gpus: dict[str, GPU], users: float) -> ServeInputs:
    """Serving: the model and its context, the load `users` make, the GPUs and their price."""
    c1, c2, c3 = st.columns(3)
    shape = model_ui(c1)
    index = PRECISIONS.index(DEFAULT.precision)
    precision = c1.selectbox("Weights", PRECISIONS, index=index, key="case_serve_precision")
    context = c1.number_input(
        "Context per request (tokens)",
        value=min(DEFAULT.context_len, shape.context),
        step=1,
        key=f"case_serve_context_{shape.name}",
        help=f"Up to the model's window of {shape.context:,} tokens.",
    )
    load = load_ui(c2, users)
    with c3:
        gpu = gpu_ui(st, gpus, "case_serve_gpu", DEFAULT.gpu)
        price = price_ui(gpu, "case_serve")
        measured = measured_speed_ui(ui.measurements(), shape)
        saving = saving_ui(ui.savings())
    return ServeInputs(
        shape=shape,
        precision=precision,
        context_len=context,
        gpu=gpu.name,
        price_per_hour=price,
        measured_tokens_per_s=measured,
        **load,
        **saving,
    )


def figures_ui(case: Case, report: Report) -> None:
    """Serving cost, GPUs and speed; each API against self-hosting, in a table and a chart."""
    serve = case.serve
    metrics_ui(figures.serve_figures(serve, report))
    if serve.measured_tokens_per_s is not None:
        st.caption(
            "The measured speed stands in at every batch size, so batch 1 and full batch show "
            "the same figure: a server that batches does better (measure it under load)."
        )
    if serve.saving:
        st.caption(figures.saving_text(case, report))
    st.dataframe(figures.api_table(report), hide_index=True)
    curve = figures.volume_curve(serve, report.serve, case.apis)
    break_evens = {c.api.name: c.break_even_requests_per_day for c in report.apis}
    st.plotly_chart(
        charts.cost_vs_volume(curve, break_evens, serve.requests_per_day),
        key="case_volume_chart",
    )
