"""The Train a CNN page through AppTest: train on digits briefly, then the diagnostics, the
loader, results tied to their data, downloads, warnings and the run store."""

import io

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core import units
from core.vision import data, export
from tests.helpers import archive, open_page


@pytest.fixture
def page(tmp_path, monkeypatch):
    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path))  # a fresh run store per test
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    at = open_page("pages/train_cnn.py")
    assert not at.exception, [e.value for e in at.exception]
    yield at
    try:
        job = at.session_state["cnn_job"]
    except KeyError:
        return
    if job.wait(120) and job.result is not None:
        job.result.recorded.wait(120)  # no recording left writing under the next test's settings


def train(at: AppTest, epochs: int, recorded: bool = False):
    """Train for `epochs` with the other defaults; the finished job's Outcome."""
    at.number_input(key="cnn_epochs").set_value(epochs)
    at.button(key="cnn_job_start").click().run()
    job = at.session_state["cnn_job"]
    assert job.wait(120)
    if recorded:
        assert job.result.recorded.wait(120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return job.result


def widget_keys(at: AppTest) -> list[str]:
    """The keys of every widget on the page (the sidebar's aside)."""
    return [n.key for n in at.main if isinstance(getattr(n, "key", None), str)]


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def png(value: int, size: int = 20) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (value, 255 - value, 0)).save(buf, "PNG")
    return buf.getvalue()


def zip_upload(at: AppTest, files: dict, name: str = "pets.zip") -> None:
    at.file_uploader(key="cnn_zip").set_value((name, archive(files), "application/zip")).run()


def two_classes() -> dict:
    return {f"red/{i}.png": png(250 - i) for i in range(8)} | {
        f"green/{i}.png": png(i) for i in range(8)
    }


def test_training_shows_diagnostics_with_their_data_and_settings(page):
    outcome = train(page, 2)
    assert metric(page, "Best epoch").endswith("of 2")
    accuracy = float(metric(page, "Test accuracy").rstrip(" %"))
    assert 50 < accuracy <= 100  # two epochs on digits: far above chance (10 %)
    assert metric(page, "Cost of this run").startswith("$")
    assert any(
        c.value.startswith("Trained on digits: 1,797 images, 10 classes")
        and "AdamW at lr 0.01, batch 128, 2 epochs one-cycle, seed 0" in c.value
        for c in page.caption
    )
    titles = [c.proto.spec for c in page.get("plotly_chart")]
    assert any("Confusion matrix (test set)" in spec for spec in titles)
    per_class = next(d.value for d in page.dataframe if "Recall" in d.value.columns)
    assert list(per_class["Class"]) == [str(i) for i in range(10)]
    captions = [c for image in page.image for c in image.captions]
    mistakes = [c for c in captions if c.startswith("true ") and " -> " in c]
    wrong = round((100 - accuracy) / 100 * len(outcome.splits[2]))
    assert len(mistakes) == min(wrong, 24)  # two epochs are not perfect: the gallery shows them
    assert {b.proto.label for b in page.get("download_button")} >= {
        "Weights (.safetensors)",
        "Classes and preprocessing (.json)",
        "Model (.onnx)",
    }
    # Try it says what the model expects and offers to invert
    assert any("8x8 grayscale" in c.value and "light strokes" in c.value for c in page.caption)
    assert page.toggle(key="cnn_result_invert").value is False
    # the live speed and the final one are the same measure
    assert metric(page, "Images per second") == f"{outcome.result.images_per_s:,.0f}"
    # the results' widgets carry the page's key prefix too (the layout test sees an empty page)
    keys = widget_keys(page)
    assert "cnn_result_invert" in keys and all(k.startswith("cnn_") for k in keys), keys


def test_loading_saved_weights_after_training_can_be_tried(page):
    """Issue 9, major 1: the results' Try it and the loader's shared the key 'cnn_try'."""
    outcome = train(page, 1)
    weights, meta = export.export_safetensors(outcome.classifier)
    page.toggle(key="cnn_load").set_value(True).run()
    page.file_uploader(key="cnn_load_weights").set_value(
        ("tool.safetensors", weights, "application/octet-stream")
    )
    page.file_uploader(key="cnn_load_meta").set_value(
        ("tool.json", meta.encode(), "application/json")
    ).run()
    assert not page.exception, [e.value for e in page.exception]
    assert any(s.value.startswith("Loaded: 2 blocks x 24 channels") for s in page.success)
    digit = Image.fromarray(data.load_digits("cpu").x[0, 0].numpy()).resize((64, 64))
    buf = io.BytesIO()
    digit.save(buf, "PNG")
    page.file_uploader(key="cnn_files_try").set_value(
        ("five.png", buf.getvalue(), "image/png")
    ).run()
    assert not page.exception, [e.value for e in page.exception]
    bars = [p.proto.text for p in page.get("progress")]
    assert len(bars) == 3 and all(": " in b and b.endswith("%") for b in bars)


def test_stop_keeps_the_best_model(page):
    page.number_input(key="cnn_epochs").set_value(300)
    page.radio(key="cnn_schedule").set_value("constant")
    page.button(key="cnn_job_start").click().run()
    job = page.session_state["cnn_job"]
    while len(job.metrics()) < 2:
        job.wait(0.05)
    page.button(key="cnn_job_stop").click().run()
    assert job.wait(30)
    page.run()
    assert any("Stopped: kept the best model so far (epoch" in i.value for i in page.info)
    assert float(metric(page, "Test accuracy").rstrip(" %")) > 50


def test_a_run_that_does_not_learn_says_so(page):
    page.number_input(key="cnn_lr").set_value(10.0)
    train(page, 3)
    warning = next(w.value for w in page.warning if "did not learn" in w.value)
    assert "Try a learning rate of 0.01" in warning


def test_results_of_other_data_are_hidden(page):
    train(page, 1)
    page.radio(key="cnn_source").set_value("upload").run()
    zip_upload(page, two_classes())
    assert not [m for m in page.metric if m.label == "Test accuracy"]
    assert any("other data (digits: 1,797 images" in i.value for i in page.info)
    page.radio(key="cnn_source").set_value("digits").run()
    assert metric(page, "Test accuracy")  # back on digits: its results again


def test_a_download_error_stays_with_its_data_set(page, monkeypatch):
    def offline(name, progress=None):
        raise data.DataError(f"Could not download {name} (no network?).")

    monkeypatch.setattr(data, "fetch_download", offline)
    page.radio(key="cnn_source").set_value("download").run()
    page.selectbox(key="cnn_download").set_value("MNIST").run()
    page.button(key="cnn_fetch_start").click().run()
    assert page.session_state["cnn_fetch"].wait(30)
    page.run()
    assert any("Could not download MNIST" in e.value for e in page.error)
    page.selectbox(key="cnn_download").set_value("CIFAR-10").run()
    assert not page.error
    assert page.button(key="cnn_fetch_start").proto.label == "Download CIFAR-10"


def test_upload_errors_and_success_are_reported(page):
    page.radio(key="cnn_source").set_value("upload").run()
    assert any("Upload a .zip" in i.value for i in page.info)
    zip_upload(page, {"../x.png": png(1)}, "evil.zip")
    assert any("outside the archive" in e.value for e in page.error)
    good = two_classes() | {"red/readme.txt": b"not an image", "__MACOSX/red/._0.png": b"x"}
    zip_upload(page, good)
    assert not page.error
    assert any("pets: 16 images, 2 classes (green, red)" in c.value for c in page.caption)
    assert any("2 file(s) skipped" in e.label for e in page.expander)
    zip_upload(page, {f"cats/{i}.png": png(i) for i in range(6)}, "one.zip")
    assert any("found only: cats (6 images)." in e.value for e in page.error)


def test_a_recorded_run_loads_back_from_the_url(page):
    outcome = train(page, 2, recorded=True)
    assert outcome.recording.ok, outcome.recording.reason
    run_id = outcome.recording.run_id
    page.run()
    links = [p.proto.label for p in page.get("page_link")]
    assert f"Recorded as run {run_id}: open it on the Runs page" in links
    fresh = open_page("pages/train_cnn.py")
    fresh.query_params["run"] = run_id
    fresh.run()
    assert not fresh.exception, [e.value for e in fresh.exception]
    assert not fresh.error, [e.value for e in fresh.error]
    assert fresh.toggle(key="cnn_load").value is True
    assert metric(fresh, "Test accuracy") == units.percent(outcome.evaluation.accuracy)
    assert fresh.toggle(key="cnn_run_invert").value is False  # Try it for the loaded model
    assert all(k.startswith("cnn_") for k in widget_keys(fresh)), widget_keys(fresh)


def test_a_store_failure_keeps_the_model(page, monkeypatch, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the store's folder should be")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{blocked}/mlflow.db")
    outcome = train(page, 1, recorded=True)
    assert not outcome.recording.ok and outcome.recording.reason
    page.run()
    assert any(w.value.startswith("Not recorded: ") for w in page.warning)
    assert metric(page, "Test accuracy")
    assert page.toggle(key="cnn_result_invert").value is False  # Try it still there


def test_run_elsewhere_offers_run_json_and_the_torchrun_commands(page):
    panel = [e for e in page.expander if e.label.startswith("Run elsewhere")]
    assert len(panel) == 1
    labels = [b.proto.label for b in page.get("download_button")]
    assert "Download run.json" in labels
    commands = " ".join(c.value for c in page.code)
    assert "torchrun --nproc-per-node" in commands and "core.train cnn" in commands
