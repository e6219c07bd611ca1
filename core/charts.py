"""Plotly figures the pages draw; no Streamlit here, so they can be built in a test."""

from __future__ import annotations

import plotly.graph_objects as go

from core import units


def _layout(fig: go.Figure, title: str, height: int, **axes) -> go.Figure:
    fig.update_layout(title=title, height=height, margin={"t": 60, "b": 40}, **axes)
    return fig


def bars(values: dict[str, float], title: str, y_title: str, height: int = 340) -> go.Figure:
    """One bar per entry of `values`."""
    return _layout(
        go.Figure(go.Bar(x=list(values), y=list(values.values()))),
        title,
        height,
        yaxis_title=y_title,
    )


def cost_vs_size(curve: dict, params: float, usd: float, gpu: str) -> go.Figure:
    """Training USD against parameters (log-log), with this run marked."""
    fig = go.Figure(
        go.Scatter(x=curve["params"], y=curve["usd"], mode="lines", name="20 tokens per parameter")
    )
    fig.add_scatter(x=[params], y=[usd], mode="markers", marker_size=12, name="this run")
    return _layout(
        fig,
        f"Training cost against model size on {gpu}",
        340,
        xaxis_type="log",
        yaxis_type="log",
        xaxis_title="parameters",
        yaxis_title="USD",
    )


def cost_vs_volume(curve: dict, break_evens: dict[str, float | None], load: float) -> go.Figure:
    """Monthly USD against requests/day: the self-hosting staircase, one line per API, each
    break-even and the current load marked."""
    fig = go.Figure()
    for name, ys in curve.items():
        if name != "requests_per_day":
            shape = "hv" if name == "Self-hosted" else "linear"
            fig.add_scatter(
                x=curve["requests_per_day"], y=ys, mode="lines", name=name, line_shape=shape
            )
    for name, volume in break_evens.items():
        if volume:
            fig.add_vline(x=volume, line_dash="dot", annotation_text=f"{name} break-even")
    fig.add_vline(
        x=load, line_color="black", annotation_text="your load", annotation_position="bottom right"
    )
    return _layout(
        fig,
        "Monthly cost against volume",
        420,
        xaxis_type="log",
        yaxis_type="log",
        xaxis_title="requests per day",
        yaxis_title="USD per month",
    )


def isoflop(curve: dict, optimum: tuple[float, float], run: tuple[float, float], flops: float):
    """Chinchilla loss against parameters at a fixed FLOP budget, optimum and run marked."""
    fig = go.Figure(go.Scatter(x=curve["params"], y=curve["loss"], mode="lines", name="same FLOPs"))
    fig.add_scatter(
        x=[optimum[0]], y=[optimum[1]], mode="markers", marker_size=14, name="compute-optimal"
    )
    fig.add_scatter(x=[run[0]], y=[run[1]], mode="markers", marker_size=9, name="this run")
    return _layout(
        fig,
        f"Predicted loss at {units.flops(flops)}",
        380,
        xaxis_type="log",
        xaxis_title="parameters",
        yaxis_title="loss (nats/token)",
    )
