"""core.text.generate with a tiny GPT-2 built here: greedy parity with generate, streaming,
Stop, seeds, concurrency, the reply queue, threads, token probabilities, and the one Reply
type's stats (a local reply has no server fields)."""

import threading
import time
from dataclasses import replace

import pytest
import torch

from core import device as dev
from core import jobs
from core.text import generate, prompt
from core.text.generate import Reply
from core.text.prompt import Settings
from tests import text_fixtures
from tests.text_fixtures import GREEDY, ask, run

tiny_dir, lm = text_fixtures.tiny_dir, text_fixtures.lm  # pytest fixtures


def test_greedy_output_equals_generate(lm):
    p = ask(lm, "The quick brown")
    reply = run(lm, p, GREEDY)[-1][1]
    ref = lm.model.generate(
        torch.tensor([p.ids]),
        attention_mask=torch.ones(1, len(p.ids), dtype=torch.long),
        max_new_tokens=12,
        do_sample=False,
        pad_token_id=lm.tokenizer.eos_token_id,
    )
    new = ref[0, len(p.ids) :].tolist()
    assert reply.new_tokens == len(new)
    assert reply.text == lm.tokenizer.decode(new, skip_special_tokens=True)
    assert [t.text for t in reply.tokens] == [lm.tokenizer.decode([i]) for i in new]


def test_streaming_is_incremental_and_measured(lm):
    p = ask(lm, "fox")
    events = run(lm, p, GREEDY)
    texts = [payload for kind, payload in events if kind == "text"]
    assert len(set(texts)) >= 2  # the reply arrived in pieces, growing
    assert [len(t) for t in texts] == sorted(len(t) for t in texts)
    kind, reply = events[-1]
    assert kind == "end" and reply.prompt_tokens == len(p.ids)
    assert reply.ttft_s > 0 and reply.seconds >= reply.ttft_s and reply.tokens_per_s > 0
    for t in reply.tokens:
        assert 0 <= t.probability <= 1 and len(t.alternatives) == 5
        assert t.alternatives[0][1] >= t.alternatives[-1][1]


def test_a_local_reply_has_the_local_stats_and_no_server_fields(lm):
    reply = run(lm, ask(lm, "fox"), GREEDY)[-1][1]
    assert set(reply.stats()) == {
        "text", "prompt_tokens", "new_tokens", "ttft_s", "seconds", "stopped", "waited_s",
        "tokens_per_s",
    }  # fmt: skip
    served = Reply.served()
    assert {"usage_reported", "unsupported", "finish_reason"} <= set(served.stats())
    assert "tokens" not in served.stats()


def test_stop_ends_within_a_token(lm, monkeypatch):
    put = generate.TokenStreamer.put
    slow = lambda self, value: (time.sleep(0.005), put(self, value))  # noqa: E731
    monkeypatch.setattr(generate.TokenStreamer, "put", slow)  # Stop lands mid-reply
    settings = Settings(temperature=0, max_new_tokens=40, mode="completion")
    stop = threading.Event()
    seen = 0
    for kind, payload in generate.stream_reply(lm, ask(lm, "dog", settings), settings, stop):
        if kind == "text":
            seen += 1
            stop.set()
        if kind == "end":
            reply = payload
    assert reply.stopped and reply.new_tokens <= seen + 1 < 40


def test_closing_the_stream_stops_the_worker(lm):
    settings = Settings(temperature=0, max_new_tokens=40, mode="completion")
    stop = threading.Event()
    stream = generate.stream_reply(lm, ask(lm, "dog", settings), settings, stop)
    next(s for s in stream if s[0] == "text")
    stream.close()  # what an interrupted page does
    assert stop.is_set()
    assert lm.lock.acquire(timeout=10)  # the worker let go of the model
    lm.lock.release()


def test_a_fixed_seed_reproduces_a_sampled_reply(lm):
    s = Settings(temperature=1.0, max_new_tokens=15, seed=7, mode="completion")
    p = ask(lm, "The", s)
    a, b = run(lm, p, s)[-1][1], run(lm, p, s)[-1][1]
    c = run(lm, p, replace(s, seed=8))[-1][1]
    assert a.text == b.text and [t.text for t in a.tokens] == [t.text for t in b.tokens]
    assert [t.text for t in c.tokens] != [t.text for t in a.tokens]


def test_two_sessions_at_once_are_serialised(lm):
    p = ask(lm, "fox")
    results = [None, None]

    def go(i):
        results[i] = run(lm, p, GREEDY)

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
    p = ask(lm, "fox")
    gate = hold_the_reply_lane()
    streams = [generate.stream_reply(lm, p, GREEDY, threading.Event()) for _ in range(2)]
    asked = [time.perf_counter()]
    assert next(streams[0]) == ("waiting", 1)
    asked.append(time.perf_counter())
    assert next(streams[1]) == ("waiting", 2)
    gate.set()
    ends = [[payload for k, payload in s if k == "end"][0] for s in streams]
    started = [t + reply.waited_s for t, reply in zip(asked, ends, strict=True)]
    assert started[0] < started[1]  # first come, first served
    assert ends[0].text == ends[1].text
    assert all(job.wait(5) for job in jobs.active("chat"))


def test_a_queued_reply_leaves_the_queue_when_its_page_goes(lm):
    gate = hold_the_reply_lane()
    stream = generate.stream_reply(lm, ask(lm, "fox"), GREEDY, threading.Event())
    assert next(stream)[0] == "waiting" and len(jobs.active("chat")) == 1
    stream.close()  # what an interrupted page does
    assert not jobs.active("chat")
    gate.set()


def test_a_reply_does_not_wait_for_a_training_on_the_same_device(lm):
    gate = threading.Event()
    training = jobs.submit(lambda ctx: gate.wait(20), "train", tool="cnn", device="cpu")
    try:
        assert training.running and run(lm, ask(lm, "fox"), GREEDY)[-1][0] == "end"
    finally:
        gate.set()


def test_a_small_model_decodes_on_one_thread_and_the_count_is_put_back(lm, monkeypatch):
    seen, plain_generate = [], lm.model.generate

    def counting(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return plain_generate(*args, **kwargs)

    monkeypatch.setattr(lm.model, "generate", counting)
    before = torch.get_num_threads()
    assert run(lm, ask(lm, "fox"), GREEDY)[-1][0] == "end"
    assert seen == [1] and generate.generation_threads(lm) == 1
    after = []
    probe = threading.Thread(target=lambda: after.append(torch.get_num_threads()))
    probe.start()
    probe.join()
    assert after == [before]  # threads started later get the usual count
    big = replace(lm, parameters=generate.SMALL_MODEL_PARAMS)
    assert generate.generation_threads(big) == dev.cpu_threads()


def test_control_characters_and_emoji_are_handled(lm):
    s = Settings(temperature=0, max_new_tokens=5)
    text = "hi \x00\x07 there 🦊\u202e"
    assert prompt.clean(text) == "hi  there 🦊\u202e"
    assert run(lm, ask(lm, text, s), s)[-1][0] == "end"


def test_token_probabilities_match_the_model(lm):
    p = ask(lm, "The lazy")
    reply = run(lm, p, GREEDY)[-1][1]
    ids = torch.tensor([p.ids])
    with torch.inference_mode():
        for t in reply.tokens[:3]:
            probs = lm.model(ids).logits[0, -1].softmax(-1)
            assert t.probability == pytest.approx(probs.max().item(), rel=1e-4)  # greedy
            assert t.alternatives[0] == (t.text, pytest.approx(t.probability))
            ids = torch.cat([ids, probs.argmax()[None, None]], dim=1)


def test_the_local_arguments_come_from_the_settings_knobs(lm):
    sampled = Settings(
        temperature=0.7, top_k=0, top_p=0.9, repetition_penalty=1.2, max_new_tokens=12
    )
    kwargs = generate.generate_kwargs(lm, ask(lm, "fox", sampled), sampled, lambda: False)
    assert kwargs["do_sample"] and kwargs["temperature"] == 0.7 and kwargs["top_p"] == 0.9
    assert kwargs["top_k"] is None and kwargs["repetition_penalty"] == 1.2  # top-k 0 is off
    assert kwargs["stop_strings"] == ["\nUser:", "\nSystem:"] and kwargs["tokenizer"] is not None
    greedy = generate.generate_kwargs(lm, ask(lm, "fox"), GREEDY, lambda: False)
    assert not greedy["do_sample"] and greedy["max_new_tokens"] == 12
    assert greedy["temperature"] is greedy["top_k"] is greedy["top_p"] is None
