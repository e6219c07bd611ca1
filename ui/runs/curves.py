"""Recorded step metrics drawn two charts to a row: shared by Compare and Open a run."""

from __future__ import annotations

import streamlit as st

from core import runs
from core.runs.charts import curves_figure


def curves_ui(details: list[runs.RunDetail], key: str) -> None:
    """Each metric recorded at steps, one line per run; chart keys are `key`_<metric>."""
    metrics = sorted(set().union(*(d.history for d in details)))
    figures = [(metric, curves_figure(details, metric)) for metric in metrics]
    for i in range(0, len(figures), 2):
        for col, (metric, fig) in zip(st.columns(2), figures[i : i + 2]):  # noqa: B905 - odd count
            col.plotly_chart(fig, key=f"{key}_{metric}")
