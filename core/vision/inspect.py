"""Looking at a trained CNN: its test-split figures (`evaluate`: accuracy, loss, confusion,
per-class precision and recall), why it predicted what it did (`grad_cam`), its guesses for a
picture of the user's (`prepare_image`, `top_k`), and the pictures the page shows (a preview
of the data, the misclassified test images, a Grad-CAM overlay).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from core.vision.data import ImageTensors
from core.vision.model import last_conv_index, predict


@dataclass(frozen=True, kw_only=True)
class Evaluation:
    """Test-set results. Each float field is recorded as the run's `test_<field>` metric."""

    accuracy: float
    loss: float  # mean cross-entropy
    confusion: list[list[int]]  # [true][predicted] counts
    precision: list[float]  # per class
    recall: list[float]  # per class
    predicted: list[int]  # per test image
    confidence: list[float]  # probability of the predicted class, per test image

    def metrics(self) -> dict[str, float]:
        """The single figures as the run store names them: {'test_accuracy': ..., ...}."""
        return {
            f"test_{f.name}": getattr(self, f.name)
            for f in fields(self)
            if isinstance(getattr(self, f.name), float)
        }


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
    return Evaluation(
        accuracy=(pred == true).float().mean().item(),
        loss=loss,
        confusion=conf.tolist(),
        precision=(tp / conf.sum(0).clamp_min(1)).tolist(),
        recall=(tp / conf.sum(1).clamp_min(1)).tolist(),
        predicted=pred.tolist(),
        confidence=probs.max(1).values.cpu().tolist(),
    )


def per_class_rows(ev: Evaluation, classes: tuple[str, ...]) -> list[dict]:
    """[{Class, Precision, Recall}] on the test split, rounded for reading."""
    return [
        {"Class": c, "Precision": round(p, 3), "Recall": round(q, 3)}
        for c, p, q in zip(classes, ev.precision, ev.recall, strict=True)
    ]


def confusion_rows(ev: Evaluation, classes: tuple[str, ...]) -> list[dict]:
    """[{true, <class>: count, ...}]: the confusion matrix as table rows."""
    return [
        {"true": c, **dict(zip(classes, row, strict=True))}
        for c, row in zip(classes, ev.confusion, strict=True)
    ]


def grad_cam(
    model: nn.Sequential, image: torch.Tensor, target: int | None = None
) -> tuple[torch.Tensor, int]:
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


@torch.inference_mode()
def top_k(
    model: nn.Module, image: torch.Tensor, classes: tuple[str, ...], k: int = 3
) -> list[tuple[str, float]]:
    """[(class, probability)] for the k likeliest classes of one (C, H, W) image."""
    probs = model.eval()(image[None]).softmax(1)[0]
    p, i = probs.topk(min(k, len(classes)))
    return [(classes[j], float(q)) for q, j in zip(p.tolist(), i.tolist(), strict=True)]


def picture(image: torch.Tensor, scale: int = 8) -> np.ndarray:
    """A (C, H, W) image in [0, 1] as an (H*scale, W*scale, 3) uint8 array, pixels kept sharp."""
    x = image.detach().float().clamp(0, 1).cpu()
    x = x.expand(3, -1, -1) if x.shape[0] == 1 else x
    arr = (x.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    return arr.repeat(scale, 0).repeat(scale, 1)


def cam_overlay(
    image: torch.Tensor, cam: torch.Tensor, scale: int = 8, alpha: float = 0.5
) -> np.ndarray:
    """`picture(image)` with the Grad-CAM heat (0 blue .. 1 red) blended on top."""
    heat = cam.detach().cpu().numpy()
    colour = np.stack([heat, 1 - np.abs(2 * heat - 1), 1 - heat], axis=-1)  # blue-green-red
    colour = (colour * 255).astype(np.uint8).repeat(scale, 0).repeat(scale, 1)
    base = picture(image, scale)
    return ((1 - alpha) * base + alpha * colour).astype(np.uint8)


def preview(data: ImageTensors, n: int = 12, pixels: int = 48) -> tuple[list, list[str]]:
    """(pictures about `pixels` wide, captions): the first image of each of the first n classes."""
    firsts = [int((data.y == c).nonzero()[0]) for c in range(min(len(data.classes), n))]
    scale = max(1, pixels // data.shape[1])
    pictures = [picture(data.floats(data.y.new_tensor([i]))[0], scale) for i in firsts]
    return pictures, [data.classes[c] for c in range(len(firsts))]


def mistakes(
    data: ImageTensors, test: torch.Tensor, ev: Evaluation, n: int = 24, pixels: int = 96
) -> tuple[list, list[str], int]:
    """(pictures, 'true 3 -> 8 (71%)' captions, number wrong) for the first n misclassified
    of the test images `test`, which `ev` evaluated."""
    wrong = [i for i, p in enumerate(ev.predicted) if p != int(data.y[test[i]])]
    scale = max(1, pixels // data.shape[1])
    pictures = [picture(data.floats(test[i : i + 1])[0], scale) for i in wrong[:n]]
    captions = [
        f"true {data.classes[int(data.y[test[i]])]} -> {data.classes[ev.predicted[i]]} "
        f"({ev.confidence[i]:.0%})"
        for i in wrong[:n]
    ]
    return pictures, captions, len(wrong)


def explain(
    model: nn.Sequential, data: ImageTensors, test: torch.Tensor, pick: int, pixels: int = 192
) -> tuple[np.ndarray, np.ndarray, str, str]:
    """(picture, Grad-CAM overlay, true class, predicted class) of test image number `pick`."""
    image = data.floats(test[pick : pick + 1])[0].cpu()
    cam, predicted = grad_cam(model, image)
    scale = max(1, pixels // data.shape[1])
    true = data.classes[int(data.y[test[pick]])]
    return picture(image, scale), cam_overlay(image, cam, scale), true, data.classes[predicted]
