"""core.optim.surfaces: analytic gradients against autograd, the known minima, the views."""

import numpy as np
import pytest
import torch

from core.optim import surfaces

ALL = [*surfaces.SURFACES.values(), surfaces.quadratic(50.0)]


@pytest.mark.parametrize("s", ALL, ids=lambda s: f"{s.name}-{s.formula[:12]}")
def test_gradient_matches_autograd(s):
    gen = torch.Generator().manual_seed(0)
    x0, x1, y0, y1 = s.view
    xy = torch.rand(64, 2, generator=gen, dtype=torch.float64)
    x = (x0 + (x1 - x0) * xy[:, 0]).requires_grad_()
    y = (y0 + (y1 - y0) * xy[:, 1]).requires_grad_()
    s.f(x, y).sum().backward()
    gx, gy = s.grad(x.detach(), y.detach())
    torch.testing.assert_close(gx, x.grad, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(gy, y.grad, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("s", [s for s in ALL if s.minima], ids=lambda s: s.name)
def test_minima_are_zero_and_flat(s):
    for mx, my in s.minima:
        assert s.f(np.float64(mx), np.float64(my)) == pytest.approx(0.0, abs=1e-9)
        gx, gy = s.grad(np.float64(mx), np.float64(my))
        assert abs(gx) < 1e-4 and abs(gy) < 1e-4
        x0, x1, y0, y1 = s.view
        assert x0 <= mx <= x1 and y0 <= my <= y1


def test_every_start_lies_in_view_and_off_the_minimum():
    for s in ALL:
        x0, x1, y0, y1 = s.view
        assert x0 < s.start[0] < x1 and y0 < s.start[1] < y1
        assert s.f(np.float64(s.start[0]), np.float64(s.start[1])) > 0.1


def test_himmelblau_has_four_minima_and_distance_picks_the_nearest():
    h = surfaces.SURFACES["Himmelblau"]
    assert len(h.minima) == 4
    d = h.nearest_minimum_distance(np.array([3.0, -2.8, 0.0]), np.array([2.0, 3.0, 0.0]))
    assert d[0] == 0 and d[1] == pytest.approx(np.hypot(0.005118, 0.131312))
    assert d[2] == pytest.approx(min(np.hypot(mx, my) for mx, my in h.minima))


def test_saddle_has_no_minimum():
    s = surfaces.SURFACES["Saddle"]
    assert s.minima == () and not s.log_levels
    assert np.isnan(s.nearest_minimum_distance(np.array([0.0]), np.array([0.0])))[0]
    assert s.f(0.0, 1.0) < s.f(0.0, 0.0) < s.f(1.0, 0.0)


def test_quadratic_condition_number_shapes_the_bowl():
    q = surfaces.quadratic(100.0)
    assert q.grad(1.0, 1.0) == (1.0, 100.0)
    for bad in (0.5, 0, -3, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="Condition number"):
            surfaces.quadratic(bad)


def test_lookup_and_grid():
    assert surfaces.surface("Quadratic", 7.0).formula == "(x^2 + 7 y^2) / 2"
    with pytest.raises(ValueError, match="Unknown function"):
        surfaces.surface("Ackley")
    xs, ys, z = surfaces.grid(surfaces.SURFACES["Booth"], n=50)
    assert xs.shape == ys.shape == (50,) and z.shape == (50, 50)
    assert z.min() >= 0 and xs[0] == -10 and ys[-1] == 10
