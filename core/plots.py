"""What every tool's plotly figures share: one layout call and one palette. No Streamlit,
so a figure can be built in a test."""

from __future__ import annotations

import pandas  # noqa: F401 - plotly peeks at sys.modules["pandas"]; importing it here waits
import plotly.graph_objects as go  # for app.py's background import instead of racing it

PALETTE = (
    "#4F46E5",
    "#DC2626",
    "#059669",
    "#D97706",
    "#7C3AED",
    "#0891B2",
    "#DB2777",
    "#65A30D",
    "#475569",
    "#EA580C",
    "#0D9488",
)


TOOLBAR_PX = 34  # the modebar's band at the top of a chart: titles start below it
TOP_MARGIN_PX = 84  # toolbar band + a title line, then the plot


def layout(fig: go.Figure, title: str, height: int, **axes) -> go.Figure:
    """`fig` with its title, height in px, the shared margins and any axis settings. The
    title sits below the modebar's band (at 390 px the toolbar covered titles otherwise)."""
    fig.update_layout(
        title={
            "text": title,
            "yref": "container",
            "y": 1,
            "yanchor": "top",
            "pad": {"t": TOOLBAR_PX},
        },
        height=height,
        margin={"t": TOP_MARGIN_PX, "b": 40},
        **axes,
    )
    return fig
