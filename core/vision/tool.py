"""The Train a CNN tool: a `Request` (data and settings) -> `train_job` (train, evaluate) ->
an `Outcome` the page draws -> `run_record` (what the run store keeps) -> a `RecordedModel`
loaded back from a run, and `outcome_of` it again on its data.

The page submits `train_job(request)` to `core.jobs`. The worker trains
(`core.vision.trainer.train_classifier`), evaluates on the test split and returns an `Outcome`
the page draws at once; recording (`core.runs`: data, configs, per-epoch metrics, test
figures, weights, ONNX, curves) then runs on in a thread of its own, so the user never waits
for the store, and a store that fails costs the record, never the trained model.

    outcome = jobs.submit(tool.train_job(request), "train cnn", tool="cnn").wait() ...
    outcome.recorded.wait(); outcome.recording.run_id or outcome.recording.reason
    outcome = tool.outcome_of(tool.load_run(run_id), data)   # the same Outcome, from the store

A new test-split figure is a float field of `inspect.Evaluation` (recorded as `test_<name>`
by itself); `page_metrics` below is what the page shows of a run.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from core import device as dev
from core import runs, units
from core.economics import costs
from core.progress import QUIET, Progress
from core.runs.types import Recorded, RunRecord
from core.vision import charts
from core.vision.data import ImageTensors, split
from core.vision.export import export_onnx, export_safetensors, load_safetensors
from core.vision.inspect import Evaluation, confusion_rows, evaluate, per_class_rows
from core.vision.model import Classifier, CNNConfig, dark_background
from core.vision.trainer import Epoch, TrainConfig, TrainResult, train_classifier

TOOL = "cnn"  # its kind of run in the store
MODEL_FILES = {  # artifact names of a recorded CNN
    "weights": "model/cnn.safetensors",
    "meta": "model/cnn.json",
    "onnx": "model/cnn.onnx",
}
RECORD_AFTER_S = 10.0  # the longest a recording waits for a page to draw the results first


@dataclass(frozen=True, kw_only=True)
class Request:
    """What to train and whether to record it."""

    data: ImageTensors
    model: CNNConfig
    train: TrainConfig
    record: bool = True  # record the run in core.runs when it ends

    def describe(self) -> str:
        """Which data and settings: the line every result block carries."""
        return f"{self.data.describe()} - {self.model.describe()} - {self.train.describe()}"


@dataclass(kw_only=True)
class Outcome:
    """A finished (or stopped) training run as the page shows it."""

    request: Request
    splits: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # train, val, test indices
    result: TrainResult
    evaluation: Evaluation | None  # on the test split; None when no epoch finished
    waited_s: float  # from the job's start to this outcome, seconds: the user's wait
    recording: Recorded | None = None  # its run id or why not, once `recorded`; None: unrecorded
    followed: runs.Following | None = None  # its run in the store since the first epoch
    recorded: threading.Event = field(default_factory=threading.Event)  # set when recording ends
    shown: threading.Event = field(default_factory=threading.Event)  # set once a page drew it

    @property
    def classifier(self) -> Classifier:
        """The trained model with its classes and expected input."""
        data = self.request.data
        return Classifier(
            model=self.result.model,
            config=self.request.model,
            classes=data.classes,
            dark_background=dark_background(data.floats(self.splits[0][:256])),
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


def train_job(request: Request, after_page: bool = False) -> Callable[[Progress], Outcome]:
    """The job target: train, evaluate, start recording; returns an Outcome. `after_page`:
    the recording (an ONNX export, images, the store) waits until the page has drawn the
    results (`outcome.shown`), or RECORD_AFTER_S if no page does: run beside the page's
    results it slowed them."""

    def target(progress: Progress) -> Outcome:
        followed = None
        if request.record:  # in the store from the start: a crash keeps the epochs so far
            followed = runs.follow(
                TOOL,
                progress,
                name=run_name(request),
                params=run_params(request),
                tags={"device": request.data.device},
                step_key="epoch",
            )
        with followed or contextlib.nullcontext():
            outcome = train(request, followed or progress)
        outcome.followed = followed
        if not after_page:
            outcome.shown.set()
        if request.record and outcome.result.history:
            threading.Thread(
                target=_record_once_shown, args=(outcome,), name="record cnn run"
            ).start()
        else:
            if followed is not None:
                followed.discard()  # stopped before its first epoch: nothing to keep
            outcome.recorded.set()
        return outcome

    return target


def _record_once_shown(outcome: Outcome) -> None:
    outcome.shown.wait(RECORD_AFTER_S)
    record(outcome)


def train(request: Request, progress: Progress = QUIET) -> Outcome:
    """Split, train and evaluate `request` (no recording)."""
    t0 = time.perf_counter()
    data = request.data
    splits = split(data.y, request.train.seed)
    result = train_classifier(data, splits, request.model, request.train, progress)
    evaluation = evaluate(result.model, data, splits[2]) if result.history else None
    return Outcome(
        request=request,
        splits=splits,
        result=result,
        evaluation=evaluation,
        waited_s=time.perf_counter() - t0,
    )


def record(outcome: Outcome) -> None:
    """Record `outcome` in the run store: sets `recording` (run id or why not), then `recorded`."""
    try:
        run = run_record(outcome)
    except Exception as err:  # an export failed: a thread nobody joins, so the page says why
        outcome.recording = Recorded(reason=f"{type(err).__name__}: {err}")
        if outcome.followed is not None:
            outcome.followed.fail(err)
    else:
        followed = outcome.followed
        outcome.recording = followed.finish(run) if followed else runs.try_record(TOOL, run)
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


def run_name(request: Request) -> str:
    return f"{request.data.name} {request.model.describe()}"


def run_record(outcome: Outcome) -> RunRecord:
    """What the run store keeps of one CNN run (the page path and the torchrun path alike)."""
    request, r, ev = outcome.request, outcome.result, outcome.evaluation
    classes, device = request.data.classes, request.data.device
    cost, price = outcome.cost_usd(device)
    weights, meta = export_safetensors(outcome.classifier)
    history = [asdict(e) for e in r.history]
    return RunRecord(
        name=run_name(request),
        params=run_params(request),
        metrics=ev.metrics()
        | {
            "best_epoch": r.best_epoch,
            "wall_seconds": r.seconds,
            "wait_seconds": outcome.waited_s,  # what the page shows as Wall time
            "images_per_s": r.images_per_s,
            "cost_usd": cost,
            "parameters": sum(p.numel() for p in r.model.parameters()),
        },
        history=history,
        step_key="epoch",
        tables={"per_class": per_class_rows(ev, classes), "confusion": confusion_rows(ev, classes)},
        figures={
            "curves": charts.training_curves(history),
            "confusion": charts.confusion(ev.confusion, classes),
        },
        artifacts={
            MODEL_FILES["weights"]: weights,
            MODEL_FILES["meta"]: meta,
            MODEL_FILES["onnx"]: export_onnx(r.model, request.model),
        },
        tags={"reason": r.reason, "price": price, "device": device},
        status="KILLED" if r.reason == "stopped" else "FINISHED",
    )


@dataclass(frozen=True)
class Metric:
    """One figure of a run as the page shows it (an `st.metric`)."""

    label: str
    value: str
    help: str | None = None


def page_metrics(outcome: Outcome, device: str) -> list[Metric]:
    """The figures above a run's curves, priced on `device`, the session's device."""
    r = outcome.result
    cost, price = outcome.cost_usd(device)
    return [
        Metric(
            "Test accuracy",
            units.percent(outcome.evaluation.accuracy),
            f"{len(outcome.splits[2])} held-out images",
        ),
        Metric("Best epoch", f"{r.best_epoch} of {len(r.history)}"),
        Metric(
            "Wall time",
            f"{outcome.waited_s:.1f} s",
            "From the start of training to these results.",
        ),
        Metric(
            "Images per second",
            f"{r.images_per_s:,.0f}",
            "Training images per second of training.",
        ),
        Metric("Cost of this run", units.usd(cost), price),
    ]


@dataclass(frozen=True, kw_only=True)
class RecordedModel:
    """A CNN read back from the run store, with what was recorded about its training."""

    run_id: str
    classifier: Classifier
    params: dict  # as recorded: data, model, train, device
    metrics: dict[str, float]
    history: list[Epoch]
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
        classifier=load_safetensors(weights, meta),
        params=params,
        metrics=detail.metrics,
        history=_epochs(detail.history),
        tables=detail.tables,
    )


def _epochs(history: dict[str, list[tuple[int, float]]]) -> list[Epoch]:
    """Per-epoch rows rebuilt from the store's metric histories."""
    names = [f for f in Epoch.__dataclass_fields__ if f != "epoch"]
    steps = sorted({s for s, _ in history.get("val_accuracy", []) if s >= 1})  # 0: final figures
    values = {n: dict(history.get(n, [])) for n in names}
    return [Epoch(epoch=s, **{n: values[n].get(s, float("nan")) for n in names}) for s in steps]


def outcome_of(recorded: RecordedModel, data: ImageTensors) -> Outcome:
    """The full diagnostics of a recorded model on `data` (the set it was trained on): the
    same splits from the recorded seed, evaluated again."""
    train_cfg = TrainConfig(**recorded.params["train"])
    splits = split(data.y, train_cfg.seed)
    result = TrainResult(
        model=recorded.classifier.model,
        history=recorded.history,
        best_epoch=int(recorded.metrics.get("best_epoch", -1)),
        reason="loaded",
        message=f"Loaded from recorded run {recorded.run_id}.",
        seconds=recorded.metrics.get("wall_seconds", 0.0),
        train_seconds=1000.0,  # with images_seen below, gives back the recorded images/s
        images_seen=round(recorded.metrics.get("images_per_s", 0.0) * 1000),
    )
    request = Request(data=data, model=recorded.classifier.config, train=train_cfg, record=False)
    outcome = Outcome(
        request=request,
        splits=splits,
        result=result,
        evaluation=evaluate(result.model, data, splits[2]),
        # what the user waited for it when it was trained (runs recorded before: training)
        waited_s=recorded.metrics.get("wait_seconds", recorded.metrics.get("wall_seconds", 0.0)),
        recording=Recorded(run_id=recorded.run_id),
    )
    outcome.recorded.set()
    return outcome
