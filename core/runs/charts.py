"""The Runs page's figures redrawn from the store (no Streamlit, so a test can build them)."""

from __future__ import annotations

import plotly.graph_objects as go

from core.runs.types import RunDetail


def curves_figure(details: list[RunDetail], metric: str) -> go.Figure:
    """`metric` against step, one line per run."""
    fig = go.Figure()
    for d in details:
        points = d.history.get(metric, [])
        steps, values = [s for s, _ in points], [v for _, v in points]
        fig.add_scatter(x=steps, y=values, mode="lines+markers", name=d.summary.name)
    fig.update_layout(
        title=metric,
        height=340,
        margin={"t": 50, "b": 30},
        xaxis_title="step",
        legend={"orientation": "h", "y": -0.25},
    )
    return fig
