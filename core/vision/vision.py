"""The image classifier: a configurable CNN, its training loop, evaluation, Grad-CAM,
prediction and export (safetensors + JSON, ONNX).

Data stay on the device as `core.vision.data.ImageTensors`: a batch is an index slice and the
augmentation (flips, small shifts) runs on the device. Training takes a `JobContext`, checks
Stop every batch and always hands back the best model seen so far.
"""

from __future__ import annotations

import io
import json
import math
import time
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load, save
from torch import nn

from core import device as dev
from core.distributed import TrainHooks
from core.optim import optimizers
from core.progress import QUIET, Progress
from core.vision.data import ImageTensors

# ---- model --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CNNConfig:
    """The network's shape."""

    in_channels: int = 1  # 1 grayscale, 3 colour
    num_classes: int = 10
    image_size: int = 8  # pixels per side
    blocks: int = 2  # conv blocks (each: 2 x conv3x3-BN-ReLU, then 2x2 max-pool if it fits)
    width: int = 24  # channels of the first block; doubled by each further block
    batch_norm: bool = True
    dropout: float = 0.1  # before the classifier

    def __post_init__(self) -> None:
        if not 1 <= self.blocks <= 5:
            raise ValueError(f"Blocks must be 1-5, got {self.blocks}.")
        if not 4 <= self.width <= 512:
            raise ValueError(f"Width must be 4-512 channels, got {self.width}.")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"Dropout must be in [0, 1), got {self.dropout}.")
        if self.num_classes < 2 or self.in_channels not in (1, 3):
            raise ValueError("Need at least 2 classes and 1 or 3 input channels.")

    def describe(self) -> str:
        """'2 blocks x 24 channels, batch norm, dropout 0.1'."""
        norm = "batch norm" if self.batch_norm else "no batch norm"
        return f"{self.blocks} blocks x {self.width} channels, {norm}, dropout {self.dropout:g}"


class Normalize(nn.Module):
    """(x - mean) / std per channel; part of the model so exports carry the preprocessing."""

    def __init__(self, mean: list[float], std: list[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def build_cnn(cfg: CNNConfig, mean=None, std=None) -> nn.Sequential:
    """Normalize -> blocks -> global average pool -> dropout -> linear. Input (B, C, H, W)
    floats in [0, 1]; output (B, num_classes) logits."""
    mean = mean or [0.5] * cfg.in_channels
    std = std or [0.25] * cfg.in_channels
    layers: list[nn.Module] = [Normalize(mean, std)]
    c_in, size = cfg.in_channels, cfg.image_size
    for b in range(cfg.blocks):
        c_out = cfg.width * 2**b
        for _ in range(2):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=not cfg.batch_norm)]
            layers += [nn.BatchNorm2d(c_out)] if cfg.batch_norm else []
            layers += [nn.ReLU(inplace=True)]
            c_in = c_out
        if size >= 4:
            layers.append(nn.MaxPool2d(2))
            size //= 2
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(cfg.dropout)]
    layers.append(nn.Linear(c_in, cfg.num_classes))
    return nn.Sequential(*layers)


def last_conv_index(model: nn.Sequential) -> int:
    """Index of the last ReLU after a conv: Grad-CAM's target layer."""
    return max(i for i, m in enumerate(model) if isinstance(m, nn.ReLU))


# ---- training -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """How to train."""

    optimizer: str = "AdamW"  # a name in core.optim.optimizers.REGISTRY
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
        optimizers.spec(self.optimizer)
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


@dataclass
class Epoch:
    """One epoch's figures."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    images_per_s: float  # training images per training second so far (validation excluded)
    seconds: float  # wall time since the start of training


@dataclass
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


@torch.inference_mode()
def predict(model: nn.Module, data: ImageTensors, idx: torch.Tensor, batch: int = 1024):
    """(probabilities (n, classes), loss) of `model` on images `idx`."""
    model.eval()
    probs, loss = [], 0.0
    for s in range(0, len(idx), batch):
        part = idx[s : s + batch]
        logits = model(data.floats(part)).float()
        loss += F.cross_entropy(logits, data.y[part], reduction="sum").item()
        probs.append(logits.softmax(1))
    return torch.cat(probs), loss / max(len(idx), 1)


def _snapshot(model: nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


class _Halt(Exception):
    """Stop pressed."""


class _Diverged(Exception):
    """Loss not finite."""


def _optimizer_and_schedule(model: nn.Module, cfg: TrainConfig, steps: int):
    """(optimizer, one-cycle scheduler or None) for `steps` optimizer steps in all."""
    opt = optimizers.spec(cfg.optimizer).build(
        model.parameters(), cfg.lr, {"weight_decay": cfg.weight_decay}
    )
    if cfg.schedule != "one-cycle":
        return opt, None
    return opt, torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=steps)


@dataclass
class _Loop:
    """What the epochs share: the model, its optimizer and the run's counters."""

    model: nn.Module
    opt: torch.optim.Optimizer
    sched: object | None
    gen: torch.Generator
    result: TrainResult
    ctx: object
    steps_per_epoch: int
    t_start: float = field(default_factory=time.perf_counter)


def _step(loop: _Loop, x: torch.Tensor, y: torch.Tensor, smoothing: float):
    """One optimizer step on the batch (x, y): forward in mixed precision where the device
    has it, backward, step, schedule. Returns (loss, logits)."""
    with dev.autocast(x.device.type):
        logits = loop.model(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=smoothing)
    loop.opt.zero_grad(set_to_none=True)
    loss.backward()
    loop.opt.step()
    if loop.sched is not None:
        loop.sched.step()
    return loss, logits


def _train_epoch(loop: _Loop, data: ImageTensors, train_idx, cfg: TrainConfig, epoch: int):
    """One pass over the shuffled training images: (mean loss, accuracy). Checks Stop and
    reports progress every batch; raises _Halt or _Diverged."""
    device, result = data.device, loop.result
    loop.model.train()
    t0 = time.perf_counter()
    order = train_idx[torch.randperm(len(train_idx), generator=loop.gen).to(device)]
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device)
    try:
        for step, s in enumerate(range(0, len(order), cfg.batch_size)):
            if loop.ctx.should_stop():
                raise _Halt
            # a batch is an index slice; augmentation runs on the device
            batch = order[s : s + cfg.batch_size]
            x = augment(data.floats(batch), cfg.shift, cfg.flip, loop.gen)
            if device == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            loss, logits = _step(loop, x, data.y[batch], cfg.label_smoothing)
            # running sums stay on the device: no sync per batch
            loss_sum += loss.detach() * len(batch)
            correct += (logits.argmax(1) == data.y[batch]).sum()
            result.images_seen += len(batch)
            if step % 20 == 0 and not torch.isfinite(loss_sum):
                raise _Diverged
            # progress and speed as the final result will count it: training time only
            done = (epoch + (step + 1) / loop.steps_per_epoch) / cfg.epochs
            seconds = result.train_seconds + time.perf_counter() - t0
            speed = result.images_seen / seconds
            loop.ctx.report(done, f"Epoch {epoch + 1} of {cfg.epochs}", speed, "images")
    finally:  # a stopped epoch counts too, so images/s stays images over their time
        result.train_seconds += time.perf_counter() - t0
    if not torch.isfinite(loss_sum):
        raise _Diverged
    return loss_sum.item() / len(order), correct.item() / len(order)


def _halt_message(result: TrainResult) -> str:
    if not result.history:
        return "Stopped before the first epoch finished: there is no trained model to keep."
    return f"Stopped: kept the best model so far (epoch {result.best_epoch})."


def _failure_message(result: TrainResult, err: Exception, cfg: TrainConfig) -> str:
    if isinstance(err, _Diverged):
        return (
            f"The loss became NaN or infinite at a learning rate of {cfg.lr:g}: training "
            "stopped. Try a learning rate 3-10x lower."
        )
    return (
        f"The GPU ran out of memory at batch size {cfg.batch_size}: try a smaller batch "
        "or a narrower model. The best model so far is kept."
    )


def suggested_lr(cfg: TrainConfig) -> float:
    """A learning rate to try after a run that did not learn: lower if the rate was above
    the optimizer's usual range, higher if below it."""
    usual = optimizers.spec(cfg.optimizer).default_lr
    return cfg.lr * 10 if cfg.lr < usual else min(cfg.lr / 10, usual * 10)


def chance_accuracy(data: ImageTensors, idx: torch.Tensor) -> float:
    """Accuracy of always guessing the commonest class among images `idx`."""
    counts = torch.bincount(data.y[idx].cpu(), minlength=len(data.classes))
    return counts.max().item() / max(len(idx), 1)


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


def train_classifier(
    data: ImageTensors,
    splits: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    model_cfg: CNNConfig,
    cfg: TrainConfig,
    ctx: Progress | None = None,
    hooks: TrainHooks | None = None,
) -> TrainResult:
    """Train on splits[0], pick the best epoch on splits[1]; report every batch and log every
    epoch to `ctx`, stop when it says so, and always return the best model seen. `hooks`:
    the distributed wrapper and checkpoints of `core.train` (none for the page)."""
    train_idx, val_idx, _ = splits
    ctx = ctx or QUIET
    hooks = hooks or TrainHooks()  # train hook
    # setup: seeds, a model normalising with the training images' own statistics, optimizer
    torch.manual_seed(cfg.seed)
    model = build_cnn(model_cfg, *channel_stats(data, train_idx)).to(data.device)
    if data.device == "cuda":
        model = model.to(memory_format=torch.channels_last)
    local_idx = hooks.shard(train_idx)  # train hook: this rank's share
    steps_per_epoch = math.ceil(len(local_idx) / cfg.batch_size)
    opt, sched = _optimizer_and_schedule(model, cfg, cfg.epochs * steps_per_epoch)
    result = TrainResult(model=model)
    gen = torch.Generator().manual_seed(cfg.seed)
    loop = _Loop(
        model=hooks.wrap(model),
        opt=opt,
        sched=sched,
        gen=gen,
        result=result,
        ctx=ctx,
        steps_per_epoch=steps_per_epoch,
    )  # train hook
    start = hooks.resume(model, opt, sched, gen, result)  # train hook: from a checkpoint
    best_loss, best_state, waited = hooks.best(model, result)  # train hook
    try:
        for epoch in range(start, cfg.epochs):  # train hook: start
            # train one epoch, then validate
            train_loss, train_acc = _train_epoch(loop, data, local_idx, cfg, epoch)
            hooks.sync(model)  # train hook: every rank validates the same model
            probs, val_loss = predict(model, data, val_idx)
            val_acc = (probs.argmax(1) == data.y[val_idx]).float().mean().item()
            row = Epoch(
                epoch=epoch + 1,
                train_loss=train_loss,
                train_accuracy=train_acc,
                val_loss=val_loss,
                val_accuracy=val_acc,
                images_per_s=result.images_per_s,
                seconds=time.perf_counter() - loop.t_start,
            )
            result.history.append(row)
            ctx.log(**asdict(row))
            hooks.epoch_end(epoch, model, opt, sched, gen, result)  # train hook: checkpoint
            # keep the best model (lowest validation loss); stop when patience runs out
            if val_loss < best_loss:
                best_loss, best_state, waited = val_loss, _snapshot(model), 0
                result.best_epoch = row.epoch
                continue
            waited += 1
            if cfg.patience and waited >= cfg.patience:
                result.reason = "early stop"
                result.message = f"Stopped early: no better validation loss for {waited} epochs."
                break
    except _Halt:
        result.reason, result.message = "stopped", _halt_message(result)
    except (_Diverged, torch.OutOfMemoryError) as err:
        result.reason = "diverged" if isinstance(err, _Diverged) else "out of memory"
        result.message = _failure_message(result, err, cfg)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    # finish: the best weights on the CPU, and a warning if they are no better than guessing
    result.seconds = time.perf_counter() - loop.t_start
    model.load_state_dict(best_state)
    result.model = model.to("cpu", memory_format=torch.contiguous_format).eval()
    if result.reason in ("done", "early stop") and (
        warning := _did_not_learn(result, chance_accuracy(data, val_idx), cfg)
    ):
        result.reason, result.message = "did not learn", warning
    return result


# ---- evaluation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """Test-set results."""

    accuracy: float
    loss: float
    confusion: list[list[int]]  # [true][predicted] counts
    precision: list[float]  # per class
    recall: list[float]  # per class
    predicted: list[int]  # per test image
    confidence: list[float]  # probability of the predicted class, per test image


def evaluate(model: nn.Module, data: ImageTensors, idx: torch.Tensor) -> Evaluation:
    """Accuracy, confusion matrix, per-class precision and recall on images `idx`."""
    model = model.to(data.device)
    try:
        probs, loss = predict(model, data, idx)
    finally:
        model.to("cpu")
    pred, true = probs.argmax(1).cpu(), data.y[idx].cpu()
    k = len(data.classes)
    conf = torch.bincount(true * k + pred, minlength=k * k).view(k, k)
    tp = conf.diag().float()
    precision = (tp / conf.sum(0).clamp_min(1)).tolist()
    recall = (tp / conf.sum(1).clamp_min(1)).tolist()
    return Evaluation(
        accuracy=(pred == true).float().mean().item(),
        loss=loss,
        confusion=conf.tolist(),
        precision=precision,
        recall=recall,
        predicted=pred.tolist(),
        confidence=probs.max(1).values.cpu().tolist(),
    )


def grad_cam(model: nn.Sequential, image: torch.Tensor, target: int | None = None):
    """(heat map (H, W) in [0, 1], predicted class) for one (C, H, W) image in [0, 1]:
    Grad-CAM on the last conv layer, upsampled to the image size."""
    model = model.eval()
    cut = last_conv_index(model) + 1
    x = image[None].float().requires_grad_(False)
    features = model[:cut](x).detach().requires_grad_(True)
    logits = model[cut:](features)
    cls = int(logits.argmax(1)) if target is None else target
    (grad,) = torch.autograd.grad(logits[0, cls], features)
    weights = grad.mean((2, 3), keepdim=True)
    cam = F.relu((weights * features).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=image.shape[1:], mode="bilinear", align_corners=False)[0, 0]
    cam = cam - cam.min()
    return (cam / cam.max() if cam.max() > 0 else cam).detach(), int(logits.argmax(1))


def prepare_image(img: Image.Image, channels: int, size: int, invert: bool = False) -> torch.Tensor:
    """A PIL image as a (C, size, size) float tensor in [0, 1], as training saw images;
    `invert` turns dark-on-light into light-on-dark."""
    img = img.convert("L" if channels == 1 else "RGB").resize(
        (size, size), Image.Resampling.BILINEAR
    )
    x = torch.from_numpy(np.asarray(img, dtype=np.float32).reshape(size, size, -1).copy())
    x = x.permute(2, 0, 1) / 255
    return 1 - x if invert else x


def dark_background(images: torch.Tensor) -> bool:
    """True when the border pixels of (N, C, H, W) images in [0, 1] are mostly dark, as for
    digits drawn light on black."""
    border = torch.cat([images[..., 0, :], images[..., -1, :], images[..., 0], images[..., -1]], -1)
    return border.float().mean().item() < 0.5


@torch.inference_mode()
def top_k(model: nn.Module, image: torch.Tensor, classes: tuple[str, ...], k: int = 3):
    """[(class, probability)] for the k likeliest classes of one (C, H, W) image."""
    probs = model.eval()(image[None]).softmax(1)[0]
    p, i = probs.topk(min(k, len(classes)))
    return [(classes[j], float(q)) for q, j in zip(p.tolist(), i.tolist(), strict=True)]


# ---- export -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Classifier:
    """A trained model with what it needs to be used: its shape, class names and input."""

    model: nn.Sequential  # on the CPU, in eval mode
    config: CNNConfig
    classes: tuple[str, ...]
    dark_background: bool | None = None  # trained on light-on-dark images; None if unknown

    def expected_input(self) -> str:
        """One sentence for the page: what image this model takes."""
        size, kind = (
            self.config.image_size,
            "grayscale" if self.config.in_channels == 1 else "colour",
        )
        text = f"The model takes {size}x{size} {kind} images; yours is converted and resized."
        if self.dark_background:
            text += (
                " It learned light strokes on a dark background (like the digits): for dark "
                "ink on white paper, turn on Invert."
            )
        return text


def export_safetensors(c: Classifier) -> tuple[bytes, str]:
    """(weights as safetensors bytes, JSON with the config, class names and preprocessing)."""
    state = {k: v.contiguous() for k, v in c.model.state_dict().items()}
    cfg = c.config
    meta = {
        "format": "ai-dashboard-cnn/1",
        "config": asdict(cfg),
        "classes": list(c.classes),
        "preprocessing": {
            "resize": [cfg.image_size, cfg.image_size],
            "mode": "L" if cfg.in_channels == 1 else "RGB",
            "scale": "pixel / 255",
            "normalize": "inside the model (Normalize layer: mean, std buffers)",
            "dark_background": c.dark_background,
        },
    }
    return save(state), json.dumps(meta, indent=2)


def load_safetensors(weights: bytes, meta_json: str) -> Classifier:
    """A model saved by `export_safetensors`; ValueError with a clear message if it is not one."""
    try:
        meta = json.loads(meta_json)
        cfg = CNNConfig(**meta["config"])
        classes = tuple(meta["classes"])
        dark = meta.get("preprocessing", {}).get("dark_background")
        state = load(weights)
    except Exception as err:
        raise ValueError(
            f"Not a model exported by this page ({type(err).__name__}: {err})."
        ) from None
    model = build_cnn(cfg)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"The weights do not fit the saved configuration: {err}") from None
    return Classifier(model=model.eval(), config=cfg, classes=classes, dark_background=dark)


def export_onnx(model: nn.Module, cfg: CNNConfig) -> bytes:
    """The model as ONNX (input 'image' (batch, C, H, W) floats in [0, 1]; output 'logits').

    TorchScript-based exporter, deprecated since torch 2.9 but kept on purpose: for this plain
    Sequential it writes an equivalent graph in about 0.3 s where the dynamo exporter takes
    6-25 s on a 2-core CPU, and every recorded run exports one."""
    example = torch.rand(2, cfg.in_channels, cfg.image_size, cfg.image_size)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model.eval(),
            (example,),
            buffer,
            dynamo=False,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        )
    return buffer.getvalue()


# ---- pictures for the page ----------------------------------------------------------------


def picture(image: torch.Tensor, scale: int = 8):
    """A (C, H, W) image in [0, 1] as an (H*scale, W*scale, 3) uint8 array, pixels kept sharp."""
    x = image.detach().float().clamp(0, 1).cpu()
    x = x.expand(3, -1, -1) if x.shape[0] == 1 else x
    arr = (x.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    return arr.repeat(scale, 0).repeat(scale, 1)


def cam_overlay(image: torch.Tensor, cam: torch.Tensor, scale: int = 8, alpha: float = 0.5):
    """`picture(image)` with the Grad-CAM heat (0 blue .. 1 red) blended on top."""
    heat = cam.detach().cpu().numpy()
    colour = np.stack([heat, 1 - np.abs(2 * heat - 1), 1 - heat], axis=-1)  # blue-green-red
    colour = (colour * 255).astype(np.uint8).repeat(scale, 0).repeat(scale, 1)
    base = picture(image, scale)
    return ((1 - alpha) * base + alpha * colour).astype(np.uint8)
