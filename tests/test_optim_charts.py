"""core.optim.charts: the surface stays under the 2-D race's animation, frames are float32
prefixes of the paths, a log loss axis is clipped and says so, and a tuned race gets its
sensitivity chart."""

import numpy as np

from core.optim import charts, race, surfaces

ROSENBROCK = surfaces.SURFACES["Rosenbrock"]


def test_the_surface_stays_under_the_animation():
    """Plotly's animation drops contour and heatmap traces while it plays (seen in Chromium),
    so the surface is a layout picture; frames only move the path lines; stars on top."""
    s = ROSENBROCK
    result = race.run_race(s, s.start, ["SGD", "Adam"], 100)
    paths = {n: result.sweep.paths[r] for r, n in enumerate(result.names)}
    fig = charts.optimizer_paths(s, surfaces.grid(s), paths, {"SGD": -1, "Adam": -1})
    assert {t.type for t in fig.data} == {"scatter"}
    (picture,) = fig.layout.images
    assert picture.source.startswith("data:image/png;base64,") and picture.layer == "below"
    x0, x1, y0, y1 = s.view
    assert (picture.x, picture.y, picture.sizex, picture.sizey) == (x0, y1, x1 - x0, y1 - y0)
    lines = [i for i, t in enumerate(fig.data) if t.mode == "lines"]
    assert len(fig.frames) > 10
    assert all(list(f.traces) == lines for f in fig.frames)
    assert fig.data[-1].name == "global minimum"


def test_animation_frames_are_float32_prefixes_of_each_path():
    """Frames hold float32 (they were most of a 2.6 MB figure sent on every page run), each
    the path up to its step, point for point; the last frame is the whole path."""
    s = ROSENBROCK
    result = race.run_race(s, s.start, ["SGD", "Adam"], 500)
    paths = {n: result.sweep.paths[r] for r, n in enumerate(result.names)}
    fig = charts.optimizer_paths(s, surfaces.grid(s), paths, {"SGD": -1, "Adam": -1})
    assert fig.frames[-1].name == "500" and len(fig.frames) <= 60
    for frame in fig.frames:
        step = int(frame.name)
        for trace, path in zip(frame.data, paths.values(), strict=True):
            assert np.asarray(trace.x).dtype == np.float32
            np.testing.assert_allclose(trace.x, path[: step + 1, 0], rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(trace.y, path[: step + 1, 1], rtol=1e-6, atol=1e-6)


def test_clipped_loss_axis():
    fig = charts.loss_curves({"a": [10.0, 1e-231], "b": [10.0, 1.0]}, log_y=True)
    low, high = fig.layout.yaxis.range
    assert high > 1 and -13 < low < -11 and "cut" in fig.layout.title.text
    flat = charts.loss_curves({"a": [0.0, 0.0]}, log_y=True)
    assert flat.layout.yaxis.type == "linear"


def test_a_tuned_race_gets_its_sensitivity_chart():
    untuned = race.run_race(ROSENBROCK, ROSENBROCK.start, ["SGD", "Adam"], 50)
    assert set(charts.race_figures(untuned)) == {"paths", "loss"}
    tuned = race.run_race(ROSENBROCK, ROSENBROCK.start, ["SGD", "Adam"], 50, race.lr_grid(points=4))
    figures = charts.race_figures(tuned)
    assert set(figures) == {"paths", "loss", "sensitivity"}
    assert [t.name for t in figures["sensitivity"].data if t.showlegend is not False] == [
        "SGD",
        "Adam",
    ]
    rings = [t for t in figures["sensitivity"].data if t.marker.symbol == "circle-open"]
    assert [t.x[0] for t in rings] == [tuned.lrs["SGD"], tuned.lrs["Adam"]]
