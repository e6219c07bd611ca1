"""The image classifier: a configurable CNN, its training loop, evaluation, Grad-CAM,
prediction and export (safetensors + JSON, ONNX).

Data stay on the device as `core.data.ImageTensors`: a batch is an index slice and the
augmentation (flips, small shifts) runs on the device. Training takes a `JobContext`, checks
Stop every batch and always hands back the best model seen so far.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from core import device as dev
from core import optimizers
from core.data import ImageTensors
from core.jobs import JobContext

# ---- model --------------------------------------------------------------------------------


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class TrainConfig:
    """How to train."""

    optimizer: str = "AdamW"  # a name in core.optimizers.REGISTRY
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


@dataclass
class Epoch:
    """One epoch's figures."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    images_per_s: float  # training throughput this epoch
    seconds: float  # wall time since the start of training


@dataclass
class TrainResult:
    """What training leaves, whether it finished, stopped or failed."""

    model: nn.Module  # the best model seen (lowest validation loss), in eval mode, on CPU
    history: list[Epoch] = field(default_factory=list)
    best_epoch: int = -1
    reason: str = "done"  # done, early stop, stopped, diverged, out of memory
    message: str = ""  # for the page
    seconds: float = 0.0  # training wall time
    images_seen: int = 0  # training images processed

    @property
    def images_per_s(self) -> float:
        return self.images_seen / self.seconds if self.seconds > 0 else 0.0


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


def train_classifier(
    data: ImageTensors,
    splits: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    model_cfg: CNNConfig,
    cfg: TrainConfig,
    ctx: JobContext | None = None,
) -> TrainResult:
    """Train on splits[0], pick the best epoch on splits[1]; report every epoch to `ctx`."""
    device = data.device
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    train_idx, val_idx, _ = splits
    mean, std = channel_stats(data, train_idx)
    model = build_cnn(model_cfg, mean, std).to(device)
    if device == "cuda":
        model = model.to(memory_format=torch.channels_last)
    opt = optimizers.spec(cfg.optimizer).build(
        model.parameters(), cfg.lr, {"weight_decay": cfg.weight_decay}
    )
    steps_per_epoch = math.ceil(len(train_idx) / cfg.batch_size)
    sched = (
        torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.epochs * steps_per_epoch)
        if cfg.schedule == "one-cycle"
        else None
    )
    result = TrainResult(model=model)
    best_loss, best_state, waited, t_start = math.inf, _snapshot(model), 0, time.perf_counter()
    try:
        for epoch in range(cfg.epochs):
            model.train()
            t0 = time.perf_counter()
            order = train_idx[torch.randperm(len(train_idx), generator=gen).to(device)]
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device)
            for step, s in enumerate(range(0, len(order), cfg.batch_size)):
                if ctx is not None and ctx.should_stop():
                    result.reason, result.message = (
                        "stopped",
                        "Stopped: kept the best model so far.",
                    )
                    raise _Halt
                batch = order[s : s + cfg.batch_size]
                x = augment(data.floats(batch), cfg.shift, cfg.flip, gen)
                if device == "cuda":
                    x = x.contiguous(memory_format=torch.channels_last)
                with dev.autocast(device):
                    logits = model(x)
                    loss = F.cross_entropy(
                        logits.float(), data.y[batch], label_smoothing=cfg.label_smoothing
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if sched is not None:
                    sched.step()
                loss_sum += loss.detach() * len(batch)
                correct += (logits.argmax(1) == data.y[batch]).sum()
                result.images_seen += len(batch)
                if step % 20 == 0 and not torch.isfinite(loss_sum):
                    raise _Diverged
                if ctx is not None:
                    done = (epoch + (step + 1) / steps_per_epoch) / cfg.epochs
                    ctx.report(done, f"epoch {epoch + 1}/{cfg.epochs}")
            if not torch.isfinite(loss_sum):
                raise _Diverged
            train_s = time.perf_counter() - t0
            probs, val_loss = predict(model, data, val_idx)
            val_acc = (probs.argmax(1) == data.y[val_idx]).float().mean().item()
            row = Epoch(
                epoch + 1,
                loss_sum.item() / len(order),
                correct.item() / len(order),
                val_loss,
                val_acc,
                len(order) / train_s,
                time.perf_counter() - t_start,
            )
            result.history.append(row)
            if ctx is not None:
                ctx.log(**asdict(row))
            if val_loss < best_loss:
                best_loss, best_state, waited = val_loss, _snapshot(model), 0
                result.best_epoch = row.epoch
            else:
                waited += 1
                if cfg.patience and waited >= cfg.patience:
                    result.reason = "early stop"
                    result.message = (
                        f"Stopped early: no better validation loss for {waited} epochs."
                    )
                    break
    except _Halt:
        pass
    except _Diverged:
        result.reason = "diverged"
        result.message = (
            f"The loss became NaN or infinite at a learning rate of {cfg.lr:g}: training stopped. "
            "Try a learning rate 3-10x lower."
        )
    except torch.OutOfMemoryError:
        result.reason = "out of memory"
        result.message = (
            f"The GPU ran out of memory at batch size {cfg.batch_size}: try a smaller batch "
            "or a narrower model. The best model so far is kept."
        )
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    result.seconds = time.perf_counter() - t_start
    model.load_state_dict(best_state)
    result.model = model.to("cpu", memory_format=torch.contiguous_format).eval()
    return result


class _Halt(Exception):
    """Stop pressed."""


class _Diverged(Exception):
    """Loss not finite."""


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
        (pred == true).float().mean().item(),
        loss,
        conf.tolist(),
        precision,
        recall,
        pred.tolist(),
        probs.max(1).values.cpu().tolist(),
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


def prepare_image(img, channels: int, size: int) -> torch.Tensor:
    """A PIL image as a (C, size, size) float tensor in [0, 1], as training saw images."""
    from PIL import Image

    img = img.convert("L" if channels == 1 else "RGB").resize(
        (size, size), Image.Resampling.BILINEAR
    )
    import numpy as np

    x = torch.from_numpy(np.asarray(img, dtype=np.float32).reshape(size, size, -1).copy())
    return x.permute(2, 0, 1) / 255


@torch.inference_mode()
def top_k(model: nn.Module, image: torch.Tensor, classes: tuple[str, ...], k: int = 3):
    """[(class, probability)] for the k likeliest classes of one (C, H, W) image."""
    probs = model.eval()(image[None]).softmax(1)[0]
    p, i = probs.topk(min(k, len(classes)))
    return [(classes[j], float(q)) for q, j in zip(p.tolist(), i.tolist(), strict=True)]


# ---- export -------------------------------------------------------------------------------


def export_safetensors(model: nn.Module, cfg: CNNConfig, classes) -> tuple[bytes, str]:
    """(weights as safetensors bytes, JSON with the config, class names and preprocessing)."""
    from safetensors.torch import save

    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    meta = {
        "format": "ai-dashboard-cnn/1",
        "config": asdict(cfg),
        "classes": list(classes),
        "preprocessing": {
            "resize": [cfg.image_size, cfg.image_size],
            "mode": "L" if cfg.in_channels == 1 else "RGB",
            "scale": "pixel / 255",
            "normalize": "inside the model (Normalize layer: mean, std buffers)",
        },
    }
    return save(state), json.dumps(meta, indent=2)


def load_safetensors(weights: bytes, meta_json: str) -> tuple[nn.Sequential, CNNConfig, list[str]]:
    """A model saved by `export_safetensors`; ValueError with a clear message if it is not one."""
    from safetensors.torch import load

    try:
        meta = json.loads(meta_json)
        cfg = CNNConfig(**meta["config"])
        classes = list(meta["classes"])
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
    return model.eval(), cfg, classes


def export_onnx(model: nn.Module, cfg: CNNConfig) -> bytes:
    """The model as ONNX (input 'image' (batch, C, H, W) floats in [0, 1]; output 'logits')."""
    import tempfile
    from pathlib import Path

    example = torch.rand(2, cfg.in_channels, cfg.image_size, cfg.image_size)
    batch = torch.export.Dim("batch", min=1, max=65536)
    program = torch.onnx.export(
        model.eval(),
        (example,),
        dynamo=True,
        input_names=["image"],
        output_names=["logits"],
        dynamic_shapes=({0: batch},),
        verbose=False,
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        program.save(str(path))
        return path.read_bytes()


# ---- pictures for the page ----------------------------------------------------------------


def picture(image: torch.Tensor, scale: int = 8):
    """A (C, H, W) image in [0, 1] as an (H*scale, W*scale, 3) uint8 array, pixels kept sharp."""
    import numpy as np

    x = image.detach().float().clamp(0, 1).cpu()
    x = x.expand(3, -1, -1) if x.shape[0] == 1 else x
    arr = (x.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    return arr.repeat(scale, 0).repeat(scale, 1)


def cam_overlay(image: torch.Tensor, cam: torch.Tensor, scale: int = 8, alpha: float = 0.5):
    """`picture(image)` with the Grad-CAM heat (0 blue .. 1 red) blended on top."""
    import numpy as np

    heat = cam.detach().cpu().numpy()
    colour = np.stack([heat, 1 - np.abs(2 * heat - 1), 1 - heat], axis=-1)  # blue-green-red
    colour = (colour * 255).astype(np.uint8).repeat(scale, 0).repeat(scale, 1)
    base = picture(image, scale)
    return ((1 - alpha) * base + alpha * colour).astype(np.uint8)
