"""Plotly figures of the business case (no Streamlit)."""

from __future__ import annotations

import plotly.graph_objects as go

from core import plots, units


def bars(values: dict[str, float], title: str, y_title: str, height: int = 340) -> go.Figure:
    """One bar per entry of `values`."""
    return plots.layout(
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
    return plots.layout(
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
    marked = [(name, volume) for name, volume in break_evens.items() if volume]
    for i, (name, volume) in enumerate(sorted(marked, key=lambda m: m[1])):
        fig.add_vline(  # labels alternate top and bottom so neighbours do not overlap
            x=volume,
            line_dash="dot",
            annotation_text=f"{name} break-even: {units.compact(volume)}/day",
            annotation_position="top left" if i % 2 else "bottom left",
            annotation_textangle=-90,
        )
    fig.add_vline(
        x=load, line_color="black", annotation_text="your load", annotation_position="bottom right"
    )
    return plots.layout(
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
    return plots.layout(
        fig,
        f"Predicted loss at {units.flops(flops)}",
        380,
        xaxis_type="log",
        xaxis_title="parameters",
        yaxis_title="loss (nats/token)",
    )


def cash_curve(cash_by_month) -> go.Figure:
    """Cash at the start of each month, USD, with zero marked."""
    months = list(range(len(cash_by_month)))
    shown = [c if c > -1e15 else None for c in cash_by_month]
    fig = go.Figure(go.Scatter(x=months, y=shown, mode="lines", name="cash"))
    fig.add_hline(y=0, line_color="black", line_dash="dot", annotation_text="cash runs out")
    return plots.layout(
        fig, "Cash over the next 10 years", 340, xaxis_title="month", yaxis_title="USD"
    )
