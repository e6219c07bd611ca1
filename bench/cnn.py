"""CNN training speed and quality.

- throughput_ratio: images/s of the app's training code (core.vision.trainer.train_classifier,
  augmentation off, constant rate, validation time excluded) over a plain PyTorch loop
  written here: same model, optimizer, batch size, number of steps, device and process.
  Target >= 0.95.
- digits_test_accuracy / digits_seconds: the page's default settings on digits through the
  page's own path (core.vision.tool.train: split, train, evaluate), wall time from the start of
  training to the test accuracy. Target >= 0.985 within 10 s.
- recording: the same run with the worker's recording on (core.vision.tool.train_job into a
  temporary MLflow store, warmed first as a running app's is): seconds to results with and
  without it (`recording_overhead`, target <= 0.05), and how long the recording then takes
  in its own thread (`record_seconds`, after the results are on screen).
- mnist_seconds_to_99: only with a CUDA GPU and MNIST already downloaded (null otherwise).
Medians over --repeats. Last line: a JSON object.

    python3 bench/tool.py [--repeats 3] [--epochs 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import cpu  # noqa: E402
from core import device as dev  # noqa: E402
from core import progress, runs  # noqa: E402
from core.optim import registry  # noqa: E402
from core.vision import data, inspect, model, tool, trainer  # noqa: E402


def plain_loop(ds, train_idx, model_cfg, epochs: int, batch: int, seed: int) -> float:
    """Images/s of a textbook loop: slice, forward, loss, backward, step."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = model.build_cnn(model_cfg).to(ds.device)
    opt = registry.spec("AdamW").build(net.parameters(), 1e-2, {"weight_decay": 5e-4})
    net.train()
    seen, t0 = 0, time.perf_counter()
    for _ in range(epochs):
        order = train_idx[torch.randperm(len(train_idx), generator=gen).to(ds.device)]
        for s in range(0, len(order), batch):
            idx = order[s : s + batch]
            loss = F.cross_entropy(net(ds.floats(idx)), ds.y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(idx)
    if ds.device == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - t0)


def app_loop(ds, splits, model_cfg, epochs: int, batch: int, seed: int) -> float:
    """Images/s of trainer.train_classifier over its training time (validation excluded)."""
    cfg = trainer.TrainConfig(
        batch_size=batch,
        epochs=epochs,
        schedule="constant",
        patience=0,
        seed=seed,
        shift=0,
        flip=False,
    )
    return trainer.train_classifier(ds, splits, model_cfg, cfg).images_per_s


def page_defaults(ds: data.ImageTensors, seed: int = 0, record: bool = False) -> tool.Request:
    """The Train a CNN page's default settings on `ds` (8x8 digits: no flips, 1-pixel shifts)."""
    c, h, _ = ds.shape
    return tool.Request(
        data=ds,
        model=model.CNNConfig(in_channels=c, num_classes=len(ds.classes), image_size=h),
        train=trainer.TrainConfig(seed=seed),
        record=record,
    )


def digits_defaults(ds, seed: int) -> tuple[float, float]:
    """(test accuracy, seconds) with the page's default settings, unrecorded."""
    t0 = time.perf_counter()
    outcome = tool.train(page_defaults(ds, seed))
    return outcome.evaluation.accuracy, time.perf_counter() - t0


def digits_recorded(ds, seed: int) -> tuple[float, float]:
    """(seconds to results, seconds the recording then took) with recording on."""
    t0 = time.perf_counter()
    outcome = tool.train_job(page_defaults(ds, seed, record=True))(progress.QUIET)
    to_results = time.perf_counter() - t0
    outcome.recorded.wait(300)
    if not outcome.recording.ok:
        raise SystemExit(f"recording failed: {outcome.recording.reason}")
    return to_results, time.perf_counter() - t0 - to_results


def mnist_to_99(device: str) -> float | None:
    """Seconds to 99% MNIST test accuracy on a CUDA GPU (None without GPU or data)."""
    if device != "cuda":
        return None
    try:
        ds = data.load_download("MNIST", device)
    except data.DataError:
        return None
    splits = data.split(ds.y, 0)
    cfg = trainer.TrainConfig(batch_size=512, epochs=8, lr=2e-2, seed=0)
    model_cfg = model.CNNConfig(in_channels=1, num_classes=10, image_size=28, width=32)
    t0 = time.perf_counter()
    result = trainer.train_classifier(ds, splits, model_cfg, cfg)
    seconds = time.perf_counter() - t0
    return seconds if inspect.evaluate(result.model, ds, splits[2]).accuracy >= 0.99 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20, help="epochs in the throughput runs")
    args = parser.parse_args()
    device = dev.choose_device()
    ds = data.load_digits(device)
    splits = data.split(ds.y, 0)
    model_cfg = page_defaults(ds).model
    plain_loop(ds, splits[0], model_cfg, 1, 128, 0)  # warm-up: lazy imports, allocator
    app_loop(ds, splits, model_cfg, 1, 128, 0)
    home = tempfile.TemporaryDirectory(
        prefix="bench-cnn-"
    )  # bench runs stay out of the user's store
    os.environ["DASHBOARD_HOME"] = home.name
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    t0 = time.perf_counter()
    runs.warm()  # mlflow import and schema migrations, once per process, as in a running app
    warm_s = time.perf_counter() - t0
    app, plain, accuracy, seconds, recorded, record_s = [], [], [], [], [], []
    for r in range(args.repeats):  # interleaved, so machine noise hits all alike
        plain.append(plain_loop(ds, splits[0], model_cfg, args.epochs, 128, r))
        app.append(app_loop(ds, splits, model_cfg, args.epochs, 128, r))
        acc, sec = digits_defaults(ds, r)
        accuracy.append(acc)
        seconds.append(sec)
        with_record, after = digits_recorded(ds, r)
        recorded.append(with_record)
        record_s.append(after)
        print(
            f"repeat {r + 1}: app {app[-1]:,.0f} img/s, plain {plain[-1]:,.0f} img/s, "
            f"digits {acc:.4f} in {sec:.2f} s, recorded {with_record:.2f} s (+{after:.2f} s "
            "recording after the results)"
        )
    mnist = mnist_to_99(device)
    print(
        json.dumps(
            cpu.stamp(
                {
                    "device": device,
                    "app_images_per_s": round(statistics.median(app)),
                    "plain_images_per_s": round(statistics.median(plain)),
                    "throughput_ratio": round(statistics.median(app) / statistics.median(plain), 3),
                    "digits_test_accuracy": round(statistics.median(accuracy), 4),
                    "digits_seconds": round(statistics.median(seconds), 2),
                    "digits_worst_accuracy": round(min(accuracy), 4),
                    "digits_seconds_recorded": round(statistics.median(recorded), 2),
                    "recording_overhead": round(
                        statistics.median(recorded) / statistics.median(seconds) - 1, 3
                    ),
                    "record_seconds": round(statistics.median(record_s), 2),
                    "store_warm_seconds": round(warm_s, 2),
                    "mnist_seconds_to_99": None if mnist is None else round(mnist, 2),
                    "repeats": args.repeats,
                }
            )
        )
    )


if __name__ == "__main__":
    main()
