"""core.vision.tool against a real SQLite MLflow store in a temporary home: a run is recorded with
its metrics, tables, figures and model files, and loads back with the same predictions;
a store that cannot be written costs the record, not the model."""

import threading

import pytest
import torch

from core import jobs, runs
from core.runs.types import RunRecord
from core.vision import data, inspect, model, tool, trainer

DIGITS = data.load_digits("cpu")
MODEL = model.CNNConfig(in_channels=1, num_classes=10, image_size=8, blocks=1, width=8)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def run_job(epochs: int = 2) -> tool.Outcome:
    request = tool.Request(data=DIGITS, model=MODEL, train=trainer.TrainConfig(epochs=epochs))
    job = jobs.Job(target=tool.train_job(request), name="train cnn", tool="cnn").start()
    assert job.wait(120) and job.status == "done", job.details
    assert job.result.recorded.wait(120)
    return job.result


def test_a_finished_run_is_recorded_and_loads_back(store):
    outcome = run_job(2)
    assert outcome.recording.ok and outcome.recording.reason == ""
    run_id = outcome.recording.run_id
    detail = runs.get_run(run_id)
    assert detail.metrics["test_accuracy"] == pytest.approx(outcome.evaluation.accuracy)
    assert detail.metrics["images_per_s"] == pytest.approx(outcome.result.images_per_s)
    assert detail.metrics["test_loss"] == pytest.approx(outcome.evaluation.loss)
    size = sum(p.numel() for p in outcome.result.model.parameters())
    assert detail.metrics["parameters"] == size > 0  # the pitch pack names the CNN's size
    assert {"wall_seconds", "cost_usd", "best_epoch"} <= set(detail.metrics)
    assert [s for s, _ in detail.history["val_accuracy"]] == [1, 2]
    assert [r["Class"] for r in detail.tables["per_class"]] == list(DIGITS.classes)
    assert sum(r[c] for r in detail.tables["confusion"] for c in DIGITS.classes) == len(
        outcome.splits[2]
    )
    assert {"curves", "confusion"} <= set(detail.figures)
    files = {a.path for a in detail.artifacts}
    assert set(tool.MODEL_FILES.values()) <= files
    assert detail.params["data.name"] == "digits" and detail.params["train.epochs"] == "2"

    recorded = tool.load_run(run_id)
    x = DIGITS.floats(outcome.splits[2])
    with torch.inference_mode():
        torch.testing.assert_close(recorded.classifier.model(x), outcome.result.model(x))
    assert [e.val_accuracy for e in recorded.history] == pytest.approx(
        [e.val_accuracy for e in outcome.result.history]
    )
    again = tool.outcome_of(recorded, DIGITS)
    assert again.evaluation.accuracy == pytest.approx(outcome.evaluation.accuracy)
    assert again.result.images_per_s == pytest.approx(outcome.result.images_per_s, rel=1e-3)


def test_an_unwritable_store_keeps_the_model(store, monkeypatch):
    blocked = store / "not-a-folder"
    blocked.write_text("a file where the store's folder should be")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{blocked}/mlflow.db")
    outcome = run_job(1)
    assert not outcome.recording.ok and outcome.recording.reason
    assert len(outcome.result.history) == 1 and outcome.evaluation is not None
    top = inspect.top_k(outcome.result.model, DIGITS.floats()[0], DIGITS.classes)
    assert len(top) == 3  # the trained model is there and predicts


def test_a_run_stopped_before_any_epoch_is_not_recorded(store):
    request = tool.Request(data=DIGITS, model=MODEL, train=trainer.TrainConfig(epochs=50))
    job = jobs.Job(target=tool.train_job(request), name="train cnn", tool="cnn")
    job.stop()
    job.start()
    assert job.wait(60)
    assert job.result.evaluation is None and job.result.recorded.is_set()
    assert job.result.recording is None


def test_loading_a_run_of_another_tool_is_refused(store):
    run_id = runs.record(
        "business", RunRecord(name="a case", params={"users": 5}, metrics={"runway": 3})
    )
    with pytest.raises(ValueError, match="not a CNN"):
        tool.load_run(run_id)


def test_from_the_page_the_recording_waits_until_the_results_are_drawn(monkeypatch):
    began = threading.Event()
    monkeypatch.setattr(tool, "record", lambda outcome: (began.set(), outcome.recorded.set()))
    request = tool.Request(data=DIGITS, model=MODEL, train=trainer.TrainConfig(epochs=1))
    job = jobs.Job(
        target=tool.train_job(request, after_page=True), name="train cnn", tool="cnn"
    ).start()
    assert job.wait(120) and job.status == "done", job.details
    assert not began.wait(0.5)  # the page's results first
    job.result.shown.set()  # what outcome_ui does once it has drawn them
    assert began.wait(10) and job.result.recorded.is_set()
