"""Plotly figures of the optimizer races (no Streamlit): the 2-D race's animated paths over
its surface, loss curves and learning-rate sensitivity (`race_figures` makes all three),
and the real-model race's loss bands over seeds (`mean_bands`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go

from core import plots
from core.optim import surfaces

if TYPE_CHECKING:
    from core.optim.race import Race

SURFACE_LEVELS = 30  # colour bands of the surface picture
SURFACE_SCALE = "Blues"  # reversed: low ground dark


def _contour_z(z, log_levels: bool):
    """Contour values: log10 of the height above the minimum where levels are logarithmic."""
    import numpy as np

    return np.log10(z - z.min() + 1e-3) if log_levels else z


def _png(rgb) -> bytes:
    """A (H, W, 3) uint8 array as PNG bytes (zlib only, no imaging library)."""
    import struct
    import zlib

    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[row].tobytes() for row in range(h))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def surface_picture(values) -> tuple[str, float, float]:
    """The surface as filled colour bands in a PNG data URI (first row at the bottom), with
    the value range its colours span. A picture, not a contour trace: plotly's animation
    removes contour and heatmap traces while it plays, but never touches layout images."""
    import base64

    import numpy as np
    from plotly.colors import sample_colorscale

    finite = np.where(np.isfinite(values), values, np.nanmax(values[np.isfinite(values)]))
    low, high = float(finite.min()), float(finite.max())
    band = np.clip(
        ((finite - low) / ((high - low) or 1.0) * SURFACE_LEVELS).astype(int), 0, SURFACE_LEVELS - 1
    )
    colours = sample_colorscale(
        SURFACE_SCALE,
        [1 - (k + 0.5) / SURFACE_LEVELS for k in range(SURFACE_LEVELS)],
        colortype="tuple",
    )
    table = (np.array(colours) * (255 if max(map(max, colours)) <= 1 else 1)).astype(np.uint8)
    rgb = table[band[::-1]]  # image rows run top-down, the grid's bottom-up
    return (
        "data:image/png;base64," + base64.b64encode(_png(np.ascontiguousarray(rgb))).decode(),
        low,
        high,
    )


def _add_surface(fig: go.Figure, surface, grid) -> None:
    """The surface as a background picture spanning the view, and its colour bar."""
    xs, ys, z = grid
    uri, low, high = surface_picture(_contour_z(z, surface.log_levels))
    fig.add_layout_image(
        source=uri,
        xref="x",
        yref="y",
        x=xs[0],
        y=ys[-1],
        sizex=xs[-1] - xs[0],
        sizey=ys[-1] - ys[0],
        sizing="stretch",
        layer="below",
    )
    fig.add_scatter(  # an empty trace that only carries the colour bar
        x=[None],
        y=[None],
        mode="markers",
        showlegend=False,
        hoverinfo="skip",
        marker={
            "colorscale": SURFACE_SCALE,
            "reversescale": True,
            "cmin": low,
            "cmax": high,
            "showscale": True,
            "color": [low],
            "colorbar": {"title": "log10 height" if surface.log_levels else "height"},
        },
    )


def _add_start(fig: go.Figure, start) -> None:
    fig.add_scatter(
        x=[start[0]],
        y=[start[1]],
        mode="markers",
        name="start",
        marker={"symbol": "circle-open", "size": 14, "color": "black"},
    )


def _add_paths(fig: go.Figure, paths: dict, diverged: dict) -> list[int]:
    """One line per optimizer; returns their trace indices (what the frames animate)."""
    first = len(fig.data)
    for i, (name, path) in enumerate(paths.items()):
        label = f"{name} (diverged at {diverged[name]})" if diverged.get(name, -1) > 0 else name
        fig.add_scatter(
            x=path[:, 0],
            y=path[:, 1],
            mode="lines",
            name=label,
            line={"color": plots.PALETTE[i % len(plots.PALETTE)], "width": 2.5},
        )
    return list(range(first, len(fig.data)))


def _add_minima(fig: go.Figure, minima) -> None:
    """Gold stars, added last so they sit above every path."""
    if not minima:
        return
    mx, my = zip(*minima, strict=True)
    fig.add_scatter(
        x=mx,
        y=my,
        mode="markers",
        name="global minimum",
        marker={
            "symbol": "star",
            "size": 18,
            "color": "gold",
            "line": {"color": "black", "width": 1.5},
        },
    )


def _path_frames(paths: dict, traces: list[int], frames: int) -> tuple[list[int], list]:
    """Frames that grow each path step by step, touching only the path traces; the step
    counts they end at. Frames hold float32, exact at screen resolution: 60 float64 frames of
    six 500-step paths were 2.0 MB of a 2.6 MB figure serialised on every page run (now 40
    float32 frames: 0.7 MB). Every point stays: thinning a path that zig-zags each step would
    animate a line it never took."""
    import numpy as np

    steps = len(next(iter(paths.values()))) - 1
    cuts = sorted({max(1, round(steps * k / frames)) for k in range(1, frames + 1)})
    frame_list = []
    for c in cuts:
        cut = [p[: c + 1].astype(np.float32) for p in paths.values()]
        data = [go.Scatter(x=q[:, 0], y=q[:, 1]) for q in cut]
        frame_list.append(go.Frame(name=str(c), traces=traces, data=data))
    return cuts, frame_list


def _play_controls(cuts: list[int]) -> dict:
    """Play / Pause buttons and a step slider, as layout entries."""
    still = {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"}
    play = {
        "label": "Play",
        "method": "animate",
        "args": [
            None,
            {
                "frame": {"duration": 60, "redraw": False},
                "fromcurrent": True,
                "transition": {"duration": 0},
            },
        ],
    }
    pause = {"label": "Pause", "method": "animate", "args": [[None], still]}
    slider = {
        "active": len(cuts) - 1,
        "currentvalue": {"prefix": "step "},
        "pad": {"t": 30},
        "x": 0.15,
        "len": 0.85,
        "y": -0.08,
        "steps": [{"args": [[str(c)], still], "label": str(c), "method": "animate"} for c in cuts],
    }
    buttons = {
        "type": "buttons",
        "buttons": [play, pause],
        "direction": "right",
        "x": 0,
        "y": -0.12,
        "xanchor": "left",
        "yanchor": "top",
    }
    return {"updatemenus": [buttons], "sliders": [slider]}


def optimizer_paths(surface, grid, paths: dict, diverged: dict, frames: int = 40) -> go.Figure:
    """The surface with each optimizer's path, its minima starred, and a Play button that
    draws the paths step by step. `paths`: name -> (steps + 1, 2) array; `diverged`:
    name -> step it diverged at (or -1)."""
    fig = go.Figure()
    _add_surface(fig, surface, grid)
    _add_start(fig, next(iter(paths.values()))[0])
    traces = _add_paths(fig, paths, diverged)
    _add_minima(fig, surface.minima)
    cuts, fig.frames = _path_frames(paths, traces, frames)
    x0, x1, y0, y1 = surface.view
    fig.update_layout(
        **_play_controls(cuts),
        xaxis={"range": [x0, x1], "title": "x", "showgrid": False, "zeroline": False},
        yaxis={"range": [y0, y1], "title": "y", "showgrid": False, "zeroline": False},
        legend={"orientation": "h", "y": -0.3, "x": 0},
    )
    return plots.layout(fig, f"{surface.name}: {surface.formula}", 720)


LOSS_DECADES = 12  # a log loss axis spans at most this many powers of ten below its top


def loss_range(losses: dict) -> tuple[float, float, bool] | None:
    """log10 (low, high) for a log loss axis, clipped to LOSS_DECADES below the top so that
    one curve at 1e-231 does not squash the rest, and whether it was clipped; None when
    no loss is above zero."""
    import numpy as np

    values = np.concatenate([np.asarray(ys, dtype=float).ravel() for ys in losses.values()])
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size == 0:
        return None
    high, low = float(np.log10(positive.max())), float(np.log10(positive.min()))
    clipped = low < high - LOSS_DECADES
    return max(low, high - LOSS_DECADES) - 0.2, high + 0.2, clipped


def loss_curves(losses: dict, log_y: bool) -> go.Figure:
    """Loss against step, one line per optimizer; on a log axis (where the function is >= 0
    and some loss is above zero) clipped to LOSS_DECADES decades, which the title says."""
    fig = go.Figure()
    for i, (name, ys) in enumerate(losses.items()):
        fig.add_scatter(
            y=ys, mode="lines", name=name, line={"color": plots.PALETTE[i % len(plots.PALETTE)]}
        )
    span = loss_range(losses) if log_y else None
    title, axis = "Loss against step", {"type": "linear"}
    if span:
        axis = {"type": "log", "range": [span[0], span[1]]}
        title += f" (axis cut at 1e{round(span[0] + 0.2)})" if span[2] else ""
    return plots.layout(fig, title, 380, xaxis_title="step", yaxis_title="f(x, y)", yaxis=axis)


FLOOR = 1e-30  # a loss of 0 drawn here, on a log axis that cannot show it


def _ring_chosen(fig: go.Figure, lrs: list, ys: list, chosen: float, color: str) -> None:
    """A ring round the chosen rate's point, where that rate was tried and did not diverge."""
    if chosen not in lrs or ys[lrs.index(chosen)] is None:
        return
    fig.add_scatter(
        x=[chosen],
        y=[max(ys[lrs.index(chosen)], FLOOR)],
        mode="markers",
        showlegend=False,
        marker={"symbol": "circle-open", "size": 16, "color": color, "line": {"width": 2}},
    )


def sensitivity(lrs: dict, finals: dict, best: dict) -> go.Figure:
    """Final loss against learning rate per optimizer; diverged rates drawn as crosses on
    top; each optimizer's chosen rate ringed."""
    import math

    fig = go.Figure()
    finite = [v for ys in finals.values() for v in ys if math.isfinite(v) and v > 0]
    ceiling = max(finite) * 10 if finite else 1.0
    for i, name in enumerate(finals):
        color = plots.PALETTE[i % len(plots.PALETTE)]
        ys = [v if math.isfinite(v) else None for v in finals[name]]
        fig.add_scatter(
            x=lrs[name],
            y=[max(v, FLOOR) if v is not None else None for v in ys],
            mode="lines+markers",
            name=name,
            line={"color": color},
        )
        if bad := [lr for lr, v in zip(lrs[name], ys, strict=True) if v is None]:
            fig.add_scatter(
                x=bad,
                y=[ceiling] * len(bad),
                mode="markers",
                showlegend=False,
                marker={"symbol": "x", "color": color, "size": 9},
                name=f"{name} diverged",
            )
        if name in best:
            _ring_chosen(fig, list(lrs[name]), ys, best[name], color)
    return plots.layout(
        fig,
        "Learning-rate sensitivity (x: diverged, ring: chosen)",
        380,
        xaxis_type="log",
        yaxis_type="log",
        xaxis_title="learning rate",
        yaxis_title="final loss",
    )


def race_figures(race: Race) -> dict[str, go.Figure]:
    """The 2-D race's charts: "paths" (animated), "loss" (curves) and, when its rates were
    tuned, "sensitivity"."""
    names, sweep = race.names, race.sweep
    paths = {n: sweep.paths[r] for r, n in enumerate(names)}
    diverged = {n: int(sweep.diverged_at[r]) for r, n in enumerate(names)}
    losses = {n: sweep.losses[r] for r, n in enumerate(names)}
    figures = {
        "paths": optimizer_paths(race.surface, surfaces.grid(race.surface), paths, diverged),
        "loss": loss_curves(losses, race.surface.log_levels),
    }
    if race.tuned is not None:
        tried = race.tuned.sweep
        lrs = {
            n: [lr for lr, m in zip(tried.lrs, tried.names, strict=True) if m == n] for n in names
        }
        finals = {
            n: [f for f, m in zip(tried.final_loss, tried.names, strict=True) if m == n]
            for n in names
        }
        figures["sensitivity"] = sensitivity(lrs, finals, race.lrs)
    return figures


def mean_bands(curves: dict, x_key: str, x_title: str) -> go.Figure:
    """Validation and training loss side by side, each a mean line with a min-max band across
    seeds: `curves` name -> list of {x_key: [...], "val": [...], "train": [...]}. One figure,
    not one per loss: each plotly chart costs the browser about 0.2 s to draw on a 2-core
    machine, and this one is drawn when the user is waiting for the results."""
    import numpy as np
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("Validation loss", "Training loss"))
    for col, y_key in ((1, "val"), (2, "train")):
        for i, (name, runs) in enumerate(curves.items()):
            n = min(len(r[y_key]) for r in runs)
            if n == 0:
                continue
            x = np.mean([r[x_key][:n] for r in runs], axis=0)
            ys = np.array([r[y_key][:n] for r in runs])
            color = plots.PALETTE[i % len(plots.PALETTE)]
            fig.add_scatter(
                x=np.concatenate([x, x[::-1]]),
                y=np.concatenate([ys.max(0), ys.min(0)[::-1]]),
                fill="toself",
                line={"width": 0},
                fillcolor=color,
                opacity=0.18,
                hoverinfo="skip",
                showlegend=False,
                legendgroup=name,
                name=f"{name} spread",
                row=1,
                col=col,
            )
            fig.add_scatter(
                x=x,
                y=ys.mean(0),
                mode="lines+markers",
                name=f"{name} ({len(runs)} seeds)",
                legendgroup=name,  # one legend click hides it in both panels
                showlegend=col == 1,
                line={"color": color},
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text=x_title, row=1, col=col)
        fig.update_yaxes(type="log", row=1, col=col)
    fig.update_yaxes(title_text="loss", row=1, col=1)
    fig.update_layout(legend={"orientation": "h", "y": -0.25, "x": 0})  # a phone keeps its width
    return plots.layout(fig, f"Loss against {x_title} (mean and min-max over seeds)", 420)
