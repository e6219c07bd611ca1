"""Optimizers raced on a 2-D surface: the vectorised sweep, learning-rate tuning, the race
with its results table, and its record in the run store.

One array of shape (R, 2) holds every (optimizer, learning rate) run, moved by the NumPy
rules of `core.optim.rules`, so 8 optimizers x 20 learning rates x 500 steps take a
fraction of a second. No torch here.

    r = run_race(surfaces.SURFACES["Rosenbrock"], (-1.5, 2.0), ["SGD", "Adam"], 500, lr_grid())
    r.table()              # one row per optimizer: its rate, final loss, steps to reach...
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.optim.registry import spec
from core.optim.surfaces import Surface
from core.runs.types import RunRecord


@dataclass(frozen=True, kw_only=True)
class Sweep:
    """Every run of a 2-D sweep: run r used optimizer names[r] at learning rate lrs[r]."""

    names: list[str]  # (R,) optimizer of each run
    lrs: np.ndarray  # (R,) learning rate of each run
    paths: np.ndarray  # (R, steps + 1, 2) positions, frozen after divergence
    losses: np.ndarray  # (R, steps + 1) f along the path (inf after divergence)
    diverged_at: np.ndarray  # (R,) step at which the run diverged, -1 if it did not

    @property
    def final_loss(self) -> np.ndarray:
        """(R,) loss after the last step; inf for diverged runs."""
        return self.losses[:, -1]


def run_sweep(
    surface: Surface,
    start: tuple[float, float],
    runs: list[tuple[str, float]],
    steps: int,
    hypers: dict[str, dict] | None = None,
    escape: float = 10.0,
) -> Sweep:
    """Run every (optimizer, learning rate) in `runs` from `start` for `steps` steps at once.
    A run diverges when its position or loss stops being finite, or it leaves the view
    enlarged `escape` times about its centre; it then stays where it last was."""
    if steps < 1:
        raise ValueError(f"Steps must be at least 1, got {steps}.")
    names = [name for name, _ in runs]
    lrs = np.array([lr for _, lr in runs], dtype=np.float64)
    if not np.all(np.isfinite(lrs) & (lrs > 0)):
        raise ValueError("Learning rates must be finite numbers above zero.")
    groups: dict[str, list[int]] = {}  # optimizer -> its rows: one rule call moves them all
    for r, name in enumerate(names):
        groups.setdefault(spec(name).name, []).append(r)
    hp = {name: spec(name).settings((hypers or {}).get(name)) for name in groups}
    states = {name: {} for name in groups}
    x0, x1, y0, y1 = surface.view
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    half = escape * np.array([(x1 - x0) / 2, (y1 - y0) / 2])

    paths = np.empty((len(runs), steps + 1, 2))
    paths[:, 0] = start
    losses = np.full((len(runs), steps + 1), np.inf)
    losses[:, 0] = surface.f(paths[:, 0, 0], paths[:, 0, 1])
    diverged_at = np.full(len(runs), -1)
    p = paths[:, 0].copy()
    with np.errstate(all="ignore"):  # overflow is how a diverging run announces itself
        for t in range(1, steps + 1):
            g = np.stack(surface.grad(p[:, 0], p[:, 1]), axis=1)
            new = np.empty_like(p)
            for name, idx in groups.items():
                rule = spec(name).rule
                new[idx] = rule(p[idx], g[idx], states[name], lrs[idx, None], t, hp[name])
            loss = surface.f(new[:, 0], new[:, 1])
            bad = ~np.isfinite(loss) | np.any(~np.isfinite(new) | (np.abs(new - centre) > half), 1)
            diverged_at[bad & (diverged_at < 0)] = t
            alive = diverged_at < 0
            p = np.where(alive[:, None], new, p)  # a diverged run stays at its last good point
            paths[:, t] = p
            losses[:, t] = np.where(alive, loss, np.inf)
    return Sweep(names=names, lrs=lrs, paths=paths, losses=losses, diverged_at=diverged_at)


def lr_grid(low: float = 1e-5, high: float = 10.0, points: int = 20) -> np.ndarray:
    """`points` learning rates spaced evenly on a log scale from `low` to `high`."""
    if not (0 < low < high) or points < 2:
        raise ValueError("The learning-rate grid needs 0 < low < high and at least 2 points.")
    return np.logspace(np.log10(low), np.log10(high), points)


@dataclass(frozen=True)
class Tuned:
    """The outcome of a learning-rate sweep per optimizer."""

    sweep: Sweep  # every (optimizer, lr) run
    best_lr: dict[str, float]  # optimizer -> learning rate with the lowest final loss


def tune(
    surface: Surface,
    start: tuple[float, float],
    optimizers: list[str],
    steps: int,
    grid: np.ndarray,
    hypers: dict[str, dict] | None = None,
) -> Tuned:
    """Each optimizer at every learning rate of `grid`; the best is the lowest final loss
    (ties: the larger rate, which got there sooner)."""
    runs = [(name, float(lr)) for name in optimizers for lr in grid]
    sweep = run_sweep(surface, start, runs, steps, hypers)
    best = {}
    for name in optimizers:
        idx = [r for r, n in enumerate(sweep.names) if n == name]
        order = np.lexsort((-sweep.lrs[idx], sweep.final_loss[idx]))
        best[name] = float(sweep.lrs[idx][order[0]])
    return Tuned(sweep=sweep, best_lr=best)


def steps_to_tolerance(losses: np.ndarray, f_min: float, tol: float) -> np.ndarray:
    """(R,) first step whose loss is within `tol` of `f_min`, or -1 if never."""
    hit = losses - f_min <= tol
    return np.where(hit.any(axis=1), hit.argmax(axis=1), -1)


@dataclass(frozen=True, kw_only=True)
class Race:
    """Optimizers raced on one surface from one start, each at its chosen learning rate."""

    surface: Surface
    names: list[str]  # optimizers in the order raced
    lrs: dict[str, float]  # the rate each one used
    how: dict[str, str]  # "tuned", "by hand" or "default", per optimizer
    sweep: Sweep  # one run per optimizer, in `names` order
    tuned: Tuned | None  # the learning-rate sweep, where rates were tuned
    tolerance: float  # for "steps to reach"

    def table(self) -> list[dict]:
        """One row per optimizer: rate, final loss, distance to the nearest minimum, steps
        to get within the tolerance of the minimum, and where it diverged."""
        end = self.sweep.paths[:, -1]
        dist = self.surface.nearest_minimum_distance(end[:, 0], end[:, 1])
        reach = (
            steps_to_tolerance(self.sweep.losses, 0.0, self.tolerance)
            if self.surface.minima
            else np.full(len(self.names), -1)
        )
        diverged = self.sweep.diverged_at
        return [
            {
                "Optimizer": name,
                "Learning rate": self.lrs[name],
                "Rate": self.how[name],
                "Final loss": float(self.sweep.final_loss[r]),
                "Distance to nearest minimum": float(dist[r]),
                f"Steps to loss < {self.tolerance:g}": int(reach[r]) if reach[r] >= 0 else None,
                "Diverged at step": int(diverged[r]) if diverged[r] > 0 else None,
            }
            for r, name in enumerate(self.names)
        ]

    @property
    def starts_at_minimum(self) -> bool:
        """True when the start is a global minimum: no run ever got below its loss."""
        losses = self.sweep.losses
        return bool(self.surface.minima) and losses[:, 0].max() <= losses.min() + 1e-12

    def diverged(self) -> list[str]:
        """The optimizers whose run diverged, in race order."""
        return [n for r, n in enumerate(self.names) if self.sweep.diverged_at[r] > 0]


def run_race(
    surface: Surface,
    start: tuple[float, float],
    names: list[str],
    steps: int,
    grid: np.ndarray | None = None,
    manual: dict[str, float] | None = None,
    hypers: dict[str, dict] | None = None,
    tolerance: float = 1e-3,
) -> Race:
    """Tune each optimizer on `grid` (if given), let `manual` rates override, then run each
    at its rate. Without a grid, rates are `manual` or the registry defaults."""
    if not names:
        raise ValueError("Pick at least one optimizer.")
    manual = {k: v for k, v in (manual or {}).items() if v}
    tuned = tune(surface, start, names, steps, grid, hypers) if grid is not None else None
    lrs, how = {}, {}
    for name in names:
        if name in manual:
            lrs[name], how[name] = float(manual[name]), "by hand"
        elif tuned is not None:
            lrs[name], how[name] = tuned.best_lr[name], "tuned"
        else:
            lrs[name], how[name] = spec(name).default_lr, "default"
    sweep = run_sweep(surface, start, [(n, lrs[n]) for n in names], steps, hypers)
    return Race(
        surface=surface,
        names=list(names),
        lrs=lrs,
        how=how,
        sweep=sweep,
        tuned=tuned,
        tolerance=tolerance,
    )


def display_rows(rows: list[dict]) -> list[dict]:
    """`Race.table()` rows as text a person reads: 3 significant figures in scientific
    notation, '-' for a value that does not apply, never 'None' or a run of zeros."""

    def sci(x: float) -> str:
        if x == 0:
            return "0"
        return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 else f"{x:.2e}"

    def text(key: str, value) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        if isinstance(value, str) or key.startswith(("Steps", "Diverged")):
            return str(value)
        return sci(float(value))

    return [{k: text(k, v) for k, v in row.items()} for row in rows]


def run_record(race: Race, figures: dict) -> RunRecord:
    """The 2-D race as a run of kind "optimizers", with its `figures` (name -> plotly)."""
    finals = [float(x) for x in race.sweep.final_loss if math.isfinite(x)]
    return RunRecord(
        name=f"{race.surface.name}: " + ", ".join(race.names),
        params={
            "kind": "2-D surface",
            "surface": race.surface.name,
            "formula": race.surface.formula,
            "optimizers": list(race.names),
            "steps": int(race.sweep.paths.shape[1] - 1),
            "rates": {n: float(race.lrs[n]) for n in race.names},
            "how": dict(race.how),
        },
        metrics={"best_final_loss": min(finals, default=math.nan)},
        tables={"results": race.table()},
        figures=figures,
    )
