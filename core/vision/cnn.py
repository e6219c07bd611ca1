"""The Train a CNN job: train, evaluate, then record the run in the run store; and a CNN
loaded back from a recorded run.

The page submits `train_job(request)` to `core.jobs`. The worker trains
(`core.vision.vision.train_classifier`), evaluates on the test split and returns an `Outcome` the
page draws at once; recording (`core.runs`: data, configs, per-epoch metrics, test figures,
weights, ONNX, curves) then runs on in a thread of its own, so the user never waits for the
store, and a store that fails costs the record, never the trained model.

    outcome = jobs.submit(cnn.train_job(request), "train cnn", tool="cnn").wait() ...
    outcome.recorded.wait(); outcome.run_id or outcome.not_recorded
    outcome = cnn.load_run(run_id, data)   # the same Outcome, rebuilt from the store
"""

from __future__ import annotations

import functools
import json
import threading
import time
from dataclasses import asdict, dataclass, field

import torch

from core import device as dev
from core import runs
from core.economics import costs
from core.progress import Progress
from core.runs.types import RunRecord
from core.vision import charts, vision
from core.vision.data import ImageTensors, split

MODEL_FILES = {  # artifact names of a recorded CNN
    "weights": "model/cnn.safetensors",
    "meta": "model/cnn.json",
    "onnx": "model/cnn.onnx",
}
TOOL = "cnn"


@dataclass(frozen=True, kw_only=True)
class Request:
    """What to train and whether to record it."""

    data: ImageTensors
    model: vision.CNNConfig
    train: vision.TrainConfig
    record: bool = True  # record the run in core.runs when it ends

    def describe(self) -> str:
        """Which data and settings: the line every result block carries."""
        return f"{self.data.describe()} - {self.model.describe()} - {self.train.describe()}"


@dataclass(kw_only=True)
class Outcome:
    """A finished (or stopped) training run as the page shows it."""

    request: Request
    splits: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # train, val, test indices
    result: vision.TrainResult
    evaluation: vision.Evaluation | None  # on the test split; None when no epoch finished
    waited_s: float  # from the job's start to this outcome, seconds: the user's wait
    run_id: str | None = None  # once recorded
    not_recorded: str | None = None  # why the store could not record it
    recorded: threading.Event = field(default_factory=threading.Event)  # set when recording ends
    shown: threading.Event = field(default_factory=threading.Event)  # set once a page drew it

    @property
    def classifier(self) -> vision.Classifier:
        """The trained model with its classes and expected input."""
        data = self.request.data
        dark = vision.dark_background(data.floats(self.splits[0][:256]))
        return vision.Classifier(
            model=self.result.model,
            config=self.request.model,
            classes=data.classes,
            dark_background=dark,
        )

    def cost_usd(self, device: str) -> tuple[float, str]:
        """(what the training time cost on this hardware, USD; where the price comes from)."""
        hw = dev.probe_hardware()
        rate, what = costs.hardware_rate(device, hw.gpu_name, dev.cpu_threads())
        return rate * self.result.seconds / 3600, what


@functools.cache
def warm() -> threading.Thread:
    """Once per process, in the background: what the first Train click would otherwise wait
    for. Building the first torch optimizer imports torch._dynamo (seconds on a small CPU)."""
    thread = threading.Thread(
        target=lambda: torch.optim.AdamW([torch.zeros(1, requires_grad=True)]),
        name="warm cnn",
        daemon=True,
    )
    thread.start()
    return thread


RECORD_AFTER_S = 10.0  # the longest a recording waits for a page to draw the results first


def train_job(request: Request, after_page: bool = False):
    """The job target: train, evaluate, start recording; returns an Outcome. `after_page`:
    the recording (an ONNX export, images, the store) waits until the page has drawn the
    results (`outcome.shown`), or RECORD_AFTER_S if no page does: run beside the page's
    results it slowed them."""

    def target(ctx: Progress) -> Outcome:
        outcome = train(request, ctx)
        if not after_page:
            outcome.shown.set()
        if request.record and outcome.result.history:
            recorder = lambda: (outcome.shown.wait(RECORD_AFTER_S), record(outcome))  # noqa: E731
            threading.Thread(target=recorder, name="record cnn run").start()
        else:
            outcome.recorded.set()
        return outcome

    return target


def train(request: Request, ctx: Progress | None = None) -> Outcome:
    """Split, train and evaluate `request` (no recording)."""
    t0 = time.perf_counter()
    data = request.data
    splits = split(data.y, request.train.seed)
    result = vision.train_classifier(data, splits, request.model, request.train, ctx)
    evaluation = vision.evaluate(result.model, data, splits[2]) if result.history else None
    return Outcome(
        request=request,
        splits=splits,
        result=result,
        evaluation=evaluation,
        waited_s=time.perf_counter() - t0,
    )


def record(outcome: Outcome) -> None:
    """Record `outcome` in the run store; sets run_id or not_recorded, then `recorded`."""
    try:
        outcome.run_id = runs.record(TOOL, run_record(outcome))
    except runs.StoreError as err:
        outcome.not_recorded = str(err)
    except Exception as err:  # a thread nobody joins: the page shows why, never a lost model
        outcome.not_recorded = f"{type(err).__name__}: {err}"
    finally:
        outcome.recorded.set()


def run_params(request: Request) -> dict:
    """What a CNN run records as its settings: data, model, training, device."""
    data = request.data
    return {
        "data": {
            "name": data.name,
            "images": len(data.y),
            "classes": list(data.classes),
            "shape": list(data.shape),
            "label": data.describe(),
        },
        "model": asdict(request.model),
        "train": asdict(request.train),
        "device": data.device,
    }


def run_record(outcome: Outcome) -> RunRecord:
    """What the run store keeps of one CNN run (the page path and the torchrun path alike)."""
    r, ev, classes = outcome.result, outcome.evaluation, outcome.request.data.classes
    cost, price = outcome.cost_usd(outcome.request.data.device)
    weights, meta = vision.export_safetensors(outcome.classifier)
    history = [asdict(e) for e in r.history]
    return RunRecord(
        **{
            "name": f"{outcome.request.data.name} {outcome.request.model.describe()}",
            "params": run_params(outcome.request),
            "metrics": {
                "test_accuracy": ev.accuracy,
                "test_loss": ev.loss,
                "best_epoch": r.best_epoch,
                "wall_seconds": r.seconds,
                "images_per_s": r.images_per_s,
                "cost_usd": cost,
            },
            "history": history,
            "step_key": "epoch",
            "tables": {
                "per_class": per_class_rows(ev, classes),
                "confusion": [
                    {"true": c, **dict(zip(classes, row, strict=True))}
                    for c, row in zip(classes, ev.confusion, strict=True)
                ],
            },
            "figures": {
                "curves": charts.training_curves(history),
                "confusion": charts.confusion(ev.confusion, classes),
            },
            "artifacts": {
                MODEL_FILES["weights"]: weights,
                MODEL_FILES["meta"]: meta,
                MODEL_FILES["onnx"]: vision.export_onnx(r.model, outcome.request.model),
            },
            "tags": {"reason": r.reason, "price": price, "device": outcome.request.data.device},
            "status": "KILLED" if r.reason == "stopped" else "FINISHED",
        }
    )


def per_class_rows(ev: vision.Evaluation, classes) -> list[dict]:
    """[{Class, Precision, Recall}] on the test split, rounded for reading."""
    return [
        {"Class": c, "Precision": round(p, 3), "Recall": round(q, 3)}
        for c, p, q in zip(classes, ev.precision, ev.recall, strict=True)
    ]


# ---- pictures for the page ----------------------------------------------------------------


def preview(data: ImageTensors, n: int = 12, pixels: int = 48) -> tuple[list, list[str]]:
    """(pictures about `pixels` wide, captions): the first image of each of the first n classes."""
    firsts = [int((data.y == c).nonzero()[0]) for c in range(min(len(data.classes), n))]
    scale = max(1, pixels // data.shape[1])
    pictures = [vision.picture(data.floats(data.y.new_tensor([i]))[0], scale) for i in firsts]
    return pictures, [data.classes[c] for c in range(len(firsts))]


def mistakes(outcome: Outcome, n: int = 24, pixels: int = 96) -> tuple[list, list[str], int]:
    """(pictures, 'true 3 -> 8 (71%)' captions, number wrong) for the first n misclassified
    test images."""
    data, test, ev = outcome.request.data, outcome.splits[2], outcome.evaluation
    wrong = [i for i, p in enumerate(ev.predicted) if p != int(data.y[test[i]])]
    scale = max(1, pixels // data.shape[1])
    pictures = [vision.picture(data.floats(test[i : i + 1])[0], scale) for i in wrong[:n]]
    captions = [
        f"true {data.classes[int(data.y[test[i]])]} -> {data.classes[ev.predicted[i]]} "
        f"({ev.confidence[i]:.0%})"
        for i in wrong[:n]
    ]
    return pictures, captions, len(wrong)


def explain(outcome: Outcome, pick: int, pixels: int = 192) -> tuple:
    """(picture, Grad-CAM overlay, true class, predicted class) of test image `pick`."""
    data, test = outcome.request.data, outcome.splits[2]
    image = data.floats(test[pick : pick + 1])[0].cpu()
    cam, predicted = vision.grad_cam(outcome.result.model, image)
    scale = max(1, pixels // data.shape[1])
    true = data.classes[int(data.y[test[pick]])]
    return (
        vision.picture(image, scale),
        vision.cam_overlay(image, cam, scale),
        true,
        data.classes[predicted],
    )


# ---- loading back -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RecordedModel:
    """A CNN read back from the run store, with what was recorded about its training."""

    run_id: str
    classifier: vision.Classifier
    params: dict  # as recorded: data, model, train, device
    metrics: dict[str, float]
    history: list[vision.Epoch]
    tables: dict[str, list[dict]]


def load_run(run_id: str) -> RecordedModel:
    """The CNN of run `run_id`; runs.StoreError (or ValueError) with a message if it cannot."""
    detail = runs.get_run(run_id)
    if detail.summary.tool != TOOL:
        raise ValueError(f"Run {run_id} is a {detail.summary.tool} run, not a CNN.")
    weights = runs.load_artifact(run_id, MODEL_FILES["weights"])
    meta = runs.load_artifact(run_id, MODEL_FILES["meta"]).decode()
    params = json.loads(runs.load_artifact(run_id, runs.PARAMS_FILE))
    return RecordedModel(
        run_id=run_id,
        classifier=vision.load_safetensors(weights, meta),
        params=params,
        metrics=detail.metrics,
        history=_epochs(detail.history),
        tables=detail.tables,
    )


def _epochs(history: dict[str, list[tuple[int, float]]]) -> list[vision.Epoch]:
    """Per-epoch rows rebuilt from the store's metric histories."""
    names = [f for f in vision.Epoch.__dataclass_fields__ if f != "epoch"]
    steps = sorted({s for s, _ in history.get("val_accuracy", []) if s >= 1})  # 0: final figures
    values = {n: dict(history.get(n, [])) for n in names}
    return [
        vision.Epoch(epoch=s, **{n: values[n].get(s, float("nan")) for n in names}) for s in steps
    ]


def outcome_of(recorded: RecordedModel, data: ImageTensors) -> Outcome:
    """The full diagnostics of a recorded model on `data` (the set it was trained on): the
    same splits from the recorded seed, evaluated again."""
    model_cfg = recorded.classifier.config
    train_cfg = vision.TrainConfig(**recorded.params["train"])
    splits = split(data.y, train_cfg.seed)
    result = vision.TrainResult(
        model=recorded.classifier.model,
        history=recorded.history,
        best_epoch=int(recorded.metrics.get("best_epoch", -1)),
        reason="loaded",
        message=f"Loaded from recorded run {recorded.run_id}.",
        seconds=recorded.metrics.get("wall_seconds", 0.0),
        train_seconds=1000.0,  # with images_seen below, gives back the recorded images/s
        images_seen=round(recorded.metrics.get("images_per_s", 0.0) * 1000),
    )
    outcome = Outcome(
        request=Request(data=data, model=model_cfg, train=train_cfg, record=False),
        splits=splits,
        result=result,
        evaluation=vision.evaluate(result.model, data, splits[2]),
        waited_s=0.0,
        run_id=recorded.run_id,
    )
    outcome.recorded.set()
    return outcome
