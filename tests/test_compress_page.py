"""The Compress page in AppTest: its widgets, a comparison run as a job from the page (the
results table, the chart, the downloads, the recorded run) and Use in Business case keeping
the measured saving for the Business case."""

from __future__ import annotations

import pytest

import ui
from core.compress import sources
from tests.helpers import open_page

PAGE = "pages/compress.py"


@pytest.fixture
def quick_source(monkeypatch, tmp_path):
    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path))
    train = sources.train_digits
    monkeypatch.setattr(sources, "train_digits", lambda progress: train(progress, epochs=2))


def test_the_page_offers_sources_and_methods():
    at = open_page(PAGE)
    assert not at.exception
    assert at.radio(key="compress_source").value == "fresh"
    assert at.checkbox(key="compress_method_int8").value
    assert not at.checkbox(key="compress_method_unstructured").value
    assert at.checkbox(key="compress_method_fp16").disabled  # a CPU session


def test_no_method_ticked_says_so():
    at = open_page(PAGE)
    for key in ("onnx", "int8", "structured", "distil"):
        at.checkbox(key=f"compress_method_{key}").uncheck()
    at.run()
    assert any("Tick at least one method" in i.value for i in at.info)
    assert at.button(key="compress_job_start").disabled


def test_a_comparison_from_the_page_is_shown_recorded_and_carried_to_the_case(quick_source):
    at = open_page(PAGE, timeout=300)
    for key in ("structured", "distil"):
        at.checkbox(key=f"compress_method_{key}").uncheck()
    at.run()
    at.button(key="compress_job_start").click().run()
    job = at.session_state["compress_job"]
    assert job.wait(300), "the job did not end"
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (table,) = [d.value for d in at.dataframe]
    assert list(table["method"]) == ["original", "ONNX Runtime fp32", "static int8"]
    assert table["size_x"].iloc[2] < 0.5
    assert job.result.recorded.ok, job.result.recorded.reason
    at.button(key="compress_use_case").click().run()
    saved = at.session_state[ui.SAVINGS_KEY]
    (saving,) = saved.values()
    name = at.selectbox(key="compress_use_case_pick").value
    picked = next(v for v in job.result.variants if v.method == name)
    assert name != "original" and saving.method.startswith(name)
    assert saving.speedup == pytest.approx(picked.speedup)
    assert saving.memory_ratio == pytest.approx(picked.memory_bytes / table["memory_kb"][0] / 1024)
    assert "CPU" in saving.hardware and saving.run_id == job.result.recorded.run_id


def test_a_gpt2_folder_is_measured_and_a_bad_folder_gets_a_message(monkeypatch, tmp_path):
    from core.text import sources as text_sources
    from tests.helpers import save_tiny_gpt2

    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path))
    text = "the cat sat on the mat and the dog sat on the log. " * 40
    tiny = save_tiny_gpt2(tmp_path / "models" / "tiny", text, positions=128)
    empty = tmp_path / "models" / "empty"
    empty.mkdir()
    (empty / "config.json").write_text('{"model_type": "gpt2"}')
    at = open_page(PAGE, timeout=300)
    at.radio(key="compress_kind").set_value("GPT-2").run()
    at.selectbox(key="compress_gpt2_folder").set_value(str(empty)).run()
    at.button(key="compress_gpt2_job_start").click().run()
    assert any("has no weights" in e.value for e in at.error)
    at.selectbox(key="compress_gpt2_folder").set_value(str(tiny)).run()
    assert at.number_input(key="compress_gpt2_layers").value == 1  # half the teacher's 2
    at.number_input(key="compress_gpt2_layers").set_value(3).run()
    at.button(key="compress_gpt2_job_start").click().run()
    assert any("not smaller than its teacher" in e.value for e in at.error)
    at.number_input(key="compress_gpt2_layers").set_value(1)
    at.number_input(key="compress_gpt2_steps").set_value(20).run()
    at.button(key="compress_gpt2_job_start").click().run()
    assert not at.error, [e.value for e in at.error]
    job = at.session_state["compress_gpt2_job"]
    assert job.wait(300) and job.status == "done", job.details
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (table,) = [d.value for d in at.dataframe]
    assert list(table["method"]) == [
        "original",
        "dynamic int8",
        "fp16 weights",
        "distilled student",
    ]
    assert table["params_x"].iloc[3] > 1
    assert job.result.recorded.ok, job.result.recorded.reason
    kept = text_sources.local_models()
    assert str(tmp_path / "models" / "tiny-fp16") in kept
    assert str(tmp_path / "models" / "tiny-student-1x16") in kept
    assert len(at.get("download_button")) == 4  # original, int8, fp16, student
    at.selectbox(key="compress_gpt2_pick").set_value("distilled student")
    at.button(key="compress_gpt2_use_case").click().run()
    (saving,) = at.session_state[ui.SAVINGS_KEY].values()
    assert "perplexity" in saving.quality and saving.speedup == job.result.variants[3].speedup
    assert saving.run_id == job.result.recorded.run_id
