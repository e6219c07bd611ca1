"""The compression chart: quality against batch-1 latency, file size as the marker, the
original and every variant on one chart, the best trade-off marked."""

from __future__ import annotations

import plotly.graph_objects as go

from core.compress.measure import Variant


def trade_off(variants: list[Variant], best: Variant | None = None) -> go.Figure:
    """Accuracy (%) against latency (ms, batch 1); marker area follows the file size."""
    fig = go.Figure()
    biggest = max((v.file_bytes for v in variants), default=1) or 1
    for v in variants:
        size = 12 + 30 * (v.file_bytes / biggest) ** 0.5
        marked = best is not None and v.method == best.method
        fig.add_trace(
            go.Scatter(
                x=[v.latency_p50_s * 1e3],
                y=[None if v.accuracy is None else v.accuracy * 100],
                mode="markers+text",
                text=[v.method + (" (best trade-off)" if marked else "")],
                textposition="top center",
                name=v.method,
                marker={
                    "size": size,
                    "symbol": "star" if marked else "circle",
                    "line": {"width": 2 if marked else 0},
                },
                hovertemplate=(
                    f"{v.method}<br>%{{x:.3f}} ms, %{{y:.2f}} %<br>"
                    f"file {v.file_bytes / 1024:,.1f} KB, {v.speedup:.2f}x<extra></extra>"
                ),
            )
        )
    fig.update_layout(
        xaxis_title="Latency at batch 1, ms (lower is better)",
        yaxis_title="Test accuracy, %",
        showlegend=False,
        height=420,
        margin={"t": 30},
    )
    return fig


def perplexity_trade_off(variants: list[Variant], best: Variant | None = None) -> go.Figure:
    """Perplexity against ms per decoded token (batch 1); marker area follows the file size.
    Each variant sits at the original's median time divided by its speed-up in its own
    interleaved loop: loops on a shared machine run at different loads, so their absolute
    times are not comparable, their ratios are."""
    fig = go.Figure()
    biggest = max((v.file_bytes for v in variants), default=1) or 1
    base_ms = variants[0].latency_p50_s * 1e3 if variants else 0.0
    for v in variants:
        marked = best is not None and v.method == best.method
        fig.add_trace(
            go.Scatter(
                x=[base_ms / v.speedup if v.speedup > 0 else None],
                y=[v.quality.get("perplexity")],
                mode="markers+text",
                text=[v.method + (" (best trade-off)" if marked else "")],
                textposition="top center",
                name=v.method,
                marker={
                    "size": 12 + 30 * (v.file_bytes / biggest) ** 0.5,
                    "symbol": "star" if marked else "circle",
                },
                hovertemplate=(
                    f"{v.method}<br>%{{x:.2f}} ms per token, perplexity %{{y:.2f}}<br>"
                    f"file {v.file_bytes / 1e6:,.2f} MB, {v.speedup:.2f}x<extra></extra>"
                ),
            )
        )
    fig.update_layout(
        xaxis_title="ms per decoded token at batch 1: the original's, over each speed-up "
        "(lower is better)",
        yaxis_title="Perplexity on held-out text (lower is better)",
        showlegend=False,
        height=420,
        margin={"t": 30},
    )
    return fig
