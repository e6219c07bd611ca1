"""Image data sets as tensors already on the device.

`ImageTensors` holds a whole data set as one (N, C, H, W) float tensor and one (N,) label
tensor, so training takes batches as index slices with no DataLoader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class ImageTensors:
    """A labelled image set resident on one device; shared read-only between sessions."""

    name: str  # e.g. "digits"
    x: torch.Tensor  # (N, C, H, W) float32 in [0, 1]
    y: torch.Tensor  # (N,) int64 class indices
    classes: tuple[str, ...]  # class names, indexed by y

    @property
    def nbytes(self) -> int:
        """Bytes the tensors occupy on their device."""
        return self.x.element_size() * self.x.nelement() + self.y.element_size() * self.y.nelement()

    @property
    def device(self) -> str:
        """'cuda', 'mps' or 'cpu'."""
        return self.x.device.type


def load_digits(device: str) -> ImageTensors:
    """scikit-learn's 8x8 digits (1,797 real images, 10 classes, shipped offline) on `device`."""
    import torch
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0  # pixel values 0..16
    y = torch.tensor(bunch.target, dtype=torch.int64)
    classes = tuple(str(c) for c in bunch.target_names)
    return ImageTensors("digits", x.to(device), y.to(device), classes)
