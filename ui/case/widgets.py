"""Widgets several Business case tabs share: a GPU from the session's catalog, its pricing
mode and price, and a grid of headline figures."""

from __future__ import annotations

import streamlit as st

from core.economics.case import PRICING
from core.economics.catalog import GPU
from core.economics.figures import Figure


def gpu_ui(where, gpus: dict[str, GPU], key: str, default: str) -> GPU:
    """A GPU picked from the session's catalog (`default` first where it is there)."""
    names = list(gpus)
    index = names.index(default) if default in names else 0
    return gpus[where.selectbox("GPU", names, index=index, key=key)]


def price_ui(gpu: GPU, key: str) -> float:
    """Pricing mode and the resulting USD per GPU-hour (editable)."""
    mode = st.radio("Pricing", list(PRICING), horizontal=True, key=f"{key}_pricing")
    return st.number_input(
        "Price (USD per GPU-hour)",
        value=round(gpu.price_per_hour * PRICING[mode], 3),
        step=0.1,
        # the catalog's price is in the key: a number_input's identity is its key alone, so
        # without it an edit on the Prices tab would not reach a field already drawn
        key=f"{key}_price_{gpu.name}_{mode}_{gpu.price_per_hour}",
        help="Spot and reserved assume 0.5x and 0.7x on-demand.",
    )


def metrics_ui(figures: list[Figure]) -> None:
    """One row of st.metric per four (label, value, help) entries."""
    for start in range(0, len(figures), 4):
        cols = st.columns(4)
        for col, (label, value, help_text) in zip(cols, figures[start : start + 4], strict=False):
            col.metric(label, value, help=help_text or None)
