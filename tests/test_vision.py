"""core.vision's engine (model, trainer, inspect, export): shapes, learning, Stop keeps a usable
model, divergence, Grad-CAM, export round trips (safetensors and ONNX give the live model's
predictions)."""

import numpy as np
import pytest
import torch
from PIL import Image

from core import jobs
from core.vision import data, export, inspect, model, trainer

DIGITS = data.load_digits("cpu")
SPLITS = data.split(DIGITS.y, seed=0)
SMALL = model.CNNConfig(in_channels=1, num_classes=10, image_size=8, blocks=2, width=8)


@pytest.mark.parametrize(("channels", "size", "blocks"), [(1, 8, 1), (3, 32, 3), (1, 28, 5)])
def test_output_shapes(channels, size, blocks):
    cfg = model.CNNConfig(
        in_channels=channels, num_classes=7, image_size=size, blocks=blocks, width=8
    )
    net = model.build_cnn(cfg)
    assert net(torch.rand(5, channels, size, size)).shape == (5, 7)


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="Blocks"):
        model.CNNConfig(blocks=9)
    with pytest.raises(ValueError, match="Learning rate"):
        trainer.TrainConfig(lr=0)
    with pytest.raises(ValueError, match="Unknown optimizer"):
        trainer.TrainConfig(optimizer="Sophia")


def test_augment_shifts_whole_images_and_keeps_shape():
    x = torch.zeros(64, 1, 8, 8)
    x[:, :, 3, 3] = 1.0
    out = trainer.augment(x, 1, False, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert torch.equal(out.sum((1, 2, 3)), torch.ones(64))  # the dot moved, never lost
    moved = out[:, 0].flatten(1).argmax(1)
    assert len(set(moved.tolist())) > 1  # different shifts for different images
    flipped = trainer.augment(x, 0, True, torch.Generator().manual_seed(0))
    assert {int(i) for i in flipped[:, 0].flatten(1).argmax(1)} <= {3 * 8 + 3, 3 * 8 + 4}


def test_one_epoch_lifts_accuracy_far_above_chance():
    cfg = trainer.TrainConfig(epochs=1, schedule="constant", batch_size=32)
    result = trainer.train_classifier(DIGITS, SPLITS, SMALL, cfg)
    ev = inspect.evaluate(result.model, DIGITS, SPLITS[2])
    assert ev.accuracy > 0.5  # chance is 0.1
    assert len(result.history) == 1 and result.reason == "done"
    assert sum(map(sum, ev.confusion)) == len(SPLITS[2])
    assert len(ev.precision) == len(ev.recall) == 10


def test_default_settings_reach_98_percent():
    cfg = model.CNNConfig(in_channels=1, num_classes=10, image_size=8)
    result = trainer.train_classifier(DIGITS, SPLITS, cfg, trainer.TrainConfig())
    assert inspect.evaluate(result.model, DIGITS, SPLITS[2]).accuracy >= 0.98


def test_stop_mid_run_keeps_a_usable_model():
    cfg = trainer.TrainConfig(epochs=200, patience=0, schedule="constant")
    job = jobs.Job(
        target=lambda progress: trainer.train_classifier(DIGITS, SPLITS, SMALL, cfg, progress)
    ).start()
    while len(job.metrics()) < 3:
        job.wait(0.01)
    job.stop()
    assert job.wait(10)
    result = job.result
    assert result.reason == "stopped" and 3 <= len(result.history) < 200
    assert result.best_epoch >= 1
    assert inspect.evaluate(result.model, DIGITS, SPLITS[2]).accuracy > 0.7


def test_a_diverging_loss_stops_with_advice(monkeypatch):
    real_step, calls = torch.optim.SGD.step, []

    def blow_up_later(self, *args, **kwargs):  # an update that overflows, as too high a rate does
        out = real_step(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == 30:
            for p in self.param_groups[0]["params"]:
                p.data.fill_(float("inf"))
        return out

    monkeypatch.setattr(torch.optim.SGD, "step", blow_up_later)
    cfg = trainer.TrainConfig(optimizer="SGD", lr=0.1, schedule="constant", epochs=5)
    result = trainer.train_classifier(DIGITS, SPLITS, SMALL, cfg)
    assert result.reason == "diverged"
    assert "lower" in result.message
    probs, _ = model.predict(result.model, DIGITS, SPLITS[2])
    assert torch.isfinite(probs).all()  # the kept model is the last good one


def test_early_stopping_counts_patience():
    cfg = trainer.TrainConfig(epochs=100, patience=2, lr=3e-2, schedule="constant")
    result = trainer.train_classifier(DIGITS, SPLITS, SMALL, cfg)
    assert result.reason == "early stop"
    assert len(result.history) - result.best_epoch == 2


def test_grad_cam_points_at_the_image():
    result = trainer.train_classifier(DIGITS, SPLITS, SMALL, trainer.TrainConfig(epochs=3))
    image = DIGITS.floats(SPLITS[2][:1])[0]
    cam, predicted = inspect.grad_cam(result.model, image)
    assert cam.shape == (8, 8) and cam.min() >= 0 and cam.max() <= 1
    assert 0 <= predicted < 10


def test_prediction_from_an_uploaded_picture():
    result = trainer.train_classifier(DIGITS, SPLITS, SMALL, trainer.TrainConfig(epochs=3))
    picture = Image.fromarray((DIGITS.x[0, 0].numpy()).astype(np.uint8)).resize((64, 64))
    image = inspect.prepare_image(picture.convert("RGB"), 1, 8)
    assert image.shape == (1, 8, 8) and image.max() <= 1
    top = inspect.top_k(result.model, image, DIGITS.classes)
    assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1]
    assert abs(sum(p for _, p in inspect.top_k(result.model, image, DIGITS.classes, 10)) - 1) < 1e-5


def test_safetensors_round_trip_gives_the_same_predictions():
    result = trainer.train_classifier(DIGITS, SPLITS, SMALL, trainer.TrainConfig(epochs=2))
    trained = model.Classifier(
        model=result.model, config=SMALL, classes=DIGITS.classes, dark_background=True
    )
    weights, meta = export.export_safetensors(trained)
    loaded = export.load_safetensors(weights, meta)
    assert loaded.config == SMALL and loaded.classes == DIGITS.classes
    assert loaded.dark_background is True
    x = DIGITS.floats(SPLITS[2])
    with torch.inference_mode():
        torch.testing.assert_close(loaded.model(x), result.model(x))
    with pytest.raises(ValueError, match="Not a model exported"):
        export.load_safetensors(b"garbage", meta)
    with pytest.raises(ValueError, match="Not a model exported"):
        export.load_safetensors(weights, "{not json")


def test_onnx_export_gives_the_same_predictions():
    ort = pytest.importorskip("onnxruntime")
    result = trainer.train_classifier(DIGITS, SPLITS, SMALL, trainer.TrainConfig(epochs=2))
    onnx_bytes = export.export_onnx(result.model, SMALL)
    session = ort.InferenceSession(onnx_bytes)
    x = DIGITS.floats(SPLITS[2])
    (logits,) = session.run(None, {"image": x.numpy()})
    with torch.inference_mode():
        expected = result.model(x).numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)
    assert (logits.argmax(1) == expected.argmax(1)).all()


class StopAt:
    """A Progress that asks to stop once `after` epochs are logged; keeps what it hears."""

    def __init__(self, after: int):
        self.after, self.rows, self.reports = after, [], []

    def should_stop(self) -> bool:
        return len(self.rows) >= self.after

    def report(self, progress, message="", **rate) -> None:
        self.reports.append((progress, message, rate))

    def log(self, **row) -> None:
        self.rows.append(row)


def test_stop_before_the_first_epoch_claims_no_model():
    result = trainer.train_classifier(DIGITS, SPLITS, SMALL, trainer.TrainConfig(), StopAt(0))
    assert result.reason == "stopped" and result.history == []
    assert "no trained model" in result.message and "kept" not in result.message


def test_a_run_at_chance_warns_that_the_model_did_not_learn():
    cfg = trainer.TrainConfig(lr=10.0, epochs=4)
    result = trainer.train_classifier(DIGITS, SPLITS, SMALL, cfg)
    assert result.reason == "did not learn"
    assert result.message.startswith("The model did not learn")
    assert "Try a learning rate of 0.01" in result.message  # AdamW: 10x its usual 1e-3
    learned = trainer.train_classifier(DIGITS, SPLITS, SMALL, trainer.TrainConfig(epochs=2))
    assert learned.reason == "done" and learned.message == ""


def test_final_images_per_second_is_what_the_live_rows_showed():
    result = trainer.train_classifier(DIGITS, SPLITS, SMALL, trainer.TrainConfig(epochs=3))
    assert result.history[-1].images_per_s == pytest.approx(result.images_per_s)
    assert result.train_seconds < result.seconds  # validation is not training time


def test_inverted_pictures_and_the_expected_input():
    assert model.dark_background(DIGITS.floats())  # digits: light strokes on black
    white = Image.new("L", (16, 16), 255)
    assert inspect.prepare_image(white, 1, 8).min() == 1
    assert inspect.prepare_image(white, 1, 8, invert=True).max() == 0
    c = model.Classifier(
        model=model.build_cnn(SMALL), config=SMALL, classes=DIGITS.classes, dark_background=True
    )
    assert "8x8 grayscale" in c.expected_input() and "Invert" in c.expected_input()
