"""core.text.textgen with a tiny GPT-2 built here: loading, greedy parity with generate, streaming,
Stop, window truncation, seeds, concurrency, corpus checks and training."""

import threading
import time
from dataclasses import replace

import pytest
import torch

from core import device as dev
from core import jobs
from core.text import textgen
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


def tiny_config(name: str, **changes) -> textgen.TinyGPTConfig:
    """A one-layer, 32-wide GPT-2 on a 16-token window: seconds to train."""
    shape = dict(vocab_size=300, layers=1, width=32, heads=2, context=16, steps=2)
    return textgen.TinyGPTConfig(name=name, **shape | changes)


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


def test_stop_ends_within_a_token(lm, monkeypatch):
    put = textgen._QueueStreamer.put
    slow = lambda self, value: (time.sleep(0.005), put(self, value))  # noqa: E731
    monkeypatch.setattr(textgen._QueueStreamer, "put", slow)  # Stop lands mid-reply
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


def hold_the_reply_lane() -> threading.Event:
    """Occupy the CPU reply lane until the returned Event is set."""
    gate = threading.Event()
    jobs.submit(lambda ctx: gate.wait(20), "hold", tool="test", device=jobs.reply_lane("cpu"))
    return gate


def test_replies_queue_in_order_with_their_place_shown(lm):
    prompt = textgen.build_prompt(lm, [{"role": "user", "content": "fox"}], GREEDY)
    gate = hold_the_reply_lane()
    streams = [textgen.stream_reply(lm, prompt, GREEDY, threading.Event()) for _ in range(2)]
    asked = [time.perf_counter()]
    assert next(streams[0]) == ("waiting", 1)
    asked.append(time.perf_counter())
    assert next(streams[1]) == ("waiting", 2)
    gate.set()
    ends = [[p for k, p in s if k == "end"][0] for s in streams]
    started = [t + reply.waited_s for t, reply in zip(asked, ends, strict=True)]
    assert started[0] < started[1]  # first come, first served
    assert ends[0].text == ends[1].text
    assert all(job.wait(5) for job in jobs.active("chat"))


def test_a_queued_reply_leaves_the_queue_when_its_page_goes(lm):
    prompt = textgen.build_prompt(lm, [{"role": "user", "content": "fox"}], GREEDY)
    gate = hold_the_reply_lane()
    stream = textgen.stream_reply(lm, prompt, GREEDY, threading.Event())
    assert next(stream)[0] == "waiting" and len(jobs.active("chat")) == 1
    stream.close()  # what an interrupted page does
    assert not jobs.active("chat")
    gate.set()


def test_a_reply_does_not_wait_for_a_training_on_the_same_device(lm):
    gate = threading.Event()
    training = jobs.submit(lambda ctx: gate.wait(20), "train", tool="cnn", device="cpu")
    prompt = textgen.build_prompt(lm, [{"role": "user", "content": "fox"}], GREEDY)
    try:
        assert training.running and run(lm, prompt, GREEDY)[-1][0] == "end"
    finally:
        gate.set()


def test_a_small_model_decodes_on_one_thread_and_the_count_is_put_back(lm, monkeypatch):
    seen, generate = [], lm.model.generate

    def counting(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return generate(*args, **kwargs)

    monkeypatch.setattr(lm.model, "generate", counting)
    before = torch.get_num_threads()
    prompt = textgen.build_prompt(lm, [{"role": "user", "content": "fox"}], GREEDY)
    assert run(lm, prompt, GREEDY)[-1][0] == "end"
    assert seen == [1] and textgen.generation_threads(lm) == 1
    after = []
    probe = threading.Thread(target=lambda: after.append(torch.get_num_threads()))
    probe.start()
    probe.join()
    assert after == [before]  # threads started later get the usual count
    big = replace(lm, parameters=textgen.SMALL_MODEL_PARAMS)
    assert textgen.generation_threads(big) == dev.cpu_threads()


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
    cfg = tiny_config("unit", context=32, steps=60, batch_size=8, sample_every=20)
    job = jobs.Job(target=lambda ctx: textgen.train_small_gpt2(CORPUS, cfg, "cpu", ctx)).start()
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
    job = jobs.Job(target=lambda ctx: textgen.download_model("org/tiny", ctx)).start()
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
    cfg = tiny_config("edge", steps=steps)
    job = jobs.Job(target=lambda ctx: textgen.train_small_gpt2(CORPUS, cfg, "cpu", ctx)).start()
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


def fake_stream(n: int, clock: list[float], step_s: float):
    """What stream_reply yields for `n` tokens arriving `step_s` apart on a fake clock."""

    def stream(lm, prompt, settings, stop):
        text = ""
        for i in range(n):
            clock[0] += step_s
            text += f" w{i}"
            yield "text", text
        yield "end", textgen.Reply(text=text, new_tokens=n, ttft_s=step_s, seconds=n * step_s)

    return stream


@pytest.mark.parametrize(("step_s", "most"), [(0.0, 1), (0.001, 11), (0.0001, 2)])
def test_a_fast_stream_redraws_at_most_20_times_a_second(monkeypatch, step_s, most):
    clock = [0.0]
    monkeypatch.setattr(textgen, "stream_reply", fake_stream(500, clock, step_s))
    message = textgen.reply_message(GREEDY)
    events = list(textgen.chat_events(None, None, GREEDY, message, clock=lambda: clock[0]))
    redraws = [p for k, p in events if k == "text"]
    assert 1 <= len(redraws) <= most  # 500 tokens in 0.5 s: at most 0.5 / 0.05 + 1 redraws
    assert events[-1][0] == "end" and message["content"].endswith(" w499")
    assert message["stats"]["new_tokens"] == 500


def test_a_slow_stream_still_redraws_every_token(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(textgen, "stream_reply", fake_stream(30, clock, 0.1))
    message = textgen.reply_message(GREEDY)
    events = list(textgen.chat_events(None, None, GREEDY, message, clock=lambda: clock[0]))
    assert len([k for k, _ in events if k == "text"]) == 30


def test_a_stream_cut_short_keeps_its_text(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(textgen, "stream_reply", fake_stream(30, clock, 0.1))
    message = textgen.reply_message(GREEDY)
    stream = textgen.chat_events(None, None, GREEDY, message, clock=lambda: clock[0])
    for _ in range(5):
        next(stream)
    stream.close()  # what a rerun of the page does
    assert message["content"] == " w0 w1 w2 w3 w4 [stopped]" and message["stats"] is None


def test_trained_models_carry_the_transcript_as_their_chat_template(monkeypatch, tmp_path):
    monkeypatch.setenv("DASHBOARD_MODELS", str(tmp_path))
    cfg = tiny_config("chatty", context=64, steps=1)
    folder = textgen.train_small_gpt2(CORPUS, cfg, "cpu")
    trained = textgen.load_model(str(folder), "cpu")
    assert trained.tokenizer.chat_template == textgen.TRANSCRIPT_TEMPLATE
    history = [
        {"role": "user", "content": "hi there"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "what is a fox?"},
    ]
    for system in ("", "Be brief."):
        settings = textgen.Settings(max_new_tokens=8, system=system)
        prompt = textgen.build_prompt(trained, history, settings)
        assert prompt.text == textgen._plain_transcript(history, system)
        assert "\nUser:" in textgen._stops(trained, settings)
    reply = run(trained, prompt, textgen.Settings(max_new_tokens=8, temperature=0))[-1]
    assert reply[0] == "end" and "User:" not in reply[1].text


@pytest.fixture
def store(tmp_path, monkeypatch):
    """core.runs pointed at an embedded MLflow store in a fresh home folder."""
    runs = pytest.importorskip("core.runs")  # lands from the runs branch
    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DASHBOARD_MODELS", str(tmp_path / "models"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    runs.reset()
    yield runs
    runs.reset()


def test_a_saved_chat_is_a_run_with_its_stats_and_transcript(store, lm):
    prompt = textgen.build_prompt(lm, [{"role": "user", "content": "fox"}], GREEDY)
    reply = textgen.reply_message(GREEDY)
    list(textgen.chat_events(lm, prompt, GREEDY, reply))
    history = [{"role": "user", "content": "fox <b>"}, reply]
    card = textgen.run_card(lm, GREEDY, "cpu")
    run = store.get_run(textgen.save_chat(card, history, usd_per_hour=0.5))
    assert run.summary.tool == "chat" and run.metrics["replies"] == 1
    assert run.metrics["new_tokens"] == reply["stats"]["new_tokens"]
    assert run.metrics["usd_per_1k_tokens"] > 0 and run.params["settings.temperature"] == "0"
    assert run.tables["replies"][0]["seed"] == GREEDY.seed
    assert run.tables["transcript"][0]["content"] == "fox <b>"
    md = store.load_artifact(run.summary.id, "chat.md").decode()
    assert "fox \\<b\\>" in md


def test_a_store_failure_is_a_clear_message(store, monkeypatch, lm):
    def fail(*args, **kwargs):
        raise store.StoreError("The disk is full: free space and retry.")

    monkeypatch.setattr(store, "record", fail)
    card = textgen.run_card(lm, GREEDY, "cpu")
    with pytest.raises(textgen.NotRecorded, match="disk is full"):
        textgen.save_chat(card, [{"role": "user", "content": "hi"}], 0.5)
    cfg = tiny_config("kept")
    trained = textgen.train_and_record(CORPUS, cfg, "cpu")
    assert trained.run_id is None and "disk is full" in trained.not_recorded
    assert (trained.folder / "config.json").is_file()  # the model itself is kept


def test_training_records_config_curve_samples_and_the_model(store):
    cfg = tiny_config("recorded", steps=4, sample_every=2)
    job = jobs.Job(target=lambda ctx: textgen.train_and_record(CORPUS, cfg, "cpu", ctx)).start()
    assert job.wait(120) and job.status == "done", job.error
    run = store.get_run(job.result.run_id)
    assert run.summary.tool == "gpt2" and run.summary.status == "FINISHED"
    assert run.params["steps"] == "4" and run.params["device"] == "cpu"
    assert [s for s, _ in run.history["train_loss"]] == [1, 2, 4]
    assert run.metrics["val_loss"] == run.history["val_loss"][-1][1]
    assert [r["step"] for r in run.tables["samples"]] == [1, 2, 4]
    files = {a.path for a in run.artifacts}
    assert {"model/config.json", "model/model.safetensors", "model/tokenizer.json"} <= files


def test_the_cpu_fast_path_is_a_shared_fp16_copy_under_the_same_lock(lm):
    from core.text import quant

    fast = textgen.fast_variant(lm)
    assert fast is textgen.fast_variant(lm) and fast.lock is lm.lock
    layers = [m for m in fast.model.modules() if isinstance(m, quant.HalfLinear)]
    assert len(layers) == 2 * 4 + 1  # 4 per block (attention in/out, MLP in/out) + output
    assert [m.checks for m in layers] == [False] * 8 + [True]  # only the output layer checks
    assert len({id(m.state) for m in layers}) == 1
    assert all(m.weight16.dtype == torch.float16 for m in layers)
    assert not any(isinstance(m, quant.HalfLinear) for m in lm.model.modules())
    shared = {p.data_ptr() for p in lm.model.parameters()}
    assert all(p.data_ptr() in shared for p in fast.model.parameters())  # no fp32 copy
    assert fast.lowered_precision and "fp16" in fast.fast and not fast.static_cache
    assert textgen.fast_variant(fast) is fast
    assert textgen.fast_path_pays("cpu", 124_000_000)
    assert not textgen.fast_path_pays("cpu", lm.parameters)  # tiny: Python is the cost
    assert textgen.fast_path_pays("cuda") and not textgen.fast_path_pays("mps")
    prompt = textgen.build_prompt(lm, [{"role": "user", "content": "The quick brown"}], GREEDY)
    plain, quick = run(lm, prompt, GREEDY)[-1][1], run(fast, prompt, GREEDY)[-1][1]
    assert quick.new_tokens == plain.new_tokens == 12
    assert all(0 <= t.probability <= 1 for t in quick.tokens)
    assert quick.text == plain.text  # greedy tokens unchanged (fp16 rounding is small)


def test_fp16_layers_match_fp32_within_half_precision():
    from core.text import quant

    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48)
    half = quant.HalfLinear(linear.weight, linear.bias)
    for rows in (1, quant.DECODE_ROWS, quant.DECODE_ROWS + 1):  # fp16 weights, then fp32
        x = torch.randn(1, rows, 64) if rows > 1 else torch.randn(1, 64)
        want, got = linear(x), half(x)
        assert got.shape == want.shape and got.dtype == torch.float32
        # fp16 rounding of weights, inputs and outputs (2**-11 each), fp32 accumulation
        assert (got - want).abs().max() <= 4e-3 * want.abs().max()
    long = torch.randn(1, 40, 64)
    assert torch.equal(half(long), linear(long))  # a prompt runs on the original weights
    huge = torch.full((1, 64), 1e5)  # past fp16's 65504
    assert not torch.isfinite(half(huge)).all()  # a middle layer passes it on; the output:
    out = quant.HalfLinear(linear.weight, linear.bias, half.state, checks=True)
    with pytest.raises(quant.HalfOverflow, match="overflowed half precision"):
        out(huge)
    assert half.state["off"] and torch.equal(half(huge), linear(huge))  # fp32 from now on
    assert torch.equal(out(x), linear(x))


def test_an_fp16_overflow_is_a_clear_error_and_the_next_reply_runs_in_fp32(lm):
    import dataclasses

    from core.text import quant

    fast = textgen.fast_variant(dataclasses.replace(lm))  # its own fast copy
    output = [m for m in fast.model.modules() if isinstance(m, quant.HalfLinear)][-1]
    output.weight16 = output.weight16 * 1e6  # values past fp16's 65504
    prompt = textgen.build_prompt(lm, [{"role": "user", "content": "The quick brown"}], GREEDY)
    kind, message = run(fast, prompt, GREEDY)[-1]
    assert kind == "error" and "overflowed half precision" in message and "again" in message
    kind, reply = run(fast, prompt, GREEDY)[-1]
    assert kind == "end" and reply.text == run(lm, prompt, GREEDY)[-1][1].text  # fp32 now


def test_a_cpu_model_already_in_half_precision_has_no_fast_copy(lm):
    import dataclasses

    low = dataclasses.replace(lm, model=lm.model, fast="")
    low.model = type(lm.model)(lm.model.config).to(torch.bfloat16).eval()
    assert textgen.fast_variant(low) is low


def test_token_probabilities_match_the_model(lm):
    prompt = textgen.build_prompt(lm, [{"role": "user", "content": "The lazy"}], GREEDY)
    reply = run(lm, prompt, GREEDY)[-1][1]
    ids = torch.tensor([prompt.ids])
    with torch.inference_mode():
        for t in reply.tokens[:3]:
            probs = lm.model(ids).logits[0, -1].softmax(-1)
            assert t.probability == pytest.approx(probs.max().item(), rel=1e-4)  # greedy
            assert t.alternatives[0] == (t.text, pytest.approx(t.probability))
            ids = torch.cat([ids, probs.argmax()[None, None]], dim=1)


def test_another_event_stream_gets_the_same_throttle_and_bookkeeping():
    clock = [0.0]
    events = fake_stream(200, clock, 0.001)(None, None, None, None)  # e.g. a server's stream
    message = textgen.reply_message(GREEDY)
    shown = textgen.chat_events(None, None, GREEDY, message, clock=lambda: clock[0], events=events)
    assert len([k for k, _ in shown if k == "text"]) <= 5
    assert message["stats"]["new_tokens"] == 200 and message["content"].endswith(" w199")
