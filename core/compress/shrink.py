"""Smaller CNNs from a trained one: remove channels (structured pruning, then a brief
fine-tune) or train a narrower student on the teacher's softened outputs (distillation).

Structured pruning uses `torch.nn.utils.prune.ln_structured` (L2 norm of each output
filter) to choose the channels, then builds the narrower network (core.vision.model's
`build_cnn` at the smaller width) and copies the kept channels in: a mask alone would shrink
nothing (pytorch #32928).
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

from core.compress.cnn import Built, CompressError, Context, Settings, count, torch_built
from core.vision.model import build_cnn
from core.vision.trainer import augment


def kept_channels(conv: nn.Conv2d, keep: int) -> torch.Tensor:
    """Indices of the `keep` output channels ln_structured (n=2) keeps, in order."""
    probe = copy.deepcopy(conv)
    prune.ln_structured(probe, "weight", amount=conv.out_channels - keep, n=2, dim=0)
    alive = probe.weight_mask.flatten(1).sum(1) > 0
    return alive.nonzero().flatten()


def narrower(model: nn.Sequential, cfg, width: int) -> nn.Sequential:
    """`model` (built by build_cnn from `cfg`) with each block's channels cut to `width` x 2^b,
    keeping the strongest filters and their weights."""
    small = build_cnn(replace(cfg, width=width))
    small[0].load_state_dict(model[0].state_dict())  # Normalize: mean and std
    keep_in = torch.arange(cfg.in_channels)
    keep = keep_in
    with torch.no_grad():
        for big, new in zip(model, small, strict=True):
            if isinstance(big, nn.Conv2d):
                keep = kept_channels(big, new.out_channels)
                new.weight.copy_(big.weight[keep][:, keep_in])
                if big.bias is not None:
                    new.bias.copy_(big.bias[keep])
                keep_in = keep
            elif isinstance(big, nn.BatchNorm2d):
                for name in ("weight", "bias", "running_mean", "running_var"):
                    getattr(new, name).copy_(getattr(big, name)[keep])
            elif isinstance(big, nn.Linear):
                new.weight.copy_(big.weight[:, keep_in])
                new.bias.copy_(big.bias)
    return small.eval()


def fit(
    model: nn.Module,
    ctx: Context,
    epochs: int,
    lr: float,
    teacher: nn.Module | None = None,
    temperature: float = 4.0,
    alpha: float = 0.7,
    seed: int = 0,
) -> nn.Module:
    """Train `model` on the training split (with the teacher's soft targets when given); the
    epoch with the best validation loss is kept. Stops early when ctx.should_stop()."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    train, val = ctx.splits[0], ctx.splits[1]
    x_all, y_all = ctx.data.floats(train).cpu(), ctx.data.y[train].cpu()
    x_val, y_val = ctx.data.floats(val).cpu(), ctx.data.y[val].cpu()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    batches = math.ceil(len(y_all) / 128)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=max(1, epochs * batches))
    best, best_loss = copy.deepcopy(model.state_dict()), float("inf")
    for _ in range(epochs):
        if ctx.should_stop():
            break
        model.train()
        for idx in torch.randperm(len(y_all), generator=gen).split(128):
            x = augment(x_all[idx], ctx.shift, ctx.flip, gen)
            logits = model(x)
            loss = F.cross_entropy(logits, y_all[idx])
            if teacher is not None:
                with torch.no_grad():
                    soft = (teacher(x) / temperature).softmax(1)
                kd = F.kl_div((logits / temperature).log_softmax(1), soft, reduction="batchmean")
                loss = alpha * temperature**2 * kd + (1 - alpha) * loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
        model.eval()
        with torch.no_grad():
            val_loss = F.cross_entropy(model(x_val), y_val).item()
        if val_loss < best_loss:
            best, best_loss = copy.deepcopy(model.state_dict()), val_loss
    model.load_state_dict(best)
    return model.eval()


def structured(ctx: Context, s: Settings) -> Built:
    """Remove `s.prune_amount` of every conv's channels, then fine-tune briefly."""
    cfg = ctx.classifier.config
    width = max(4, round(cfg.width * (1 - s.prune_amount)))
    if width >= cfg.width:
        raise CompressError(
            f"Pruning {s.prune_amount:.0%} of {cfg.width} channels leaves {width}: nothing removed."
        )
    model = narrower(ctx.classifier.model, cfg, width)
    fit(model, ctx, s.finetune_epochs, s.lr / 2, seed=s.seed)
    note = (
        f"Channels per block {cfg.width} -> {width} (x2 each further block), chosen by L2 norm, "
        f"then {s.finetune_epochs} epochs of fine-tuning."
    )
    return torch_built(ctx, model, f"structured pruning {s.prune_amount:.0%}", note)


def distil(ctx: Context, s: Settings) -> Built:
    """A student of width `s.student_width` (same blocks) trained on the teacher's outputs,
    started from the teacher's strongest channels (as structured pruning keeps them) unless
    `s.student_from_teacher` is off."""
    cfg = ctx.classifier.config
    teacher = ctx.classifier.model.eval()
    student = build_cnn(
        replace(cfg, width=s.student_width),
        teacher[0].mean.flatten().tolist(),
        teacher[0].std.flatten().tolist(),
    )
    if count(student) >= count(teacher):
        raise CompressError(
            f"A student of width {s.student_width} has {count(student):,} parameters, not fewer "
            f"than the teacher's {count(teacher):,} (width {cfg.width}): pick a smaller width."
        )
    start = "random weights"
    if s.student_from_teacher:  # the teacher's strongest channels: a head start, same shape
        student, start = narrower(teacher, cfg, s.student_width), "the teacher's strongest channels"
    fit(student, ctx, s.distil_epochs, s.lr, teacher, s.temperature, s.alpha, s.seed)
    note = (
        f"Student width {s.student_width} ({count(student):,} parameters) started from {start}, "
        f"temperature {s.temperature:g}, weight {s.alpha:g} on the teacher, "
        f"{s.distil_epochs} epochs."
    )
    return torch_built(ctx, student, f"distilled (width {s.student_width})", note)
