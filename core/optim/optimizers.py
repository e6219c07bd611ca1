"""The optimizer registry, shared by the optimizer page and the CNN page, and a vectorised
runner that moves many 2-D points at once.

Each entry builds the real `torch.optim` optimizer (Lion: `core.optim.lion`) for training a
model, and has a NumPy update rule that follows the same algorithm for the 2-D sweeps: one
array of shape (R, 2) holds every (optimizer, learning rate) run, so 8 optimizers x 20
learning rates x 500 steps take a fraction of a second. Tests hold the NumPy rules to
torch.optim step for step. torch is imported only when a torch optimizer is built.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from core.optim.surfaces import Surface
from core.runs.types import RunRecord


@dataclass(frozen=True)
class Hyper:
    """One exposed hyperparameter."""

    name: str  # keyword as the update rule and torch take it (betas split in two)
    default: float
    low: float  # smallest sensible value
    high: float  # largest sensible value
    help: str = ""


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer as the app offers it."""

    name: str  # shown in the app, e.g. "SGD + momentum"
    torch_class: str  # class name in torch.optim, or "Lion"
    hypers: tuple[Hyper, ...]  # exposed hyperparameters, defaults as in torch
    fixed: dict = field(default_factory=dict)  # kwargs that make the variant (nesterov=True)
    default_lr: float = 1e-3  # a sensible starting learning rate

    def defaults(self) -> dict[str, float]:
        return {h.name: h.default for h in self.hypers}

    def torch_kwargs(self, overrides: dict | None = None) -> dict:
        """Keyword arguments for the torch class, beta1/beta2 folded into betas."""
        hp = {**self.defaults(), **(overrides or {})}
        kwargs = {**self.fixed, **{k: v for k, v in hp.items() if k not in ("beta1", "beta2")}}
        if "beta1" in hp:
            kwargs["betas"] = (hp["beta1"], hp["beta2"])
        return kwargs

    def build(self, params, lr: float, overrides: dict | None = None):
        """The torch optimizer over `params` at learning rate `lr`."""
        import torch

        if self.torch_class == "Lion":
            from core.optim.lion import Lion

            cls = Lion
        else:
            cls = getattr(torch.optim, self.torch_class)
        return cls(params, lr=lr, **self.torch_kwargs(overrides))


MOMENTUM = Hyper(
    name="momentum", default=0.9, low=0.0, high=0.999, help="Share of the last step carried over"
)
EPS = Hyper(
    name="eps", default=1e-8, low=1e-12, high=1e-2, help="Added to the denominator for stability"
)
BETA1 = Hyper(name="beta1", default=0.9, low=0.0, high=0.999, help="Decay of the gradient average")
BETA2 = Hyper(
    name="beta2", default=0.999, low=0.5, high=0.99999, help="Decay of the squared-gradient average"
)

REGISTRY: dict[str, OptimizerSpec] = {
    s.name: s
    for s in (
        OptimizerSpec("SGD", "SGD", (), default_lr=1e-2),
        OptimizerSpec("SGD + momentum", "SGD", (MOMENTUM,), default_lr=1e-2),
        OptimizerSpec(
            name="Nesterov",
            torch_class="SGD",
            hypers=(MOMENTUM,),
            fixed={"nesterov": True},
            default_lr=1e-2,
        ),
        OptimizerSpec(
            "RMSprop",
            "RMSprop",
            (
                Hyper(
                    name="alpha", default=0.99, low=0.5, high=0.9999, help="Decay of the average"
                ),
                EPS,
            ),
        ),
        OptimizerSpec(
            "Adagrad",
            "Adagrad",
            (Hyper(name="eps", default=1e-10, low=1e-12, high=1e-2),),
            default_lr=1e-2,
        ),
        OptimizerSpec(
            "Adadelta",
            "Adadelta",
            (
                Hyper(name="rho", default=0.9, low=0.5, high=0.9999, help="Decay of the averages"),
                Hyper(name="eps", default=1e-6, low=1e-10, high=1e-2),
            ),
            default_lr=1.0,
        ),
        OptimizerSpec("Adam", "Adam", (BETA1, BETA2, EPS)),
        OptimizerSpec(
            "AdamW",
            "AdamW",
            (
                BETA1,
                BETA2,
                EPS,
                Hyper(name="weight_decay", default=0.01, low=0.0, high=1.0, help="Decoupled decay"),
            ),
        ),
        OptimizerSpec(
            "NAdam",
            "NAdam",
            (
                BETA1,
                BETA2,
                EPS,
                Hyper(
                    name="momentum_decay", default=4e-3, low=0.0, high=0.1, help="Nesterov schedule"
                ),
            ),
        ),
        OptimizerSpec("RAdam", "RAdam", (BETA1, BETA2, EPS)),
        OptimizerSpec(
            "Lion",
            "Lion",
            (
                Hyper(
                    name="beta1",
                    default=0.9,
                    low=0.0,
                    high=0.999,
                    help="Interpolation for the update sign",
                ),
                Hyper(
                    name="beta2", default=0.99, low=0.5, high=0.9999, help="Decay of the momentum"
                ),
                Hyper(name="weight_decay", default=0.0, low=0.0, high=1.0, help="Decoupled decay"),
            ),
            default_lr=1e-4,
        ),
    )
}


def spec(name: str) -> OptimizerSpec:
    """The registry entry called `name`."""
    if name not in REGISTRY:
        raise ValueError(f"Unknown optimizer {name!r}: choose one of {', '.join(REGISTRY)}.")
    return REGISTRY[name]


# ---- NumPy update rules: p, g of shape (R, 2); lr of shape (R, 1); t counts from 1 -----------


def _sgd(p, g, s, lr, t, hp, nesterov=False):
    mu = hp.get("momentum", 0.0)
    if mu == 0:
        return p - lr * g
    s["buf"] = g.copy() if t == 1 else mu * s["buf"] + g
    return p - lr * (g + mu * s["buf"] if nesterov else s["buf"])


def _rmsprop(p, g, s, lr, t, hp):
    s["v"] = hp["alpha"] * s.get("v", 0.0) + (1 - hp["alpha"]) * g * g
    return p - lr * g / (np.sqrt(s["v"]) + hp["eps"])


def _adagrad(p, g, s, lr, t, hp):
    s["sum"] = s.get("sum", 0.0) + g * g
    return p - lr * g / (np.sqrt(s["sum"]) + hp["eps"])


def _adadelta(p, g, s, lr, t, hp):
    rho, eps = hp["rho"], hp["eps"]
    s["v"] = rho * s.get("v", 0.0) + (1 - rho) * g * g
    delta = np.sqrt(s.get("u", 0.0) + eps) / np.sqrt(s["v"] + eps) * g
    s["u"] = rho * s.get("u", 0.0) + (1 - rho) * delta * delta
    return p - lr * delta


def _moments(g, s, hp):
    b1, b2 = hp["beta1"], hp["beta2"]
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
    return b1, b2


def _adam(p, g, s, lr, t, hp):
    p = p * (1 - lr * hp.get("weight_decay", 0.0))  # AdamW's decoupled decay; 0 for Adam
    b1, b2 = _moments(g, s, hp)
    denom = np.sqrt(s["v"]) / np.sqrt(1 - b2**t) + hp["eps"]
    return p - lr / (1 - b1**t) * s["m"] / denom


def _nadam(p, g, s, lr, t, hp):
    b1, b2 = _moments(g, s, hp)
    psi = hp["momentum_decay"]
    mu = b1 * (1 - 0.5 * 0.96 ** (t * psi))
    mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
    s["mu_product"] = s.get("mu_product", 1.0) * mu
    denom = np.sqrt(s["v"] / (1 - b2**t)) + hp["eps"]
    p = p - lr * (1 - mu) / (1 - s["mu_product"]) * g / denom
    return p - lr * mu_next / (1 - s["mu_product"] * mu_next) * s["m"] / denom


def _radam(p, g, s, lr, t, hp):
    b1, b2 = _moments(g, s, hp)
    m_hat = s["m"] / (1 - b1**t)
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
    if rho_t <= 5:
        return p - lr * m_hat
    rect = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    adaptive = np.sqrt(1 - b2**t) / (np.sqrt(s["v"]) + hp["eps"])
    return p - lr * m_hat * rect * adaptive


def _lion(p, g, s, lr, t, hp):
    m = s.get("m", 0.0)
    p = p * (1 - lr * hp["weight_decay"])
    p = p - lr * np.sign(hp["beta1"] * m + (1 - hp["beta1"]) * g)
    s["m"] = hp["beta2"] * m + (1 - hp["beta2"]) * g
    return p


RULES: dict[str, Callable] = {
    "SGD": _sgd,
    "SGD + momentum": _sgd,
    "Nesterov": lambda p, g, s, lr, t, hp: _sgd(p, g, s, lr, t, hp, nesterov=True),
    "RMSprop": _rmsprop,
    "Adagrad": _adagrad,
    "Adadelta": _adadelta,
    "Adam": _adam,
    "AdamW": _adam,
    "NAdam": _nadam,
    "RAdam": _radam,
    "Lion": _lion,
}


# ---- the vectorised 2-D runner ------------------------------------------------------------


@dataclass(frozen=True)
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
    groups: dict[str, list[int]] = {}
    for r, name in enumerate(names):
        groups.setdefault(spec(name).name, []).append(r)
    hp = {name: {**REGISTRY[name].defaults(), **(hypers or {}).get(name, {})} for name in groups}
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
            gx, gy = surface.grad(p[:, 0], p[:, 1])
            g = np.stack([gx, gy], axis=1)
            new = np.empty_like(p)
            for name, idx in groups.items():
                new[idx] = RULES[name](p[idx], g[idx], states[name], lrs[idx, None], t, hp[name])
            loss = surface.f(new[:, 0], new[:, 1])
            bad = ~np.isfinite(loss) | np.any(~np.isfinite(new) | (np.abs(new - centre) > half), 1)
            fresh = bad & (diverged_at < 0)
            diverged_at[fresh] = t
            alive = diverged_at < 0
            p = np.where(alive[:, None], new, p)
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
        final = sweep.final_loss[idx]
        order = np.lexsort((-sweep.lrs[idx], final))
        best[name] = float(sweep.lrs[idx][order[0]])
    return Tuned(sweep, best)


def steps_to_tolerance(losses: np.ndarray, f_min: float, tol: float) -> np.ndarray:
    """(R,) first step whose loss is within `tol` of `f_min`, or -1 if never."""
    hit = losses - f_min <= tol
    return np.where(hit.any(axis=1), hit.argmax(axis=1), -1)


@dataclass(frozen=True)
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
        return [
            {
                "Optimizer": name,
                "Learning rate": self.lrs[name],
                "Rate": self.how[name],
                "Final loss": float(self.sweep.final_loss[r]),
                "Distance to nearest minimum": float(dist[r]),
                f"Steps to loss < {self.tolerance:g}": int(reach[r]) if reach[r] >= 0 else None,
                "Diverged at step": int(self.sweep.diverged_at[r])
                if self.sweep.diverged_at[r] > 0
                else None,
            }
            for r, name in enumerate(self.names)
        ]


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


def record_race(race: Race, figures: dict) -> str:
    """Record a 2-D race in the run store (tool "optimizers"); returns the run id."""
    from core import runs

    finals = [float(x) for x in race.sweep.final_loss if math.isfinite(x)]
    return runs.record(
        "optimizers",
        RunRecord(
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
        ),
    )


def race(
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
