"""The model and training settings: four columns of the common ones, and an expander for
regularisation, augmentation and early stopping. Together with the data: a `tool.Request`."""

from __future__ import annotations

import streamlit as st

from core.optim import registry
from core.vision import data, tool
from core.vision.model import CNNConfig
from core.vision.trainer import TrainConfig

DEFAULT_OPTIMIZER = "AdamW"


def settings_ui(ds: data.ImageTensors) -> tool.Request | None:
    """What to train on `ds`, or None with the reason shown when the settings do not fit."""
    c1, c2, c3, c4 = st.columns(4)
    model = {
        "blocks": c1.slider("Conv blocks", 1, 4, 2, key="cnn_blocks"),
        "width": c1.select_slider(
            "Width (channels)", [8, 16, 24, 32, 48, 64, 96, 128], 24, key="cnn_width"
        ),
    }
    train = training_columns_ui(c2, c3, c4)
    with st.expander("Regularisation, augmentation, early stopping"):
        model, train = regularisation_ui(ds, model, train)
    c, h, _ = ds.shape
    try:
        shape = CNNConfig(in_channels=c, num_classes=len(ds.classes), image_size=h, **model)
        return tool.Request(data=ds, model=shape, train=TrainConfig(**train))
    except ValueError as err:
        st.error(str(err))
        return None


def training_columns_ui(c2, c3, c4) -> dict:
    """Optimizer and rate, batch and epochs, schedule and seed: TrainConfig fields."""
    names = list(registry.REGISTRY)
    return {
        "optimizer": c2.selectbox(
            "Optimizer", names, names.index(DEFAULT_OPTIMIZER), key="cnn_optimizer"
        ),
        "lr": c2.number_input("Learning rate", 1e-6, 10.0, 1e-2, format="%.0e", key="cnn_lr"),
        "batch_size": c3.select_slider(
            "Batch size", [16, 32, 64, 128, 256, 512, 1024], 128, key="cnn_batch_size"
        ),
        "epochs": c3.number_input("Epochs", 1, 500, 15, key="cnn_epochs"),
        "schedule": c4.radio("Schedule", ["one-cycle", "constant"], key="cnn_schedule"),
        "seed": c4.number_input("Seed", 0, 10**6, 0, key="cnn_seed"),
    }


def regularisation_ui(ds: data.ImageTensors, model: dict, train: dict) -> tuple[dict, dict]:
    """(model, train) with batch norm, dropout, smoothing, decay, augmentation and patience;
    flips and shifts default to what suits the images (small ones: digits, text)."""
    small = ds.shape[1] <= 16
    e1, e2, e3, e4 = st.columns(4)
    model = model | {
        "batch_norm": e1.toggle("Batch norm", True, key="cnn_batch_norm"),
        "dropout": e1.slider("Dropout", 0.0, 0.8, 0.1, 0.05, key="cnn_dropout"),
    }
    return model, train | {
        "label_smoothing": e2.slider(
            "Label smoothing", 0.0, 0.3, 0.0, 0.05, key="cnn_label_smoothing"
        ),
        "weight_decay": e2.number_input(
            "Weight decay", 0.0, 1.0, 5e-4, format="%.0e", key="cnn_weight_decay"
        ),
        "flip": e3.toggle(
            "Random flips",
            not small,
            key="cnn_flip",
            help="Off for digits and text: a flipped 2 is not a 2.",
        ),
        "shift": e3.slider("Random shift (pixels)", 0, 4, 1 if small else 2, key="cnn_shift"),
        "patience": e4.number_input(
            "Early-stop patience (epochs, 0 = off)", 0, 100, 8, key="cnn_patience"
        ),
    }
