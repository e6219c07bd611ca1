"""core.compress on a tiny CNN: each method builds a variant with finite outputs of the right
shape, the sizes are really smaller where claimed, the labels say what was measured (slower,
no measurable change, no smaller), bad input gets a message and costs only its method, and the
comparison is recorded linked to its source run."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np
import pytest
import torch

from core import jobs, runs
from core.compress import cnn, measure, shrink, sources, tool
from core.vision import data, model
from core.vision import tool as cnn_tool
from core.vision.trainer import TrainConfig

DIGITS = data.load_digits("cpu")
CFG = model.CNNConfig(image_size=8, blocks=2, width=16)
QUICK = cnn.Settings(calibration_images=16, finetune_epochs=1, distil_epochs=1, student_width=4)


@pytest.fixture(scope="module")
def source() -> sources.Source:
    torch.manual_seed(0)
    request = cnn_tool.Request(data=DIGITS, model=CFG, train=TrainConfig(epochs=2), record=False)
    return sources.from_outcome(cnn_tool.train(request))


@pytest.fixture(scope="module")
def ctx(source) -> cnn.Context:
    return cnn.Context(
        classifier=source.classifier,
        data=source.data,
        splits=data.split(source.data.y, source.seed),
        threads=1,
    )


def logits_of(built: cnn.Built, ctx: cnn.Context) -> np.ndarray:
    return built.run(ctx.data.floats(ctx.splits[2][:5]))


@pytest.mark.parametrize("method", ["onnx", "int8", "structured", "unstructured", "distil"])
def test_each_method_gives_finite_logits_of_the_right_shape(ctx, method):
    built = tool.METHODS[method][1](ctx, QUICK)
    out = logits_of(built, ctx)
    assert out.shape == (5, 10) and np.isfinite(out).all()
    assert built.files and built.file_bytes > 0


def test_sizes_shrink_where_claimed_and_only_there(ctx):
    base = cnn.original(ctx)
    int8 = cnn.int8_static(ctx, QUICK)
    pruned = shrink.structured(ctx, QUICK)
    student = shrink.distil(ctx, QUICK)
    sparse = cnn.unstructured(ctx, QUICK)
    fp32 = cnn.onnx_fp32(ctx, QUICK)
    assert int8.file_bytes < 0.5 * fp32.file_bytes
    assert pruned.params < 0.5 * base.params and pruned.file_bytes < 0.5 * base.file_bytes
    assert student.params < 0.2 * base.params
    assert sparse.file_bytes == base.file_bytes and sparse.params == base.params
    assert sparse.nonzero_params <= 0.51 * base.params  # zeros, stored dense
    assert "unchanged unless stored sparse" in sparse.notes


def test_the_int8_file_carries_weights_not_names(ctx, monkeypatch):
    import onnx

    int8 = cnn.int8_static(ctx, QUICK)
    assert int8.file_bytes < 0.33 * cnn.original(ctx).file_bytes  # 0.40 with the long names
    graph = onnx.load_from_string(int8.files["model.onnx"]).graph
    onnx.checker.check_model(onnx.load_from_string(int8.files["model.onnx"]), full_check=True)
    tensors = {n for node in graph.node for n in (*node.input, *node.output)}
    assert {i.name for i in graph.initializer} <= tensors  # no unused initializer
    assert all(len(n) <= 3 for n in tensors - {"image", "logits"}), sorted(tensors)
    assert not graph.value_info and not any(node.name for node in graph.node)
    monkeypatch.setattr(cnn, "compact", lambda b: b)  # the quantizer's own file
    plain = cnn.int8_static(ctx, QUICK)
    assert len(plain.files["model.onnx"]) > 1.2 * int8.file_bytes
    np.testing.assert_array_equal(logits_of(int8, ctx), logits_of(plain, ctx))


def test_onnx_runtime_threads_do_not_spin_between_calls(ctx):
    # spinning, they took the cores from torch while the two were timed side by side
    built = cnn.onnx_fp32(ctx, QUICK)
    sess = cnn.session(built.files["model.onnx"], 2)
    key = "session.intra_op.allow_spinning"
    assert sess.get_session_options().get_session_config_entry(key) == "0"


def test_structured_pruning_keeps_the_strongest_channels(ctx):
    conv = ctx.classifier.model[1]
    kept = shrink.kept_channels(conv, 4)
    norms = conv.weight.detach().flatten(1).norm(dim=1)
    assert set(kept.tolist()) == set(norms.topk(4).indices.tolist())
    small = shrink.narrower(ctx.classifier.model, ctx.classifier.config, 8)
    assert torch.equal(small[1].weight, conv.weight[kept_all := shrink.kept_channels(conv, 8)])
    assert len(kept_all) == 8


def test_the_student_starts_from_the_teachers_strongest_channels(ctx):
    teacher = ctx.classifier.model
    start = shrink.distil(ctx, replace(QUICK, distil_epochs=0)).model  # no training: the start
    kept = shrink.kept_channels(teacher[1], QUICK.student_width)
    assert torch.equal(start[1].weight, teacher[1].weight[kept])
    assert "started from the teacher's strongest channels" in shrink.distil(ctx, QUICK).notes
    cold = shrink.distil(ctx, replace(QUICK, distil_epochs=0, student_from_teacher=False))
    assert cold.model[1].weight.shape == start[1].weight.shape
    assert not torch.equal(cold.model[1].weight, start[1].weight)
    assert "random weights" in cold.notes


def test_the_default_student_is_over_5x_smaller_than_the_default_cnn():
    defaults, teacher = cnn.Settings(), model.CNNConfig()
    student = model.build_cnn(replace(teacher, width=defaults.student_width))
    assert defaults.student_from_teacher and defaults.distil_epochs >= 60
    assert cnn.count(model.build_cnn(teacher)) / cnn.count(student) >= 5


def test_verdicts_say_what_was_measured():
    slower = measure.verdict(speedup=0.6, size_ratio=0.26, noise=0.05)
    assert slower.startswith("slower on this hardware (1.7x slower)") and "3.8x smaller" in slower
    same = measure.verdict(speedup=1.05, size_ratio=1.0, noise=0.04, accuracy_drop_pts=0.0)
    assert same == ("no measurable change in speed, no smaller, no measurable change in accuracy")
    faster = measure.verdict(speedup=3.0, size_ratio=1.3, noise=0.01, accuracy_drop_pts=0.37)
    assert faster == "3.00x faster, larger (1.30x the file), accuracy -0.37 points"


def test_the_noise_is_robust_to_one_slow_round():
    timing = measure.Timing(p50_s=1.0, p95_s=2.0, rounds=[1.0, 1.01, 0.99, 1.0, 9.0])
    assert timing.noise == pytest.approx(0.01)


def test_machine_flags_and_words():
    flags = measure.cpu_flags("flags : fpu avx2 avx512f sse4_2")
    assert flags == ("avx2", "avx512f")
    m = measure.Machine(cpu="x", flags=flags, threads=2)
    assert m.describe() == "CPU, 2 threads (AVX2, AVX512F, no VNNI, no AMX)"


def test_bad_input_gets_a_message(ctx):
    with pytest.raises(cnn.CompressError, match="at least one calibration image"):
        cnn.int8_static(ctx, replace(QUICK, calibration_images=0))
    with pytest.raises(cnn.CompressError, match="not fewer than the teacher"):
        shrink.distil(ctx, replace(QUICK, student_width=32))
    with pytest.raises(cnn.Skipped, match="CUDA"):
        cnn.fp16_cuda(ctx, QUICK)


def test_a_failing_method_costs_only_itself(source):
    broken = source.classifier.model
    settings = replace(QUICK, calibration_images=0, student_width=64)
    request = tool.request_of(source, ("onnx", "int8", "distil", "fp16"), settings)
    out = tool.compress(replace(request, rounds=2))
    assert [v.method for v in out.variants] == ["original", "ONNX Runtime fp32"]
    reasons = dict(out.failed)
    assert "calibration image" in reasons[tool.METHODS["int8"][0]]
    assert "teacher" in reasons[tool.METHODS["distil"][0]]
    assert reasons[tool.METHODS["fp16"][0]].startswith("Skipped")
    assert broken is source.classifier.model


def test_a_non_finite_variant_is_refused(ctx, monkeypatch):
    def nan_model(ctx, s):
        bad = cnn.original(ctx)
        return replace(bad, method="nan", run=lambda x: np.full((len(x), 10), np.nan))

    monkeypatch.setitem(tool.METHODS, "nan", ("NaN maker", nan_model))
    src = sources.Source(classifier=ctx.classifier, data=ctx.data, seed=0, label="tiny")
    out = tool.compress(replace(tool.request_of(src, ("nan", "onnx"), QUICK), rounds=2))
    assert "non-finite" in dict(out.failed)["NaN maker"]
    assert len(out.variants) == 2  # the original and the variant after it


def test_stop_keeps_finished_variants(source):
    class StopAfterOne:
        def __init__(self):
            self.rows = []

        def should_stop(self):
            return len(self.rows) >= 1

        def report(self, *a, **k):
            pass

        def log(self, **row):
            self.rows.append(row)

    progress = StopAfterOne()
    request = replace(tool.request_of(source, ("onnx", "int8", "structured"), QUICK), rounds=2)
    out = tool.compress(request, progress)
    assert out.stopped and [v.method for v in out.variants] == ["original", "ONNX Runtime fp32"]
    record = tool.run_record(out)
    assert record.status == "KILLED"


def test_the_comparison_is_recorded_with_its_source_run(tmp_path, monkeypatch):
    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path))
    train = cnn_tool.Request(data=DIGITS, model=CFG, train=TrainConfig(epochs=1))
    job = jobs.Job(target=cnn_tool.train_job(train), name="train cnn", tool="cnn").start()
    assert job.wait(120) and job.result.recorded.wait(120)
    source_run = job.result.recording.run_id
    assert source_run

    target = tool.compress_job(
        lambda progress: sources.from_run(source_run), ("onnx", "int8"), QUICK
    )
    job = jobs.Job(target=target, name="compress", tool="compress").start()
    assert job.wait(300) and job.status == "done", job.details
    recorded = job.result.recorded
    assert recorded.ok, recorded.reason
    detail = runs.get_run(recorded.run_id)
    assert detail.summary.tags["source_run"] == source_run
    assert math.isfinite(detail.metrics["static_int8_speedup"])
    assert detail.metrics["static_int8_size_ratio"] < 0.5
    files = {a.path for a in detail.artifacts}
    assert "variants/static_int8/model.onnx" in files
    assert detail.tables["variants"][1]["method"] == "ONNX Runtime fp32"

    # the recorded comparison, as the pitch pack reads it: a section in words, no raw keys
    import datetime as dt

    from core.runs import pitch
    from tests.test_pitch import visible_text

    page = pitch.build([detail], None, product="Acme", hardware="a CPU", date=dt.date.today())
    text = visible_text(page)
    assert "What compression saves" in text and "static int8" in text.lower()
    assert re.search(r"\d(\.\d+)?x smaller", text), text[:2000]
    first = " ".join(visible_text(page.split("</section>")[0]).split())
    best = detail.metrics.get("best_speedup")
    if best is not None:  # page 1 names the page's best trade-off and its accuracy in words
        method = job.result.best().method
        assert detail.summary.tags["best_method"] == method
        assert re.search(r"runs \d+\.\dx faster.*?accuracy.*?\(original \d+\.\d %\)", first)
        assert f"{method} runs" in first
    keys = (*detail.metrics, *detail.tables["variants"][0])
    raw = [k for k in keys if "_" in k and k in text]  # snake_case keys, never shown
    assert not raw, raw
    section = " ".join(text.split("What compression saves")[-1].split())
    assert (
        "Variant Accuracy Speed Size Verdict on this machine" in section
    )  # what an investor reads
    assert "Latency" not in section and "Images per" not in section  # not the engineers' table
    assert re.search(r"static int8 \d+\.\d % \d+\.\d\dx the original", section), section[:800]
    assert "Measured on CPU" in section


def test_a_run_of_another_kind_is_not_a_cnn(tmp_path, monkeypatch):
    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path))
    from core.runs.types import RunRecord

    other = runs.try_record("optimizers", RunRecord(name="race", metrics={"best_final_loss": 1}))
    with pytest.raises(cnn.CompressError, match="not a CNN"):
        sources.from_run(other.run_id)
