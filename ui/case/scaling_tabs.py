"""The Scaling laws and Published runs tabs: figures only (their inputs are the Train
tab's): the run on its iso-FLOP curve, and how the estimates match published runs."""

from __future__ import annotations

import streamlit as st

from core.economics import charts, costs, figures
from core.economics.case import Case, Report
from ui.case.widgets import metrics_ui


def scaling_ui(case: Case, report: Report) -> None:
    """Predicted loss of the run and the loss-optimal size at its FLOPs, on the curve."""
    metrics_ui(figures.scaling_figures(report))
    curve = figures.isoflop_curve(report.train.flops)
    optimum = (
        report.optimal_params,
        costs.chinchilla_loss(report.optimal_params, report.optimal_tokens),
    )
    run = (case.train.params, report.chinchilla_loss)
    st.plotly_chart(
        charts.isoflop(curve, optimum, run, report.train.flops), key="case_isoflop_chart"
    )
    st.caption(
        "L(N, D) = 1.69 + 406.4 / N^0.34 + 410.7 / D^0.28 (Hoffmann et al. 2022). The lowest "
        "point of this curve is the loss-optimal size; the 20-tokens-per-parameter rule of "
        "thumb lands near it."
    )


def runs_ui(case: Case, report: Report) -> None:
    """The published-runs check at the run's MFU: a sentence and the table."""
    st.markdown(figures.runs_sentence(case.train, report))
    st.dataframe(figures.runs_table(report.runs), hide_index=True)
