"""Training the CNN: how to train (`TrainConfig`), the loop (`train_classifier`), what it
leaves (`TrainResult`, one `Epoch` row per epoch) and the advice when a run goes wrong.

Data stay on the device as `core.vision.data.ImageTensors`: a batch is an index slice and the
augmentation (flips, small shifts) runs on the device. Training takes a `Progress`, checks
Stop every batch and always hands back the best model seen so far.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from core import device as dev
from core.distributed import TrainHooks
from core.optim import registry
from core.progress import QUIET, Progress
from core.vision.data import ImageTensors
from core.vision.model import CNNConfig, build_cnn, predict


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """How to train."""

    optimizer: str = "AdamW"  # a name in core.optim.registry.REGISTRY
    lr: float = 1e-2  # peak learning rate
    batch_size: int = 128
    epochs: int = 15
    schedule: str = "one-cycle"  # or "constant"
    label_smoothing: float = 0.0
    weight_decay: float = 5e-4
    patience: int = 8  # epochs without a better validation loss before stopping; 0 = never
    seed: int = 0
    flip: bool = False  # random horizontal flips (wrong for digits and text)
    shift: int = 1  # random shifts of up to this many pixels; 0 = off

    def __post_init__(self) -> None:
        registry.spec(self.optimizer)
        if not (0 < self.lr <= 10 and math.isfinite(self.lr)):
            raise ValueError(f"Learning rate must be in (0, 10], got {self.lr}.")
        if not 1 <= self.batch_size <= 65536 or not 1 <= self.epochs <= 1000:
            raise ValueError("Batch size must be 1-65,536 and epochs 1-1,000.")
        if self.schedule not in ("one-cycle", "constant"):
            raise ValueError(f"Schedule must be one-cycle or constant, got {self.schedule!r}.")
        if not 0 <= self.label_smoothing < 1 or self.weight_decay < 0 or self.patience < 0:
            raise ValueError("Label smoothing must be in [0, 1); decay and patience >= 0.")

    def describe(self) -> str:
        """'AdamW at lr 0.01, batch 128, 15 epochs one-cycle, seed 0'."""
        return (
            f"{self.optimizer} at lr {self.lr:g}, batch {self.batch_size}, {self.epochs} epochs "
            f"{self.schedule}, seed {self.seed}"
        )


@dataclass(kw_only=True)
class Epoch:
    """One epoch's figures."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    images_per_s: float  # training images per training second so far (validation excluded)
    seconds: float  # wall time since the start of training


@dataclass(kw_only=True)
class TrainResult:
    """What training leaves, whether it finished, stopped or failed."""

    model: nn.Module  # the best model seen (lowest validation loss), in eval mode, on CPU
    history: list[Epoch] = field(default_factory=list)
    best_epoch: int = -1
    reason: str = "done"  # done, early stop, stopped, did not learn, diverged, out of memory
    message: str = ""  # for the page
    seconds: float = 0.0  # wall time of the whole run, validation included
    train_seconds: float = 0.0  # time spent in training steps (validation excluded)
    images_seen: int = 0  # training images processed

    @property
    def images_per_s(self) -> float:
        """Training images per training second: the figure the live progress shows."""
        return self.images_seen / self.train_seconds if self.train_seconds > 0 else 0.0


def augment(x: torch.Tensor, shift: int, flip: bool, gen: torch.Generator) -> torch.Tensor:
    """Random shifts (zero-padded, whole pixels) and flips, per image, on x's device."""
    if flip:
        mask = torch.rand(x.shape[0], generator=gen).to(x.device) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    if shift > 0:
        b, _, h, w = x.shape
        padded = F.pad(x, (shift, shift, shift, shift))
        dx = torch.randint(0, 2 * shift + 1, (b,), generator=gen).to(x.device)
        dy = torch.randint(0, 2 * shift + 1, (b,), generator=gen).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device)[None])[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=x.device)[None])[:, None, None, :]
        batch = torch.arange(b, device=x.device)[:, None, None, None]
        chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        x = padded[batch, chans, rows, cols]
    return x


def channel_stats(data: ImageTensors, idx: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the training images."""
    x = data.floats(idx)
    return x.mean((0, 2, 3)).tolist(), x.std((0, 2, 3)).clamp_min(1e-3).tolist()


def suggested_lr(cfg: TrainConfig) -> float:
    """A learning rate to try after a run that did not learn: lower if the rate was above
    the optimizer's usual range, higher if below it."""
    usual = registry.spec(cfg.optimizer).default_lr
    return cfg.lr * 10 if cfg.lr < usual else min(cfg.lr / 10, usual * 10)


def chance_accuracy(data: ImageTensors, idx: torch.Tensor) -> float:
    """Accuracy of always guessing the commonest class among images `idx`."""
    counts = torch.bincount(data.y[idx].cpu(), minlength=len(data.classes))
    return counts.max().item() / max(len(idx), 1)


class _Halt(Exception):
    """Stop pressed."""


class _Diverged(Exception):
    """Loss not finite."""


@dataclass(kw_only=True)
class _Loop:
    """What the epochs share: the model, its optimizer, the best weights and the counters."""

    model: nn.Module  # validated, snapshotted and returned
    stepped: nn.Module  # what the steps call: the model, or DistributedDataParallel around it
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler | None  # None: a constant rate
    gen: torch.Generator  # shuffles and augmentation
    progress: Progress
    result: TrainResult
    train_idx: torch.Tensor  # this process's training images
    steps_per_epoch: int
    first_epoch: int = 0  # 0-based; later when resumed from a checkpoint
    best_loss: float = math.inf
    best_state: dict = field(default_factory=dict)
    waited: int = 0  # epochs since the best validation loss
    t_start: float = field(default_factory=time.perf_counter)


def _snapshot(model: nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _optimizer_and_schedule(model: nn.Module, cfg: TrainConfig, steps: int):
    """(optimizer, one-cycle scheduler or None) for `steps` optimizer steps in all."""
    opt = registry.spec(cfg.optimizer).build(
        model.parameters(), cfg.lr, {"weight_decay": cfg.weight_decay}
    )
    if cfg.schedule != "one-cycle":
        return opt, None
    return opt, torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=steps)


def _start(
    data: ImageTensors,
    train_idx: torch.Tensor,
    model_cfg: CNNConfig,
    cfg: TrainConfig,
    progress: Progress,
    hooks: TrainHooks,
) -> _Loop:
    """The model, optimizer and counters of a new run, or of one resumed from a checkpoint."""
    # one seed fixes the initial weights, the shuffles and the augmentation: a run repeats
    torch.manual_seed(cfg.seed)
    # the model normalises with the training images' own statistics, and exports carry them
    model = build_cnn(model_cfg, *channel_stats(data, train_idx)).to(data.device)
    if data.device == "cuda":  # cuDNN's convolutions are fastest on NHWC tensors
        model = model.to(memory_format=torch.channels_last)
    # under torchrun each rank trains on its own share; the schedule counts this rank's steps
    local_idx = hooks.shard(train_idx)
    steps_per_epoch = math.ceil(len(local_idx) / cfg.batch_size)
    opt, sched = _optimizer_and_schedule(model, cfg, cfg.epochs * steps_per_epoch)
    loop = _Loop(
        model=model,
        stepped=hooks.wrap(model),
        opt=opt,
        sched=sched,
        gen=torch.Generator().manual_seed(cfg.seed),
        progress=progress,
        result=TrainResult(model=model),
        train_idx=local_idx,
        steps_per_epoch=steps_per_epoch,
    )
    # a restarted torchrun group picks up weights, optimizer, schedule and history where it was
    loop.first_epoch = hooks.resume(model, opt, sched, loop.gen, loop.result)
    loop.best_loss, loop.best_state, loop.waited = hooks.best(model, loop.result)
    return loop


def _step(loop: _Loop, x: torch.Tensor, y: torch.Tensor, smoothing: float):
    """One optimizer step on the batch (x, y); returns (loss, logits)."""
    # mixed precision where the device has it; the loss in float32 all the same
    with dev.autocast(x.device.type):
        logits = loop.stepped(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=smoothing)
    loop.opt.zero_grad(set_to_none=True)
    loss.backward()
    loop.opt.step()
    # one-cycle moves the rate every step, not every epoch
    if loop.sched is not None:
        loop.sched.step()
    return loss, logits


def _train_epoch(loop: _Loop, data: ImageTensors, cfg: TrainConfig, epoch: int):
    """One pass over the shuffled training images: (mean loss, accuracy). Checks Stop and
    reports progress every batch; raises _Halt or _Diverged."""
    device, result = data.device, loop.result
    loop.stepped.train()
    t0 = time.perf_counter()
    order = loop.train_idx[torch.randperm(len(loop.train_idx), generator=loop.gen).to(device)]
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device)
    try:
        for step, s in enumerate(range(0, len(order), cfg.batch_size)):
            # Stop is honoured within a batch, not at the end of a long epoch
            if loop.progress.should_stop():
                raise _Halt
            # a batch is an index slice of images already on the device; so is augmentation
            batch = order[s : s + cfg.batch_size]
            x = augment(data.floats(batch), cfg.shift, cfg.flip, loop.gen)
            if device == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            loss, logits = _step(loop, x, data.y[batch], cfg.label_smoothing)
            # running sums stay on the device: reading them would sync every batch
            loss_sum += loss.detach() * len(batch)
            correct += (logits.argmax(1) == data.y[batch]).sum()
            result.images_seen += len(batch)
            # a NaN check syncs with the device: every 20 batches, soon enough to stop a blow-up
            if step % 20 == 0 and not torch.isfinite(loss_sum):
                raise _Diverged
            # progress and speed as the final result will count them: training time only
            done = (epoch + (step + 1) / loop.steps_per_epoch) / cfg.epochs
            speed = result.images_seen / (result.train_seconds + time.perf_counter() - t0)
            loop.progress.report(done, f"Epoch {epoch + 1} of {cfg.epochs}", speed, "images")
    finally:  # a stopped epoch counts too, so images/s stays images over their time
        result.train_seconds += time.perf_counter() - t0
    if not torch.isfinite(loss_sum):
        raise _Diverged
    return loss_sum.item() / len(order), correct.item() / len(order)


def _validate(loop: _Loop, data, val_idx, epoch: int, train_loss: float, train_acc: float):
    """The epoch's row: its training figures beside the model's on the validation images."""
    probs, val_loss = predict(loop.model, data, val_idx)
    return Epoch(
        epoch=epoch + 1,
        train_loss=train_loss,
        train_accuracy=train_acc,
        val_loss=val_loss,
        val_accuracy=(probs.argmax(1) == data.y[val_idx]).float().mean().item(),
        images_per_s=loop.result.images_per_s,
        seconds=time.perf_counter() - loop.t_start,
    )


def _run_epochs(loop: _Loop, data, val_idx, cfg: TrainConfig, hooks: TrainHooks) -> None:
    """Epochs until the last, or until patience runs out; Stop and failures raise."""
    result = loop.result
    for epoch in range(loop.first_epoch, cfg.epochs):
        train_loss, train_acc = _train_epoch(loop, data, cfg, epoch)
        # every rank validates the same weights, so every rank takes the same decisions
        hooks.sync(loop.model)
        row = _validate(loop, data, val_idx, epoch, train_loss, train_acc)
        # the row feeds the live curves now, and the run store under torchrun
        result.history.append(row)
        loop.progress.log(**asdict(row))
        # a checkpoint per epoch: a restarted torchrun group resumes from here
        hooks.epoch_end(epoch, loop.model, loop.opt, loop.sched, loop.gen, result)
        # keep the best weights (lowest validation loss): what Stop or a blow-up leaves
        if row.val_loss < loop.best_loss:
            loop.best_loss, loop.best_state, loop.waited = row.val_loss, _snapshot(loop.model), 0
            result.best_epoch = row.epoch
            continue
        # no better for `patience` epochs: more would only overfit
        loop.waited += 1
        if cfg.patience and loop.waited >= cfg.patience:
            result.reason = "early stop"
            result.message = f"Stopped early: no better validation loss for {loop.waited} epochs."
            return


def _halt_message(result: TrainResult) -> str:
    if not result.history:
        return "Stopped before the first epoch finished: there is no trained model to keep."
    return f"Stopped: kept the best model so far (epoch {result.best_epoch})."


def _failure_message(err: Exception, cfg: TrainConfig) -> str:
    if isinstance(err, _Diverged):
        return (
            f"The loss became NaN or infinite at a learning rate of {cfg.lr:g}: training "
            "stopped. Try a learning rate 3-10x lower."
        )
    return (
        f"The GPU ran out of memory at batch size {cfg.batch_size}: try a smaller batch "
        "or a narrower model. The best model so far is kept."
    )


def _did_not_learn(result: TrainResult, chance: float, cfg: TrainConfig) -> str:
    """A warning when the best validation accuracy is no better than guessing, else ''."""
    best = max((e.val_accuracy for e in result.history), default=None)
    if best is None or best > chance + 0.05:
        return ""
    return (
        f"The model did not learn: its best validation accuracy ({best:.1%}) is no better "
        f"than guessing the commonest class ({chance:.1%}). Try a learning rate of "
        f"{suggested_lr(cfg):g}."
    )


def _finish(loop: _Loop, data: ImageTensors, val_idx, cfg: TrainConfig) -> TrainResult:
    """The result with the best weights on the CPU, and a warning if they only guess."""
    result = loop.result
    result.seconds = time.perf_counter() - loop.t_start
    # the best weights, not the last; on the CPU for export, Try it and the run store
    loop.model.load_state_dict(loop.best_state)
    result.model = loop.model.to("cpu", memory_format=torch.contiguous_format).eval()
    # a run that ended normally may still have learned nothing: say so, with a rate to try
    if result.reason in ("done", "early stop") and (
        warning := _did_not_learn(result, chance_accuracy(data, val_idx), cfg)
    ):
        result.reason, result.message = "did not learn", warning
    return result


def train_classifier(
    data: ImageTensors,
    splits: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    model_cfg: CNNConfig,
    cfg: TrainConfig,
    progress: Progress = QUIET,
    hooks: TrainHooks | None = None,
) -> TrainResult:
    """Train on splits[0], pick the best epoch on splits[1]; report every batch and log every
    epoch to `progress`, stop when it says so, and always return the best model seen. `hooks`:
    the distributed wrapper and checkpoints of `core.train` (none for the page)."""
    train_idx, val_idx, _ = splits
    hooks = hooks or TrainHooks()
    loop = _start(data, train_idx, model_cfg, cfg, progress, hooks)
    try:
        _run_epochs(loop, data, val_idx, cfg, hooks)
    except _Halt:
        loop.result.reason, loop.result.message = "stopped", _halt_message(loop.result)
    except (_Diverged, torch.OutOfMemoryError) as err:
        # the best weights so far are kept; the message says what to change
        loop.result.reason = "diverged" if isinstance(err, _Diverged) else "out of memory"
        loop.result.message = _failure_message(err, cfg)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return _finish(loop, data, val_idx, cfg)
