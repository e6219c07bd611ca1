"""core.textgen with a tiny GPT-2 built here: loading, greedy parity with generate, streaming,
Stop, window truncation, seeds, concurrency, corpus checks and training."""

import threading

import pytest
import torch

from core import jobs, textgen
from tests.helpers import save_tiny_gpt2

CORPUS = "The quick brown fox jumps over the lazy dog. User: hello Assistant: hi there. " * 40


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """A random 2-layer GPT-2 with a 64-token window and its tokenizer, saved to disk."""
    return save_tiny_gpt2(tmp_path_factory.mktemp("models") / "tiny", CORPUS, positions=64)


@pytest.fixture(scope="module")
def lm(tiny_dir):
    return textgen.load_model(str(tiny_dir), "cpu")


def run(lm, prompt, settings, stop=None):
    return list(textgen.stream_reply(lm, prompt, settings, stop or threading.Event()))


GREEDY = textgen.Settings(
    temperature=0, repetition_penalty=1.0, max_new_tokens=12, mode="completion"
)


def test_loads_through_the_real_code(lm):
    assert lm.context == 64 and lm.parameters > 0 and not lm.has_chat_template
    assert lm.model.training is False


def test_greedy_output_equals_generate(lm):
    prompt = textgen.build_prompt(lm, [{"role": "user", "content": "The quick brown"}], GREEDY)
    reply = run(lm, prompt, GREEDY)[-1][1]
    ref = lm.model.generate(
        torch.tensor([prompt.ids]),
        attention_mask=torch.ones(1, len(prompt.ids), dtype=torch.long),
        max_new_tokens=12,
        do_sample=False,
        pad_token_id=lm.tokenizer.eos_token_id,
    )
    new = ref[0, len(prompt.ids) :].tolist()
    assert reply.new_tokens == len(new)
    assert reply.text == lm.tokenizer.decode(new, skip_special_tokens=True)
    assert [t.text for t in reply.tokens] == [lm.tokenizer.decode([i]) for i in new]


def test_streaming_is_incremental_and_measured(lm):
    prompt = textgen.build_prompt(lm, [{"role": "user", "content": "fox"}], GREEDY)
    events = run(lm, prompt, GREEDY)
    texts = [p for kind, p in events if kind == "text"]
    assert len(set(texts)) >= 2  # the reply arrived in pieces, growing
    assert [len(t) for t in texts] == sorted(len(t) for t in texts)
    kind, reply = events[-1]
    assert kind == "end" and reply.prompt_tokens == len(prompt.ids)
    assert reply.ttft_s > 0 and reply.seconds >= reply.ttft_s and reply.tokens_per_s > 0
    for t in reply.tokens:
        assert 0 <= t.probability <= 1 and len(t.alternatives) == 5
        assert t.alternatives[0][1] >= t.alternatives[-1][1]


def test_stop_ends_within_a_token(lm):
    settings = textgen.Settings(temperature=0, max_new_tokens=40, mode="completion")
    prompt = textgen.build_prompt(lm, [{"role": "user", "content": "dog"}], settings)
    stop = threading.Event()
    seen = 0
    for kind, payload in textgen.stream_reply(lm, prompt, settings, stop):
        if kind == "text":
            seen += 1
            stop.set()
        if kind == "end":
            reply = payload
    assert reply.stopped and reply.new_tokens <= seen + 1 < 40


def test_closing_the_stream_stops_the_worker(lm):
    settings = textgen.Settings(temperature=0, max_new_tokens=40, mode="completion")
    prompt = textgen.build_prompt(lm, [{"role": "user", "content": "dog"}], settings)
    stop = threading.Event()
    stream = textgen.stream_reply(lm, prompt, settings, stop)
    next(s for s in stream if s[0] == "text")
    stream.close()  # what an interrupted page does
    assert stop.is_set()
    assert lm.lock.acquire(timeout=10)  # the worker let go of the model
    lm.lock.release()


def test_history_is_cut_from_the_left_to_fit_the_window(lm):
    settings = textgen.Settings(max_new_tokens=20)
    history = []
    for i in range(12):
        history += [
            {"role": "user", "content": f"question {i} about the fox"},
            {"role": "assistant", "content": f"answer {i} about the dog"},
        ]
    history.append({"role": "user", "content": "last question"})
    prompt = textgen.build_prompt(lm, history, settings)
    assert len(prompt.ids) <= 64 - 20 and prompt.dropped_turns > 0 and not prompt.truncated
    assert prompt.text.endswith("User: last question\nAssistant:")
    assert "answer 11" in prompt.text and "question 0 " not in prompt.text
    kept = 2 * 12 + 1 - prompt.dropped_turns  # the newest turns, none skipped in between
    assert prompt.text.count("\n") + 1 == kept + 1


def test_one_overlong_message_keeps_its_end(lm):
    settings = textgen.Settings(max_new_tokens=20, mode="completion")
    long = "brown fox " * 200 + "THE END"
    prompt = textgen.build_prompt(lm, [{"role": "user", "content": long}], settings)
    assert prompt.truncated and len(prompt.ids) == 44
    assert prompt.text.endswith("END")
    with pytest.raises(ValueError, match="no room"):
        textgen.build_prompt(
            lm, [{"role": "user", "content": "x"}], textgen.Settings(max_new_tokens=64)
        )


def test_a_fixed_seed_reproduces_a_sampled_reply(lm):
    s = textgen.Settings(temperature=1.0, max_new_tokens=15, seed=7, mode="completion")
    prompt = textgen.build_prompt(lm, [{"role": "user", "content": "The"}], s)
    a, b = run(lm, prompt, s)[-1][1], run(lm, prompt, s)[-1][1]
    c = run(lm, prompt, textgen.Settings(**{**vars(s), "seed": 8}))[-1][1]
    assert a.text == b.text and [t.text for t in a.tokens] == [t.text for t in b.tokens]
    assert [t.text for t in c.tokens] != [t.text for t in a.tokens]


def test_two_sessions_at_once_are_serialised(lm):
    prompt = textgen.build_prompt(lm, [{"role": "user", "content": "fox"}], GREEDY)
    results = [None, None]

    def go(i):
        results[i] = run(lm, prompt, GREEDY)

    threads = [threading.Thread(target=go, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    replies = [r[-1][1] for r in results]
    assert replies[0].text == replies[1].text  # same greedy text: no cross-talk, no NaN
    assert all(r[-1][0] == "end" for r in results)


def test_control_characters_and_emoji_are_handled(lm):
    s = textgen.Settings(temperature=0, max_new_tokens=5)
    text = "hi \x00\x07 there 🦊\u202e"
    assert textgen.clean(text) == "hi  there 🦊\u202e"
    prompt = textgen.build_prompt(lm, [{"role": "user", "content": text}], s)
    assert run(lm, prompt, s)[-1][0] == "end"


def test_missing_models_say_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setattr(textgen, "hub_reachable", lambda *a, **k: False)
    with pytest.raises(textgen.ModelLoadError, match="no network and no cached copy"):
        textgen.load_model("someone/not-cached-model", "cpu")
    with pytest.raises(textgen.ModelLoadError, match="Type a Hugging Face model id"):
        textgen.load_model("  ", "cpu")
    (tmp_path / "broken").mkdir()
    with pytest.raises(textgen.ModelLoadError, match="not a model folder"):
        textgen.load_model(str(tmp_path / "broken"), "cpu")
    (tmp_path / "broken" / "config.json").write_text("{not json")
    with pytest.raises(textgen.ModelLoadError, match="Cannot load"):
        textgen.load_model(str(tmp_path / "broken"), "cpu")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"", "empty"),
        (b"\x00\x01binary" * 100, "binary"),
        (b"\xff\xfe\xfa" * 1000, "not UTF-8"),
        (b"short text", "Too little text"),
        (b"\x01\x02\x03" * 1000, "control characters"),
    ],
)
def test_bad_corpora_are_refused(raw, why):
    with pytest.raises(ValueError, match=why):
        textgen.read_corpus(raw)


def test_training_lowers_the_loss_and_saves_a_loadable_model(monkeypatch, tmp_path):
    monkeypatch.setenv("DASHBOARD_MODELS", str(tmp_path))
    cfg = textgen.TinyGPTConfig(
        name="unit",
        vocab_size=300,
        layers=1,
        width=32,
        heads=2,
        context=32,
        steps=60,
        batch_size=8,
        sample_every=20,
    )
    job = jobs.Job(lambda ctx: textgen.train_small_gpt2(CORPUS, cfg, "cpu", ctx)).start()
    assert job.wait(120) and job.status == "done", job.error
    rows = job.metrics()
    assert rows[0]["step"] == 1 and rows[-1]["step"] == 60
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] - 1.0
    assert rows[-1]["val_loss"] < rows[0]["val_loss"]
    assert textgen.local_models() == [str(tmp_path / "unit")]
    trained = textgen.load_model(str(tmp_path / "unit"), "cpu")
    assert trained.context == 32
    with pytest.raises(ValueError, match="multiple of heads"):
        textgen.TinyGPTConfig(width=30, heads=4)
    with pytest.raises(ValueError, match="no slashes"):
        textgen.TinyGPTConfig(name="../evil")


def test_hub_download_reports_bytes_and_skips_duplicate_weights(monkeypatch, tmp_path):
    import time
    from types import SimpleNamespace

    import huggingface_hub
    from huggingface_hub import constants

    monkeypatch.setattr(textgen, "hub_reachable", lambda *a, **k: True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    files = {"config.json": 100, "model.safetensors": 2_000_000, "pytorch_model.bin": 2_000_000}
    siblings = [SimpleNamespace(rfilename=n, size=b) for n, b in files.items()]
    monkeypatch.setattr(
        huggingface_hub.HfApi,
        "model_info",
        lambda self, repo, files_metadata: SimpleNamespace(siblings=siblings),
    )
    asked = {}

    def fake_snapshot(repo_id, allow_patterns):  # writes the blobs the way the hub client does
        asked["patterns"] = allow_patterns
        blobs = tmp_path / "models--org--tiny" / "blobs"
        blobs.mkdir(parents=True)
        for name in ("config.json", "model.safetensors"):
            (blobs / name).write_bytes(b"x" * files[name])
            time.sleep(0.7)
        return str(tmp_path / "snapshot")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    job = jobs.Job(lambda ctx: textgen.download_model("org/tiny", ctx)).start()
    assert job.wait(10) and job.status == "done", job.error
    assert job.result == str(tmp_path / "snapshot")
    assert "*.bin" not in asked["patterns"] and "*.safetensors" in asked["patterns"]
    assert job.progress == pytest.approx(1.0) and job.message == "2 of 2 MiB"


@pytest.mark.parametrize("total", [1, 2, 3, 9, 10, 11, 19, 20, 300, 20_000])
def test_the_learning_rate_schedule_works_for_every_step_count(total):
    factors = [textgen.lr_factor(i, total) for i in range(total)]
    assert all(0 < f <= 1 for f in factors)
    assert max(factors) == 1.0


@pytest.mark.parametrize("steps", [1, 2, 10])
def test_training_runs_at_the_fewest_steps(monkeypatch, tmp_path, steps):
    monkeypatch.setenv("DASHBOARD_MODELS", str(tmp_path))
    cfg = textgen.TinyGPTConfig(
        name="edge", vocab_size=300, layers=1, width=32, heads=2, context=16, steps=steps
    )
    job = jobs.Job(lambda ctx: textgen.train_small_gpt2(CORPUS, cfg, "cpu", ctx)).start()
    assert job.wait(120) and job.status == "done", job.error
    assert job.metrics()[-1]["step"] == steps


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("/etc", "not a model folder"),
        ("https://huggingface.co/gpt2", "web address"),
        ("../models/x", "not a hub id"),
        ("org/../x", "not a hub id"),
        ("/no/such/folder", "not a hub id"),
    ],
)
def test_sources_that_are_neither_a_model_folder_nor_a_hub_id(source, why):
    with pytest.raises(textgen.ModelLoadError, match=why):
        textgen.load_model(source, "cpu")
    assert not textgen.needs_download(source)


def test_hub_ids_and_model_folders_are_accepted(tiny_dir):
    assert textgen.check_source("gpt2") == "gpt2"
    assert textgen.check_source("openai-community/gpt2-medium") == "openai-community/gpt2-medium"
    assert textgen.check_source(str(tiny_dir)) == tiny_dir


def test_invisible_messages_are_blank():
    for blank in ["", "  \n\t", "\u200b", "\u200d\u2060\ufeff", "\u3164", "\u2800 \u00a0"]:
        assert textgen.is_blank(blank), repr(blank)
    for text in ["a", " ok ", "🦊", "\u200bx"]:
        assert not textgen.is_blank(text), repr(text)


def test_the_markdown_export_shows_text_literally():
    markdown_it = pytest.importorskip("markdown_it")  # installed with rich (transformers)
    evil = "<script>x</script> **bold** [link](http://e.com)\n    >>> code line\n# heading"
    messages = [
        {"role": "user", "content": evil},
        {"role": "assistant", "content": evil, "stats": None},
    ]
    md = textgen.transcript_markdown({"model": "m_*x*"}, messages, 0.1)
    html = markdown_it.MarkdownIt("commonmark").render(md)
    body = html.split("</h1>", 1)[1]
    assert body.count("<strong>") == 2  # the two role names, nothing from the texts
    for tag in ("<script", "<a ", "<pre>", "<code>", "<h1>", "<em>"):
        assert tag not in body, tag
    assert html.count("&lt;script&gt;x&lt;/script&gt;") == 2
    assert html.count("**bold**") == 2 and html.count("&gt;&gt;&gt; code line") == 2
