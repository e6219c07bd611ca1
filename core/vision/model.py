"""The network: its shape (`CNNConfig`), the model built from it (normalise -> conv blocks ->
pool -> linear), its predictions on a set of images (`predict`), and what a trained one needs
to be used elsewhere (`Classifier`: the model, its shape, class names and expected input).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core.vision.data import ImageTensors


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


def build_cnn(
    cfg: CNNConfig, mean: list[float] | None = None, std: list[float] | None = None
) -> nn.Sequential:
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


@torch.inference_mode()
def predict(
    model: nn.Module, data: ImageTensors, idx: torch.Tensor, batch: int = 1024
) -> tuple[torch.Tensor, float]:
    """(probabilities (n, classes), mean cross-entropy loss) of `model` on images `idx`."""
    model.eval()
    probs, loss = [], 0.0
    for s in range(0, len(idx), batch):
        part = idx[s : s + batch]
        logits = model(data.floats(part)).float()
        loss += F.cross_entropy(logits, data.y[part], reduction="sum").item()
        probs.append(logits.softmax(1))
    return torch.cat(probs), loss / max(len(idx), 1)


def dark_background(images: torch.Tensor) -> bool:
    """True when the border pixels of (N, C, H, W) images in [0, 1] are mostly dark, as for
    digits drawn light on black."""
    border = torch.cat([images[..., 0, :], images[..., -1, :], images[..., 0], images[..., -1]], -1)
    return border.float().mean().item() < 0.5


@dataclass(frozen=True, kw_only=True)
class Classifier:
    """A trained model with what it needs to be used: its shape, class names and input."""

    model: nn.Sequential  # on the CPU, in eval mode
    config: CNNConfig
    classes: tuple[str, ...]
    dark_background: bool | None = None  # trained on light-on-dark images; None if unknown

    def expected_input(self) -> str:
        """One sentence for the page: what image this model takes."""
        size = self.config.image_size
        kind = "grayscale" if self.config.in_channels == 1 else "colour"
        text = f"The model takes {size}x{size} {kind} images; yours is converted and resized."
        if self.dark_background:
            text += (
                " It learned light strokes on a dark background (like the digits): for dark "
                "ink on white paper, turn on Invert."
            )
        return text
