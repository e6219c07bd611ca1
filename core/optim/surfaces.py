"""2-D test functions for optimizers: values, analytic gradients, plotting views and minima.

Each function takes x and y as NumPy arrays or torch tensors (any shape, broadcast alike)
and returns the same kind, so one formula serves the contour plot, the vectorised runs
and the autograd check. Nothing heavy is imported here. Formulas and minima follow
shared/REFERENCE.md (Rosenbrock 1960, Beale 1958, Rastrigin 1974, Himmelblau 1972).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

TAU = 2 * math.pi


def _cos(v):
    return v.cos() if hasattr(v, "cos") else np.cos(v)


def _sin(v):
    return v.sin() if hasattr(v, "sin") else np.sin(v)


@dataclass(frozen=True, kw_only=True)
class Surface:
    """A 2-D function to minimise, with what the page needs to draw it."""

    name: str
    formula: str  # as shown on the page
    f: Callable  # (x, y) -> value
    grad: Callable  # (x, y) -> (df/dx, df/dy)
    view: tuple[float, float, float, float]  # x_min, x_max, y_min, y_max
    minima: tuple[tuple[float, float], ...]  # global minima; empty where there is none
    start: tuple[float, float]  # default start point
    log_levels: bool = True  # contour levels on a log scale (needs f >= 0)

    def nearest_minimum_distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Distance from each (x, y) to the closest global minimum (NaN without minima)."""
        if not self.minima:
            return np.full(np.shape(x), np.nan)
        d = [np.hypot(x - mx, y - my) for mx, my in self.minima]
        return np.min(d, axis=0)


def _rosenbrock(x, y):
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _rosenbrock_grad(x, y):
    return -2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)


def _beale_terms(x, y):
    return 1.5 - x + x * y, 2.25 - x + x * y**2, 2.625 - x + x * y**3


def _beale(x, y):
    a, b, c = _beale_terms(x, y)
    return a**2 + b**2 + c**2


def _beale_grad(x, y):
    a, b, c = _beale_terms(x, y)
    dx = 2 * a * (y - 1) + 2 * b * (y**2 - 1) + 2 * c * (y**3 - 1)
    dy = 2 * a * x + 2 * b * 2 * x * y + 2 * c * 3 * x * y**2
    return dx, dy


def _rastrigin(x, y):
    return 20 + x**2 - 10 * _cos(TAU * x) + y**2 - 10 * _cos(TAU * y)


def _rastrigin_grad(x, y):
    return 2 * x + 10 * TAU * _sin(TAU * x), 2 * y + 10 * TAU * _sin(TAU * y)


def _himmelblau(x, y):
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def _himmelblau_grad(x, y):
    a, b = x**2 + y - 11, x + y**2 - 7
    return 4 * x * a + 2 * b, 2 * a + 4 * y * b


def _booth(x, y):
    return (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2


def _booth_grad(x, y):
    a, b = x + 2 * y - 7, 2 * x + y - 5
    return 2 * a + 4 * b, 4 * a + 2 * b


def _saddle(x, y):
    return x**2 - y**2


def _saddle_grad(x, y):
    return 2 * x, -2 * y


def quadratic(condition: float = 10.0) -> Surface:
    """f = (x^2 + condition * y^2) / 2: an ellipse bowl whose Hessian has eigenvalues 1 and
    `condition`, the case momentum was invented for (Distill, "Why Momentum Really Works")."""
    if not (isinstance(condition, (int, float)) and math.isfinite(condition) and condition >= 1):
        raise ValueError(f"Condition number must be a finite number >= 1, got {condition!r}.")
    k = float(condition)
    return Surface(
        name="Quadratic",
        formula=f"(x^2 + {k:g} y^2) / 2",
        f=lambda x, y: 0.5 * (x**2 + k * y**2),
        grad=lambda x, y: (x, k * y),
        view=(-2.0, 2.0, -2.0, 2.0),
        minima=((0.0, 0.0),),
        start=(-1.8, 1.2),
    )


SURFACES: dict[str, Surface] = {
    s.name: s
    for s in (
        Surface(
            name="Rosenbrock",
            formula="(1-x)^2 + 100 (y-x^2)^2",
            f=_rosenbrock,
            grad=_rosenbrock_grad,
            view=(-2.0, 2.0, -1.0, 3.0),
            minima=((1.0, 1.0),),
            start=(-1.5, 2.0),
        ),
        Surface(
            name="Beale",
            formula="(1.5-x+xy)^2 + (2.25-x+xy^2)^2 + (2.625-x+xy^3)^2",
            f=_beale,
            grad=_beale_grad,
            view=(-4.5, 4.5, -4.5, 4.5),
            minima=((3.0, 0.5),),
            start=(-1.0, 1.5),
        ),
        Surface(
            name="Rastrigin",
            formula="20 + x^2 - 10 cos(2 pi x) + y^2 - 10 cos(2 pi y)",
            f=_rastrigin,
            grad=_rastrigin_grad,
            view=(-5.12, 5.12, -5.12, 5.12),
            minima=((0.0, 0.0),),
            start=(-4.2, 3.7),
        ),
        Surface(
            name="Himmelblau",
            formula="(x^2+y-11)^2 + (x+y^2-7)^2",
            f=_himmelblau,
            grad=_himmelblau_grad,
            view=(-5.0, 5.0, -5.0, 5.0),
            minima=(
                (3.0, 2.0),
                (-2.805118, 3.131312),
                (-3.779310, -3.283186),
                (3.584428, -1.848126),
            ),
            start=(0.0, -4.0),
        ),
        Surface(
            name="Booth",
            formula="(x+2y-7)^2 + (2x+y-5)^2",
            f=_booth,
            grad=_booth_grad,
            view=(-10.0, 10.0, -10.0, 10.0),
            minima=((1.0, 3.0),),
            start=(-8.0, -8.0),
        ),
        Surface(
            name="Saddle",
            formula="x^2 - y^2",
            f=_saddle,
            grad=_saddle_grad,
            view=(-2.0, 2.0, -2.0, 2.0),
            minima=(),
            start=(-1.8, 0.05),
            log_levels=False,
        ),
        quadratic(),
    )
}


def surface(name: str, condition: float = 10.0) -> Surface:
    """The surface called `name`; the quadratic takes its condition number."""
    if name == "Quadratic":
        return quadratic(condition)
    if name not in SURFACES:
        raise ValueError(f"Unknown function {name!r}: choose one of {', '.join(SURFACES)}.")
    return SURFACES[name]


def grid(s: Surface, n: int = 160) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xs, ys, z) for a contour plot over the surface's view; z has shape (n, n)."""
    x0, x1, y0, y1 = s.view
    xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    xx, yy = np.meshgrid(xs, ys)
    return xs, ys, s.f(xx, yy)
