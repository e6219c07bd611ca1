"""core.compress.gpt2 on a tiny GPT-2: every Conv1D becomes a linear layer and is quantized,
perplexity with a stated window and stride scores every token once, the variants report
finite figures, and a folder that is not a causal LM (or has no weights) gets a message.
core.compress.textjob: the distilled student (smaller, finite, in the same table), each
variant kept (the student and fp16 load through the chat's loader; int8's state dict
reloads), the run recorded and linked to the training run, Stop and bad input."""

from __future__ import annotations

import copy
import io
import json
import math
import re
import zipfile

import pytest
import torch
from torch import nn

from core import paths
from core.compress import gpt2, keep, student, textjob
from core.compress.cnn import CompressError
from core.compress.student import StudentSettings
from core.text import quant
from tests.helpers import open_page, save_tiny_gpt2

TEXT = "the cat sat on the mat and the dog sat on the log. " * 40


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = save_tiny_gpt2(tmp_path_factory.mktemp("gpt2"), TEXT, positions=128)
    return gpt2.load(folder)


def test_int8_quantizes_every_linear_layer(tiny):
    from transformers.pytorch_utils import Conv1D

    model, _ = tiny
    n_conv = sum(isinstance(m, Conv1D) for m in model.modules())
    n_linear = sum(isinstance(m, nn.Linear) for m in model.modules())
    variants = gpt2.variants_of(model)
    _, int8 = variants["dynamic int8"]
    quantized = [
        m
        for m in int8.modules()
        if type(m).__name__ == "Linear" and "quantized" in type(m).__module__
    ]
    assert len(quantized) == n_conv + n_linear
    assert not any(isinstance(m, Conv1D) for m in int8.modules())


def test_a_small_model_is_timed_on_one_thread_as_the_chat_decodes_it(tiny, monkeypatch):
    """Timed on two threads in the job's thread, beside the page's OpenMP team, a small
    GPT-2's decode ran at less than half its speed and swung between loops of one run."""
    from core import device as dev
    from core.text import generate

    model, tok = tiny
    ids = torch.tensor(tok(TEXT)["input_ids"][:100])
    seen, plain = [], gpt2.greedy
    monkeypatch.setattr(
        gpt2, "greedy", lambda *a: seen.append(torch.get_num_threads()) or plain(*a)
    )
    s = gpt2.TextSettings(window=64, stride=32, new_tokens=4, rounds=1)
    before = torch.get_num_threads()
    rows = gpt2.compare(model, ids[:8], ids[-80:], s)
    assert seen and set(seen) == {1} and torch.get_num_threads() == before
    assert {v.machine.threads for v in rows} == {1}  # what the result says it ran on
    monkeypatch.setattr(generate, "SMALL_MODEL_PARAMS", 10)  # the same model, now "big"
    assert gpt2.decode_threads(model) == dev.cpu_threads()


def test_perplexity_scores_each_token_once(tiny):
    model, tok = tiny
    ids = torch.tensor(tok(TEXT)["input_ids"][:100])
    whole = gpt2.perplexity(model, ids, window=100, stride=100)
    with torch.no_grad():
        direct = math.exp(model(input_ids=ids[None], labels=ids[None]).loss.item())
    assert whole == pytest.approx(direct, rel=1e-4)
    sliding = gpt2.perplexity(model, ids, window=40, stride=20)
    assert math.isfinite(sliding) and sliding > 1


def test_compare_reports_finite_figures(tiny):
    model, tok = tiny
    ids = torch.tensor(tok(TEXT)["input_ids"])
    s = gpt2.TextSettings(window=32, stride=16, new_tokens=4, rounds=2)
    rows = gpt2.compare(model, ids[:8], ids[-80:], s)
    assert [v.method for v in rows] == ["original", "dynamic int8", "fp16 weights"]
    for v in rows[1:]:
        assert math.isfinite(v.quality["perplexity"]) and 0 <= v.quality["greedy_agreement"] <= 1
        assert v.throughput > 0 and "perplexity" in v.verdict and "window 32, stride 16" in v.notes
    assert rows[1].size_ratio < 1  # int8 weights


def test_folders_that_are_not_a_causal_lm(tmp_path):
    with pytest.raises(CompressError, match="no weights"):
        gpt2.check_folder(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"x")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "vit"}))
    with pytest.raises(CompressError, match="not a causal LM"):
        gpt2.check_folder(tmp_path)


# ---- distillation, the recorded run, the kept files, bad input ---------------------------

QUICK = gpt2.TextSettings(window=32, stride=16, new_tokens=4, rounds=2)
STUDENT = StudentSettings(layers=1, width=16, steps=15, batch_size=4, context=32)


class StopAfter:
    """A Progress that asks to stop once `n` variants were logged."""

    def __init__(self, n: int) -> None:
        self.n, self.rows = n, []

    def should_stop(self) -> bool:
        return len(self.rows) >= self.n

    def report(self, *args, **kwargs) -> None:
        pass

    def log(self, **row) -> None:
        self.rows.append(row)


@pytest.fixture(scope="module")
def compared():
    """A tiny GPT-2 under the models folder, compressed with every method (not recorded)."""
    folder = save_tiny_gpt2(paths.models_dir() / "unit-gpt2", TEXT, positions=128)
    request = textjob.TextRequest(folder=str(folder), settings=QUICK, student=STUDENT, text=TEXT)
    return folder, textjob.compress_text(request)


def test_the_student_is_smaller_finite_and_measured_in_the_same_table(compared):
    _, c = compared
    assert not c.failed, c.failed
    assert [v.method for v in c.variants] == [
        "original",
        "dynamic int8",
        "fp16 weights",
        "distilled student",
    ]
    base, st = c.variants[0], c.student_variant()
    assert st.params < base.params and st.param_ratio == pytest.approx(base.params / st.params)
    assert st.file_bytes < base.file_bytes and st.throughput > 0
    assert math.isfinite(st.quality["perplexity"]) and 0 <= st.quality["greedy_agreement"] <= 1
    assert "1 layer x width 16" in st.notes and "temperature 2" in st.notes
    assert "weight 0.5 on the teacher" in st.notes and "window 32, stride 16" in st.notes
    row = gpt2.rows(c.variants)[3]
    assert row["params"] == st.params and row["params_x"] > 1


def test_the_kept_student_and_fp16_load_through_the_chats_loader(compared):
    from core.text import loading, sources

    folder, c = compared
    listed = sources.local_models()
    for name in ("distilled student", "fp16 weights"):
        kept = c.kept[name]
        assert kept.chat and str(kept.path) in listed
        lm = loading.load_model(str(kept.path), "cpu")  # the chat's own loader and checks
        ids = lm.tokenizer("the cat", return_tensors="pt")["input_ids"]
        with torch.no_grad():
            assert torch.isfinite(lm.model(input_ids=ids).logits).all()
    student_lm = loading.load_model(str(c.kept["distilled student"].path), "cpu")
    assert student_lm.parameters == c.student_variant().params
    assert keep.marked(c.kept["fp16 weights"].path)["source_folder"] == str(folder)
    names = zipfile.ZipFile(io.BytesIO(keep.zipped(c.kept["fp16 weights"].path))).namelist()
    assert any(n.endswith("config.json") for n in names)


def test_int8_is_kept_as_a_state_dict_that_reloads(compared):
    from core.text import sources

    folder, c = compared
    kept = c.kept["dynamic int8"]
    assert not kept.chat and str(kept.path) not in sources.local_models()
    assert "cannot be saved as a Hugging Face folder" in kept.note
    model, tok = gpt2.load(folder)
    again = quant.int8_dynamic(model)
    with quant.quiet_quantization():
        again.load_state_dict(torch.load(kept.path / "int8_state_dict.pt", weights_only=False))
        ids = torch.tensor(tok(TEXT)["input_ids"][:40])
        ppl = gpt2.perplexity(again, ids, 32, 16)
    assert math.isfinite(ppl)


def test_a_student_not_smaller_than_its_teacher_is_refused(compared):
    folder, _ = compared
    for layers, width in ((2, 32), (3, 16), (1, 64)):
        request = textjob.TextRequest(
            folder=str(folder), student=StudentSettings(layers=layers, width=width)
        )
        with pytest.raises(CompressError, match="not smaller than its teacher"):
            textjob.check(request)
    with pytest.raises(CompressError, match="temperature"):
        StudentSettings(temperature=0)


def test_distillation_needs_a_gpt2_teacher(tmp_path):
    from transformers import LlamaConfig

    with pytest.raises(CompressError, match="GPT-2 student; this is a llama model"):
        student.student_config(LlamaConfig(), StudentSettings())


def test_a_non_finite_variant_is_refused_and_the_others_are_kept(compared, monkeypatch):
    folder, _ = compared

    def broken(model):
        out = copy.deepcopy(model)
        with torch.no_grad():
            out.transformer.wte.weight.fill_(float("nan"))
        return out.eval()

    monkeypatch.setitem(gpt2.BUILDERS, "fp16 weights", ("fp16 weights, broken", broken))
    request = textjob.TextRequest(
        folder=str(folder), methods=("int8", "fp16"), settings=QUICK, export=False
    )
    c = textjob.compress_text(request)
    assert [v.method for v in c.variants] == ["original", "dynamic int8"]
    ((method, why),) = c.failed
    assert method == "fp16 weights" and "non-finite" in why


def test_stop_keeps_the_variants_finished_so_far(compared):
    folder, _ = compared
    request = textjob.TextRequest(folder=str(folder), settings=QUICK, student=STUDENT, export=False)
    c = textjob.compress_text(request, StopAfter(1))
    assert c.stopped and [v.method for v in c.variants] == ["original", "dynamic int8"]
    assert textjob.run_record(c).status == "KILLED"


def test_the_comparison_is_recorded_linked_to_the_training_run(tmp_path, monkeypatch):
    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path))
    import datetime as dt

    from core import runs
    from core.runs import pitch
    from core.text import tinygpt
    from tests.test_pitch import visible_text

    cfg = tinygpt.TinyGPTConfig(
        name="small", vocab_size=256, layers=2, width=32, heads=2, context=32, steps=3,
        batch_size=4, sample_every=100,
    )  # fmt: skip
    trained = tinygpt.train_and_record(TEXT * 2, cfg, "cpu")
    assert trained.recorded.ok, trained.recorded.reason
    assert textjob.source_run_of(trained.folder) == trained.recorded.run_id
    request = textjob.TextRequest(
        folder=str(trained.folder), methods=("int8", "student"), settings=QUICK, student=STUDENT
    )
    c = textjob.text_job(request)(StopAfter(99))
    assert c.recorded.ok, c.recorded.reason
    detail = runs.get_run(c.recorded.run_id)
    assert detail.summary.tool == "compress"
    assert detail.summary.tags["source_run"] == trained.recorded.run_id
    assert detail.summary.tags["source_folder"] == str(trained.folder)
    assert detail.params["student.temperature"] == "2.0"
    m = detail.metrics
    assert m["student_param_ratio"] > 1 and math.isfinite(m["student_perplexity_change"])
    assert math.isfinite(m["dynamic_int8_speedup"]) and "distilled_student_perplexity" in m
    assert {"machine", "source_run"} <= set(detail.summary.tags)
    assert [r["method"] for r in detail.tables["variants"]][-1] == "distilled student"
    kept = c.kept["distilled student"].path
    assert keep.marked(kept)["run_id"] == c.recorded.run_id  # the kept folder knows its run
    assert textjob.source_run_of(kept) == c.recorded.run_id

    page = pitch.build([detail], None, product="Acme", hardware="a CPU", date=dt.date.today())
    text = " ".join(visible_text(page).split())
    assert "What compression saves" in text and "distilled student" in text
    # page 1 names the page's best trade-off, its speed and its perplexity change in words
    headline = r"Compressed a model \(.+?\): (dynamic int8|fp16 weights|distilled student) runs"
    assert re.search(headline + r" \d+\.\dx faster.*?perplexity [+-]\d+\.\d %", text), text[:1500]
    assert "perplexity" in text.split("What compression saves")[1].lower()
    keys = (*detail.metrics, *detail.tables["variants"][0])
    raw = [k for k in keys if "_" in k and k in text]  # snake_case keys, never shown
    assert not raw, raw

    # the Runs page opens it: its name, its headline, the variants' table
    at = open_page("pages/runs.py")
    at.query_params["run"] = c.recorded.run_id
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [s.value for s in at.subheader][-1] == detail.summary.name
    tables = [d.value for d in at.dataframe]
    assert any("method" in t and "distilled student" in list(t["method"]) for t in tables)
    (variants,) = [d for d in at.dataframe if "perplexity_change_pct" in d.value]
    shown = variants.proto.columns  # the Compress page's headers (JSON), not the row keys
    assert "Perplexity change (%)" in shown and "Speed (x original)" in shown
    first = variants.proto.column_order[:3]  # what a phone shows without a scroll
    assert list(first) == ["method", "speedup_x", "size_x"]
    assert "Variants" in [m.value.strip("*") for m in at.markdown]


def test_a_kept_folder_never_replaces_a_folder_someone_else_made(tmp_path):
    theirs = tmp_path / "mine-fp16"
    theirs.mkdir()
    (theirs / "config.json").write_text("{}")
    assert keep.free_folder(theirs) == tmp_path / "mine-fp16-2"
    assert (theirs / "config.json").is_file()
    ours = tmp_path / "other-fp16"
    ours.mkdir()
    keep.mark(ours, {"method": "fp16 weights"})
    assert keep.free_folder(ours) == ours and not ours.exists()  # ours: emptied for the new one


class StopWhileDistilling(StopAfter):
    """Asks to stop after three steps of distillation."""

    def __init__(self) -> None:
        super().__init__(99)
        self.steps = 0

    def should_stop(self) -> bool:
        return self.steps >= 3

    def report(self, progress, message="", **kwargs) -> None:
        self.steps += message.startswith("Distilling")


def test_stop_during_distillation_keeps_the_other_variants_and_says_so(compared):
    folder, _ = compared
    request = textjob.TextRequest(
        folder=str(folder), methods=("int8", "student"), settings=QUICK, student=STUDENT,
        text=TEXT, export=False,
    )  # fmt: skip
    c = textjob.compress_text(request, StopWhileDistilling())
    assert c.stopped and [v.method for v in c.variants] == ["original", "dynamic int8"]
    ((method, why),) = c.failed
    assert method == "distilled student" and why.startswith("Stopped: stopped at step 3 of 15")


def test_the_chart_places_each_variant_by_its_speedup_over_the_original():
    from core.compress import charts
    from core.compress.measure import Variant, machine

    m = machine(1)
    original = Variant(
        method="original",
        engine="e",
        precision="fp32",
        machine=m,
        latency_p50_s=0.010,
        quality={"perplexity": 60.0},
    )
    faster = Variant(
        method="int8",
        engine="e",
        precision="int8",
        machine=m,
        speedup=2.0,
        latency_p50_s=0.030,
        quality={"perplexity": 61.0},
    )  # a loaded loop
    fig = charts.perplexity_trade_off([original, faster], faster)  # fmt: skip
    assert [t.x[0] for t in fig.data] == pytest.approx([10.0, 5.0])
    assert [t.y[0] for t in fig.data] == [60.0, 61.0]
