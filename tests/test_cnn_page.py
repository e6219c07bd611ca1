"""The Train a CNN page through AppTest: train on digits briefly, then the confusion matrix,
the misclassified gallery and the export are shown; uploads are checked and reported."""

import io

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from tests.helpers import archive, open_page


@pytest.fixture
def page() -> AppTest:
    at = open_page("pages/train_cnn.py")
    assert not at.exception, [e.value for e in at.exception]
    return at


def train(at: AppTest, epochs: int) -> None:
    at.number_input(key="cnn_epochs").set_value(epochs)
    at.button(key="cnn_train").click().run()
    job = at.session_state["cnn_job"]
    assert job.wait(120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def test_training_shows_diagnostics(page):
    train(page, 2)
    metrics = {m.label: m.value for m in page.metric}
    assert metrics["Best epoch"].endswith("of 2")
    accuracy = float(metrics["Test accuracy"].rstrip(" %"))
    assert 50 < accuracy <= 100  # two epochs on digits: far above chance (10 %)
    assert metrics["Cost of this run"].startswith("$")
    titles = [c.proto.spec for c in page.get("plotly_chart")]
    assert any("Confusion matrix (test set)" in spec for spec in titles)
    per_class = next(d.value for d in page.dataframe if "Recall" in d.value.columns)
    assert list(per_class["Class"]) == [str(i) for i in range(10)]
    captions = [c for image in page.image for c in image.captions]
    mistakes = [c for c in captions if c.startswith("true ") and " -> " in c]
    n_test = len(page.session_state["cnn_result"]["splits"][2])
    wrong = round((100 - accuracy) / 100 * n_test)
    assert len(mistakes) == min(wrong, 24)  # two epochs are not perfect: the gallery shows them
    assert {b.proto.label for b in page.get("download_button")} >= {
        "Weights (.safetensors)",
        "Classes and preprocessing (.json)",
    }


def test_stop_keeps_the_best_model(page):
    page.number_input(key="cnn_epochs").set_value(300)
    page.radio(key="cnn_schedule").set_value("constant")
    page.button(key="cnn_train").click().run()
    job = page.session_state["cnn_job"]
    while len(job.metrics()) < 2:
        job.wait(0.05)
    page.button(key="cnn_stop").click().run()
    assert job.wait(30)
    page.run()
    assert any("Stopped: kept the best model so far." in i.value for i in page.info)
    assert float(next(m.value for m in page.metric if m.label == "Test accuracy").rstrip(" %")) > 50


def png(value: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (20, 20), (value, 255 - value, 0)).save(buf, "PNG")
    return buf.getvalue()


def test_upload_errors_and_success_are_reported(page):
    page.radio(key="cnn_source").set_value("Your images (.zip)").run()
    assert any("Upload a .zip" in i.value for i in page.info)
    page.file_uploader(key="cnn_zip").set_value(
        ("evil.zip", archive({"../x.png": png(1)}), "application/zip")
    ).run()
    assert any("outside the archive" in e.value for e in page.error)
    good = {f"red/{i}.png": png(250 - i) for i in range(8)} | {
        f"green/{i}.png": png(i) for i in range(8)
    }
    good["red/readme.txt"] = b"not an image"
    page.file_uploader(key="cnn_zip").set_value(
        ("pets.zip", archive(good), "application/zip")
    ).run()
    assert not page.error
    assert any("upload: 16 images, 2 classes (green, red)" in c.value for c in page.caption)
    assert any("1 file(s) skipped" in e.label for e in page.expander)
