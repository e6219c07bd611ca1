"""Optimizers on a real model: the same small MLP trained on digits with each optimizer,
its learning rate picked from a small grid, then several seeds at that rate.

Runs inside a `core.jobs` worker: it checks for Stop every step and returns what it has
finished. Data arrive as tensors already on the device (`core.cache.digits`); batches are
index slices, no DataLoader.
"""

from __future__ import annotations

import csv
import io
import math
import time
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from core import device as dev
from core.jobs import JobContext
from core.optim import optimizers
from core.runs.types import RunRecord
from core.vision import data as datasets
from core.vision.data import ImageTensors

# The race's MLP (64 -> 128 -> 10, batches of 64) is too small for a second CPU thread: on
# 2 cores the default race took 2.5 s on one thread against 2.8-3.8 s on two (OpenMP's
# hand-offs cost more than the work they split), in the main thread and in a worker alike.
RACE_THREADS = 1


@dataclass(frozen=True, kw_only=True)
class CompareConfig:
    """What to race and for how long."""

    optimizers: tuple[str, ...] = ("SGD + momentum", "Adam", "AdamW", "Lion")
    seeds: int = 3  # runs per optimizer at its chosen rate
    epochs: int = 8  # passes over the training split per run
    batch_size: int = 64  # images per step
    lr_multipliers: tuple[float, ...] = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)  # x default rate
    hidden: int = 128  # MLP width
    val_share: float = 0.2  # share of images held out for validation

    def __post_init__(self) -> None:
        if not self.optimizers:
            raise ValueError("Pick at least one optimizer.")
        for name in self.optimizers:
            optimizers.spec(name)
        if not (1 <= self.seeds <= 20 and 1 <= self.epochs <= 200 and self.batch_size >= 1):
            raise ValueError("Seeds must be 1-20, epochs 1-200 and the batch size at least 1.")
        if not self.lr_multipliers or min(self.lr_multipliers) <= 0:
            raise ValueError("Learning-rate multipliers must be positive.")
        if not 0.05 <= self.val_share <= 0.5:
            raise ValueError("The validation share must be between 0.05 and 0.5.")

    @property
    def runs(self) -> int:
        """Training runs in all: the grid at seed 0, then the other seeds."""
        return len(self.optimizers) * (len(self.lr_multipliers) + self.seeds - 1)


@dataclass
class Run:
    """One training run's curves."""

    optimizer: str
    lr: float
    seed: int
    steps: list[int] = field(default_factory=list)  # step at each epoch end
    seconds: list[float] = field(default_factory=list)  # training wall time at each epoch end
    train_loss: list[float] = field(default_factory=list)  # mean batch loss over the epoch
    val_loss: list[float] = field(default_factory=list)  # at each epoch end
    val_accuracy: float = math.nan  # after the last epoch
    diverged: bool = False  # the loss became NaN or inf


@dataclass
class Comparison:
    """Everything finished so far."""

    config: CompareConfig
    grid: dict[str, dict[float, float]] = field(default_factory=dict)  # opt -> lr -> val loss
    best_lr: dict[str, float] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)  # the seeds at each best rate
    stopped: bool = False
    run_id: str | None = None  # its run in the store, once recorded
    not_recorded: str | None = None  # why the store could not take it


def mlp(in_features: int, hidden: int, classes: int) -> nn.Module:
    """The small model every optimizer trains: flatten -> hidden -> ReLU -> classes."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, classes)
    )


@torch.inference_mode()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of `model` on (x, y)."""
    logits = model(x)
    return nn.functional.cross_entropy(logits, y).item(), (
        logits.argmax(1) == y
    ).float().mean().item()


def train_run(data, x, idx_train, idx_val, name, lr, seed, cfg, ctx: JobContext | None) -> Run:
    """One run on images `x` (data.floats()); stops early, keeping its curves, when `ctx`
    says stop or the loss diverges."""
    torch.manual_seed(seed)
    y = data.y
    model = mlp(x[0].numel(), cfg.hidden, len(data.classes)).to(x.device)
    opt = optimizers.spec(name).build(model.parameters(), lr)
    run, step, elapsed = Run(name, lr, seed), 0, 0.0
    gen = torch.Generator().manual_seed(seed)
    for _ in range(cfg.epochs):
        t0, total, batches = time.perf_counter(), 0.0, 0
        order = idx_train[torch.randperm(len(idx_train), generator=gen).to(x.device)]
        for start in range(0, len(order), cfg.batch_size):
            if ctx is not None and ctx.should_stop():
                return run
            batch = order[start : start + cfg.batch_size]
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, batches, step = total + loss.item(), batches + 1, step + 1
        elapsed += time.perf_counter() - t0
        val_loss, val_acc = evaluate(model, x[idx_val], y[idx_val])
        run.steps.append(step)
        run.seconds.append(elapsed)
        run.train_loss.append(total / batches)
        run.val_loss.append(val_loss)
        run.val_accuracy = val_acc
        if not (math.isfinite(val_loss) and math.isfinite(total)):
            run.diverged = True
            return run
    return run


def pick_rate(name: str, seed0: dict[float, Run], result: Comparison) -> float:
    """Record the grid scores of `name` (finished rates only) and the best rate; returns it."""
    scores = {
        lr: r.val_loss[-1] if r.val_loss and not r.diverged else math.inf for lr, r in seed0.items()
    }
    best = min(scores, key=scores.get)
    result.grid[name], result.best_lr[name] = scores, best
    result.runs.append(seed0[best])
    return best


def compare(data: ImageTensors, cfg: CompareConfig, ctx: JobContext | None = None) -> Comparison:
    """Tune each optimizer's rate on the grid (seed 0), then train the other seeds at it.
    A stop at any moment returns every run that finished: during a rate sweep, the rates
    tried so far count as that optimizer's grid; a run cut short by the stop is left out.
    On a CPU it runs on RACE_THREADS threads (see there)."""
    threads = RACE_THREADS if data.x.device.type == "cpu" else dev.cpu_threads()
    with dev.torch_threads(threads):
        return _compare(data, cfg, ctx)


def _compare(data: ImageTensors, cfg: CompareConfig, ctx: JobContext | None) -> Comparison:
    idx_train, idx_val, _ = datasets.split(data.y, 0, val=cfg.val_share, test=0)
    x = data.floats()  # once for every run
    result, done = Comparison(cfg), 0

    def stopped() -> bool:
        return ctx is not None and ctx.should_stop()

    def finished(run: Run) -> None:
        nonlocal done
        done += 1
        if ctx is not None:
            ctx.report(done / cfg.runs, f"{run.optimizer} at lr {run.lr:.2g}, seed {run.seed}")
            ctx.log(
                optimizer=run.optimizer,
                lr=run.lr,
                seed=run.seed,
                val_loss=run.val_loss[-1] if run.val_loss else math.nan,
            )

    def complete(run: Run) -> bool:
        return run.diverged or len(run.val_loss) == cfg.epochs

    for name in cfg.optimizers:
        base = optimizers.spec(name).default_lr
        seed0: dict[float, Run] = {}
        # 1) the rate sweep at seed 0
        for mult in cfg.lr_multipliers:
            run = train_run(data, x, idx_train, idx_val, name, base * mult, 0, cfg, ctx)
            if complete(run):
                seed0[run.lr] = run
                finished(run)
            if stopped():
                break
        if seed0:
            best = pick_rate(name, seed0, result)
        if stopped():
            result.stopped = True
            return result
        # 2) the other seeds at the chosen rate
        for seed in range(1, cfg.seeds):
            run = train_run(data, x, idx_train, idx_val, name, best, seed, cfg, ctx)
            if complete(run):
                result.runs.append(run)
                finished(run)
            if stopped():
                result.stopped = True
                return result
    return result


def curves(result: Comparison) -> dict[str, list[dict]]:
    """optimizer -> one {step, seconds, train, val} per seed, for charts.mean_bands."""
    out: dict[str, list[dict]] = {}
    for run in result.runs:
        out.setdefault(run.optimizer, []).append(
            {
                "step": run.steps,
                "seconds": run.seconds,
                "train": run.train_loss,
                "val": run.val_loss,
            }
        )
    return out


CURVE_AXES = {"step": "step", "training seconds": "seconds"}  # x-axis label -> curve key


def curve_figure(result: Comparison, x: str = "step"):
    """Validation and training loss against `x` (a CURVE_AXES label), one plotly figure."""
    from core.optim import charts

    return charts.mean_bands(curves(result), CURVE_AXES[x], x)


def curve_figures(result: Comparison) -> dict:
    """name -> plotly figure: the losses against step and against training time."""
    return {f"loss_by_{CURVE_AXES[x]}": curve_figure(result, x) for x in CURVE_AXES}


def record(result: Comparison, seconds: float) -> None:
    """Record the race in the run store (tool "optimizers"); sets run_id or not_recorded."""
    from core import runs

    rows = summary(result)
    losses = [r["Val loss (mean)"] for r in rows if math.isfinite(r["Val loss (mean)"])]
    try:
        result.run_id = runs.record(
            "optimizers",
            RunRecord(
                name="real model: " + ", ".join(result.best_lr),
                params={
                    "kind": "real model (MLP on digits)",
                    "config": asdict(result.config),
                    "tuned_rates": result.best_lr,
                    "stopped": result.stopped,
                },
                metrics={"best_val_loss": min(losses, default=math.nan), "seconds": seconds},
                tables={"results": rows},
                figures=curve_figures(result) if result.runs else None,
                status="KILLED" if result.stopped else "FINISHED",
            ),
        )
    except runs.StoreError as err:
        result.not_recorded = str(err)
    except Exception as err:  # the race itself is kept and shown whatever the store does
        result.not_recorded = f"{type(err).__name__}: {err}"


def compare_and_record(data: ImageTensors, cfg: CompareConfig, ctx: JobContext) -> Comparison:
    """The job's target: the race, then its record in the store when it ends."""
    t0 = time.perf_counter()
    result = compare(data, cfg, ctx)
    ctx.report(1.0, "Recording the run")
    record(result, time.perf_counter() - t0)
    return result


def summary(result: Comparison) -> list[dict]:
    """One row per optimizer: best rate, final validation accuracy (mean and spread over
    seeds), final validation loss, training time, and whether the best rate sat at the edge
    of the grid (then a wider grid may do better)."""
    rows = []
    for name in result.best_lr:
        grid = list(result.grid[name])
        runs = [r for r in result.runs if r.optimizer == name and r.val_loss]
        acc = torch.tensor([r.val_accuracy for r in runs], dtype=torch.float64)
        rows.append(
            {
                "Optimizer": name,
                "Best learning rate": result.best_lr[name],
                "Rates tried": len(grid),
                "Seeds": len(runs),
                "Val accuracy (mean)": acc.mean().item(),
                "Val accuracy (std)": acc.std().item() if len(runs) > 1 else 0.0,
                "Val loss (mean)": sum(r.val_loss[-1] for r in runs) / len(runs),
                "Train time per run (s)": sum(r.seconds[-1] for r in runs) / len(runs),
                "Best rate at grid edge": result.best_lr[name] in (min(grid), max(grid)),
            }
        )
    return rows


def to_csv(rows: list[dict]) -> str:
    """The summary rows as CSV text with a header."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else [])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
