"""Optimizers on a real model: the same small MLP trained on digits with each optimizer,
its learning rate picked from a small grid, then several seeds at that rate; the summary
table, the loss curves and the race's record in the run store.

Runs inside a `core.jobs` worker (or anywhere that passes a `Progress`): it checks for Stop
every step and returns what it has finished. Data arrive as tensors already on the device
(`core.cache.digits`); batches are index slices, no DataLoader.

    result = compare_and_record(data, CompareConfig(seeds=2), progress)
    summary(result)        # one row per optimizer; result.recorded: its run, or why not
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
from core.optim import registry
from core.progress import QUIET, Progress
from core.runs.types import Recorded, RunRecord
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
            registry.spec(name)
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


@dataclass(kw_only=True)
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


@dataclass(kw_only=True)
class Comparison:
    """Everything finished so far."""

    config: CompareConfig
    grid: dict[str, dict[float, float]] = field(default_factory=dict)  # opt -> lr -> val loss
    best_lr: dict[str, float] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)  # the seeds at each best rate
    stopped: bool = False
    recorded: Recorded | None = None  # its run in the store, or why not; None until recorded


@dataclass(frozen=True, kw_only=True)
class RaceData:
    """The images as the race trains on them, and its split (indices into x and y)."""

    x: torch.Tensor  # (N, C, H, W) floats on the device
    y: torch.Tensor  # (N,) class indices
    classes: int  # how many classes y counts
    train: torch.Tensor  # indices of the training split
    val: torch.Tensor  # indices of the validation split


def race_data(data: ImageTensors, val_share: float) -> RaceData:
    """The float images, once for every run, and a stratified train/validation split."""
    train, val, _ = datasets.split(data.y, 0, val=val_share, test=0)
    return RaceData(x=data.floats(), y=data.y, classes=len(data.classes), train=train, val=val)


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


def train_epoch(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    data: RaceData,
    order: torch.Tensor,
    batch_size: int,
    progress: Progress,
) -> tuple[float, int] | None:
    """One pass over the training indices in `order`: (summed batch loss, batches), or None
    when `progress` says stop part-way."""
    total, batches = 0.0, 0
    for start in range(0, len(order), batch_size):
        # checked every step, so Stop answers within one batch
        if progress.should_stop():
            return None
        # a batch is an index slice: the images are on the device already
        batch = order[start : start + batch_size]
        loss = nn.functional.cross_entropy(model(data.x[batch]), data.y[batch])
        # set_to_none frees the old gradients instead of writing zeros into them
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        # .item() waits for the device; the epoch's mean loss needs it, and this model is tiny
        total, batches = total + loss.item(), batches + 1
    return total, batches


def train_run(
    data: RaceData,
    name: str,
    lr: float,
    seed: int,
    cfg: CompareConfig,
    progress: Progress = QUIET,
) -> Run:
    """One run of optimizer `name` at rate `lr`; stops early, keeping its curves, when
    `progress` says stop or the loss diverges."""
    # the seed fixes the initial weights: at one seed every optimizer starts from the same net
    torch.manual_seed(seed)
    model = mlp(data.x[0].numel(), cfg.hidden, data.classes).to(data.x.device)
    opt = registry.spec(name).build(model.parameters(), lr)
    run, elapsed = Run(optimizer=name, lr=lr, seed=seed), 0.0
    # the batch order has its own generator, on the CPU: the same order on every device
    gen = torch.Generator().manual_seed(seed)
    for _ in range(cfg.epochs):
        t0 = time.perf_counter()
        # a new shuffle each epoch, its indices moved to where the images are
        order = data.train[torch.randperm(len(data.train), generator=gen).to(data.x.device)]
        epoch = train_epoch(model, opt, data, order, cfg.batch_size, progress)
        if epoch is None:  # stopped: a run cut short is not one to compare
            return run
        total, batches = epoch
        # the clock covers training only: evaluation costs every optimizer the same
        elapsed += time.perf_counter() - t0
        # scored on the held-out split after every epoch: the curves the race compares
        val_loss, run.val_accuracy = evaluate(model, data.x[data.val], data.y[data.val])
        run.steps.append((run.steps[-1] if run.steps else 0) + batches)
        run.seconds.append(elapsed)
        run.train_loss.append(total / batches)
        run.val_loss.append(val_loss)
        # a NaN or inf loss never comes back: stop here and mark the rate as diverged
        if not (math.isfinite(val_loss) and math.isfinite(total)):
            run.diverged = True
            return run
    return run


class Tally:
    """Counts finished runs and tells `progress` about each (a bar, and a row for the page)."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0

    def finished(self, run: Run) -> None:
        self.done += 1
        self.progress.report(
            self.done / self.total, f"{run.optimizer} at lr {run.lr:.2g}, seed {run.seed}"
        )
        self.progress.log(
            optimizer=run.optimizer,
            lr=run.lr,
            seed=run.seed,
            val_loss=run.val_loss[-1] if run.val_loss else math.nan,
        )


def pick_rate(name: str, seed0: dict[float, Run], result: Comparison) -> float:
    """Record the grid scores of `name` (finished rates only) and the best rate; returns it."""
    scores = {
        lr: r.val_loss[-1] if r.val_loss and not r.diverged else math.inf for lr, r in seed0.items()
    }
    best = min(scores, key=scores.get)
    result.grid[name], result.best_lr[name] = scores, best
    result.runs.append(seed0[best])
    return best


def compare(data: ImageTensors, cfg: CompareConfig, progress: Progress = QUIET) -> Comparison:
    """Tune each optimizer's rate on the grid (seed 0), then train the other seeds at it.
    A stop at any moment returns every run that finished: during a rate sweep, the rates
    tried so far count as that optimizer's grid; a run cut short by the stop is left out.
    On a CPU it runs on RACE_THREADS threads (see there)."""
    threads = RACE_THREADS if data.x.device.type == "cpu" else dev.cpu_threads()
    with dev.torch_threads(threads):
        return race_all(race_data(data, cfg.val_share), cfg, progress)


def race_all(data: RaceData, cfg: CompareConfig, progress: Progress = QUIET) -> Comparison:
    """Each optimizer in turn: its rate sweep at seed 0, then its other seeds at the best rate."""
    result, tally = Comparison(config=cfg), Tally(progress, cfg.runs)

    def complete(run: Run) -> bool:
        return run.diverged or len(run.val_loss) == cfg.epochs

    for name in cfg.optimizers:
        base, seed0 = registry.spec(name).default_lr, {}
        for mult in cfg.lr_multipliers:
            run = train_run(data, name, base * mult, 0, cfg, progress)
            if complete(run):
                seed0[run.lr] = run
                tally.finished(run)
            if progress.should_stop():
                break
        if seed0:
            best = pick_rate(name, seed0, result)
        for seed in range(1, cfg.seeds):
            if progress.should_stop():
                break
            run = train_run(data, name, best, seed, cfg, progress)
            if complete(run):
                result.runs.append(run)
                tally.finished(run)
        if progress.should_stop():
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


def run_record(result: Comparison, seconds: float) -> RunRecord:
    """The race as a run of kind "optimizers" (KILLED when stopped); `seconds` it took."""
    rows = summary(result)
    losses = [r["Val loss (mean)"] for r in rows if math.isfinite(r["Val loss (mean)"])]
    return RunRecord(
        name="real model: " + ", ".join(result.best_lr),
        params={
            "kind": "real model (MLP on digits)",
            "config": asdict(result.config),
            "tuned_rates": result.best_lr,
            "stopped": result.stopped,
        },
        metrics={"best_val_loss": min(losses, default=math.nan), "seconds": seconds},
        tables={"results": rows},
        figures=curve_figures(result) if result.runs else {},
        status="KILLED" if result.stopped else "FINISHED",
    )


def compare_and_record(
    data: ImageTensors, cfg: CompareConfig, progress: Progress = QUIET
) -> Comparison:
    """The job's target: the race, then its record in the store when it ends (a store that
    fails loses nothing: `recorded` says why and the race is returned whole)."""
    from core import runs

    t0 = time.perf_counter()
    params = {"kind": "real model (MLP on digits)", "config": asdict(cfg)}
    with runs.follow("optimizers", progress, name="real model race", params=params) as followed:
        result = compare(data, cfg, followed)  # each finished run logged live, by its number
    progress.report(1.0, "Recording the run")
    result.recorded = followed.finish(run_record(result, time.perf_counter() - t0))
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
