"""Plotly figures of a load test (no Streamlit): throughput and waiting against concurrency."""

from __future__ import annotations

import plotly.graph_objects as go

from core import plots
from core.serving.loadtest import LevelResult

WAITS = (  # legend name, LevelResult field (seconds)
    ("TTFT p50", "ttft_p50_s"),
    ("TTFT p95", "ttft_p95_s"),
    ("latency p50", "latency_p50_s"),
    ("latency p95", "latency_p95_s"),
)


def throughput(results: list[LevelResult]) -> go.Figure:
    """Tokens/s of all streams together and of one stream, against concurrent streams."""
    x = [r.concurrency for r in results]
    fig = go.Figure()
    fig.add_scatter(x=x, y=[r.aggregate_tokens_per_s for r in results], name="all streams")
    fig.add_scatter(x=x, y=[r.tokens_per_s_per_stream for r in results], name="per stream")
    return plots.layout(
        fig, "Throughput", 340, xaxis_title="concurrent streams", yaxis_title="tokens/s"
    )


def waiting(results: list[LevelResult]) -> go.Figure:
    """Time to first token and latency (p50, p95, seconds) against concurrent streams."""
    x = [r.concurrency for r in results]
    fig = go.Figure()
    for name, attr in WAITS:
        fig.add_scatter(x=x, y=[getattr(r, attr) for r in results], name=name)
    return plots.layout(
        fig, "Waiting", 340, xaxis_title="concurrent streams", yaxis_title="seconds"
    )
