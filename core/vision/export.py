"""A trained CNN as files: safetensors weights with a JSON of its shape, class names and
preprocessing (and back again), and ONNX for any runtime.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import asdict

import torch
from safetensors.torch import load, save
from torch import nn

from core.vision.model import Classifier, CNNConfig, build_cnn

FORMAT = "ai-dashboard-cnn/1"  # the JSON's "format": what wrote it


def export_safetensors(c: Classifier) -> tuple[bytes, str]:
    """(weights as safetensors bytes, JSON with the config, class names and preprocessing)."""
    state = {k: v.contiguous() for k, v in c.model.state_dict().items()}
    cfg = c.config
    meta = {
        "format": FORMAT,
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
