"""Plotly figures of CNN training (no Streamlit)."""

from __future__ import annotations

import plotly.graph_objects as go

from core import plots


def training_curves(rows: list[dict]) -> go.Figure:
    """Loss and accuracy per epoch, train and validation, side by side."""
    from plotly.subplots import make_subplots

    epochs = [r["epoch"] for r in rows]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Accuracy"))
    for col, key in ((1, "loss"), (2, "accuracy")):
        for split, dash in (("train", "solid"), ("val", "dash")):
            fig.add_scatter(
                x=epochs,
                y=[r[f"{split}_{key}"] for r in rows],
                mode="lines+markers",
                name=f"{'validation' if split == 'val' else 'train'} {key}",
                line={"dash": dash, "color": plots.PALETTE[0 if split == "train" else 1]},
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="epoch", dtick=1 if len(epochs) <= 20 else None)
    return plots.layout(fig, "", 340)


def confusion(matrix: list[list[int]], classes) -> go.Figure:
    """Counts of true (rows) against predicted (columns) classes."""
    labels = [str(c) for c in classes]
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=labels,
            y=labels,
            colorscale="Blues",
            texttemplate="%{z}",
            hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title_text="true class", type="category")
    fig.update_xaxes(title_text="predicted class", type="category")
    return plots.layout(fig, "Confusion matrix (test set)", 460)
