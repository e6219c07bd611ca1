"""The Train tab: the training run's inputs (size, GPUs, price, precision, energy) and its
figures (cost, time, memory, the cost of other sizes)."""

from __future__ import annotations

import streamlit as st

from core import units
from core.economics import charts, costs, figures
from core.economics.case import Case, Report, TrainInputs
from core.economics.catalog import GPU, model_presets
from ui.case.widgets import gpu_ui, metrics_ui, price_ui

DEFAULT = TrainInputs()  # what the widgets open on
PRESETS = model_presets()
CUSTOM = "Custom size"
BY_SIZE, BY_BUDGET = "Parameters and tokens", "Compute budget (Chinchilla-optimal)"
BUDGET_FLOPS = 1.2e21  # the compute budget's field opens on it


def run_size_ui(where) -> tuple[float, float]:
    """(parameters, tokens) from a preset, two numbers, or a compute budget."""
    how = where.radio("Size the run by", [BY_SIZE, BY_BUDGET], key="case_train_size_by")
    if how != BY_SIZE:
        budget = where.number_input(
            "Compute budget (FLOPs)", value=BUDGET_FLOPS, format="%.3e", key="case_train_budget"
        )
        n, d = costs.chinchilla_optimal(budget) if budget > 0 else (budget, budget)
        where.caption(f"20 tokens per parameter: {units.params(n)}, {units.tokens(d)}")
        return n, d
    preset = where.selectbox("Preset", [CUSTOM, *PRESETS], key="case_train_preset")
    start_b = (DEFAULT.params if preset == CUSTOM else PRESETS[preset].params) / 1e9
    suffix = "" if preset == CUSTOM else f"_{preset}"  # a preset resets the two fields
    n = where.number_input(
        "Parameters (billions)", value=start_b, key=f"case_train_params_b{suffix}"
    )
    d = where.number_input(
        "Tokens (billions)",
        value=costs.TOKENS_PER_PARAM * start_b,
        key=f"case_train_tokens_b{suffix}",
        help="20 per parameter is compute-optimal (Chinchilla).",
    )
    return n * 1e9, d * 1e9


def details_ui() -> dict[str, float]:
    """Sequence length, micro-batch, PUE and grid intensity, folded away (TrainInputs fields)."""
    with st.expander("Sequence, energy and carbon"):
        e1, e2, e3, e4 = st.columns(4)
        seq = e1.number_input(
            "Sequence length (tokens)", value=DEFAULT.seq_len, step=1, key="case_train_seq_len"
        )
        micro_batch = e2.number_input(
            "Micro-batch per GPU (sequences)",
            value=DEFAULT.micro_batch,
            step=1,
            key="case_train_micro_batch",
        )
        pue = e3.number_input("PUE", value=DEFAULT.pue, step=0.05, key="case_train_pue")
        grid = e4.number_input(
            "Grid intensity (g CO2e/kWh)", value=DEFAULT.grid_g_per_kwh, key="case_train_grid"
        )
    return {"seq_len": seq, "micro_batch": micro_batch, "pue": pue, "grid_g_per_kwh": grid}


def inputs_ui(gpus: dict[str, GPU]) -> TrainInputs:
    """The training run: its size, its GPUs and their price, its precision and energy."""
    c1, c2, c3 = st.columns(3)
    n, d = run_size_ui(c1)
    gpu = gpu_ui(c2, gpus, "case_train_gpu", DEFAULT.gpu)
    n_gpus = c2.number_input("GPUs", value=DEFAULT.n_gpus, step=1, key="case_train_n_gpus")
    mfu = c2.slider(
        "MFU (model FLOPs utilisation)",
        0.05,
        1.0,
        DEFAULT.mfu,
        0.01,
        key="case_train_mfu",
        help="Share of the GPU's peak the run really uses. Large published runs "
        "report 0.35-0.55; small or poorly tuned jobs get less.",
    )
    with c3:
        price = price_ui(gpu, "case_train")
        mixed = st.toggle(
            "Mixed precision (bf16 + fp32 master)",
            DEFAULT.mixed_precision,
            key="case_train_mixed_precision",
        )
        ckpt = st.toggle(
            "Activation checkpointing", DEFAULT.checkpointing, key="case_train_checkpointing"
        )
    return TrainInputs(
        params=n,
        tokens=d,
        gpu=gpu.name,
        n_gpus=n_gpus,
        mfu=mfu,
        price_per_hour=price,
        mixed_precision=mixed,
        checkpointing=ckpt,
        **details_ui(),
    )


def figures_ui(case: Case, report: Report) -> None:
    """Cost, time, energy and memory of the run; memory by part; cost against size."""
    train = case.train
    metrics_ui(figures.train_figures(train, report))
    left, right = st.columns(2)
    left.plotly_chart(
        charts.bars(figures.memory_parts(report), "Training memory per replica", "GB"),
        key="case_memory_chart",
    )
    curve = figures.size_curve(train, case.catalog)
    right.plotly_chart(
        charts.cost_vs_size(curve, train.params, report.train.usd, train.gpu),
        key="case_size_chart",
    )
