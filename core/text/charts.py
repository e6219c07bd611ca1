"""Plotly figures of the small GPT-2's training (no Streamlit)."""

from __future__ import annotations

import plotly.graph_objects as go

from core import plots


def loss_by_step(rows: list[dict]) -> go.Figure:
    """Training and validation loss against step."""
    steps = [r["step"] for r in rows]
    fig = go.Figure()
    fig.add_scatter(x=steps, y=[r["train_loss"] for r in rows], name="train", mode="lines+markers")
    fig.add_scatter(
        x=steps,
        y=[r["val_loss"] for r in rows],
        name="validation",
        mode="lines+markers",
        line={"dash": "dash"},
    )
    return plots.layout(fig, "Loss (nats per token)", 320, xaxis_title="step", yaxis_title="loss")
