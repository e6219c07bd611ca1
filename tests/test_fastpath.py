"""core.text.fastpath: the choice from given measurements (fastest within the quality bar),
CTranslate2 generating what plain generate does (greedy tokens, streaming, Stop, the token
view), the measured choice kept per model and machine, and the plain fallback, clearly
captioned, when CTranslate2 is missing or fails."""

import dataclasses
import json
import math
import sys
import threading
import time

import pytest
import torch

from core.text import fastpath, generate, loading
from tests.text_fixtures import GREEDY, ask, lm, run, tiny_dir  # noqa: F401

M = fastpath.Measured


def test_the_fastest_within_the_bar_wins_and_plain_when_none_beats_it():
    measured = [
        M(engine="plain", tokens_per_s=10, perplexity_change=0, agreement=1),
        M(engine="fp16", tokens_per_s=11, perplexity_change=0.0001, agreement=1),
        M(engine="ct2-int8", tokens_per_s=30, perplexity_change=0.05, agreement=0.6),  # too far
        M(engine="int8-torch", tokens_per_s=20, perplexity_change=-0.015, agreement=0.9),
        M(engine="ct2-float32", error="ImportError: no ctranslate2"),
    ]
    choice = fastpath.choose(measured)
    assert choice.engine == "int8-torch" and choice.speedup == pytest.approx(2.0)
    assert choice.describe().startswith("int8 torch dynamic, 2.0x plain on this CPU, measured")
    assert fastpath.choose(measured, bar=0.1).engine == "ct2-int8"
    slow = [measured[0], dataclasses.replace(measured[1], tokens_per_s=9)]
    assert fastpath.choose(slow).engine == "plain"
    assert "no engine beat it" in fastpath.choose(slow).describe()
    assert fastpath.choose(measured[1:]).engine == "plain"  # no reference: nothing claimed


def test_ct2_generates_plain_generates_greedy_tokens_with_the_token_view(lm):  # noqa: F811
    pytest.importorskip("ctranslate2")
    fast = loading.fast_variant(dataclasses.replace(lm), "ct2-float32")
    assert fast.engine == "ct2-float32" and "CTranslate2" in fast.fast
    p = ask(lm, "The quick brown")
    events = run(fast, p, GREEDY)
    plain, quick = run(lm, p, GREEDY)[-1][1], events[-1][1]
    puts = []
    streamer = type("S", (), {"put": lambda self, v: puts.append(v.tolist()), "end": lambda s: 0})
    ids = torch.tensor([p.ids])
    fast.model.generate(input_ids=ids, max_new_tokens=5, do_sample=False, streamer=streamer())
    assert puts[0] == p.ids and [len(v) for v in puts[1:]] == [1] * 5  # token by token
    assert quick.new_tokens == plain.new_tokens == 12 and quick.text == plain.text
    for a, b in zip(quick.tokens, plain.tokens, strict=True):  # fp32 scorer: same view
        assert a.text == b.text and math.isclose(a.probability, b.probability, rel_tol=1e-4)
        assert [t for t, _ in a.alternatives] == [t for t, _ in b.alternatives]
    int8 = loading.fast_variant(dataclasses.replace(lm), "ct2-int8")
    same = run(int8, p, GREEDY)[-1][1]
    assert same.new_tokens == 12 and len(same.tokens[0].alternatives) == 5


def test_ct2_stops_on_stop_and_on_a_stop_string(lm):  # noqa: F811
    pytest.importorskip("ctranslate2")
    fast = loading.fast_variant(dataclasses.replace(lm), "ct2-float32")
    p = ask(lm, "The quick brown")
    long = dataclasses.replace(GREEDY, max_new_tokens=40)
    stop = threading.Event()
    stop.set()  # Stop pressed: the worker's criterion ends the reply at its first token
    events = list(generate.stream_reply(fast, p, long, stop))
    assert events[-1][0] == "end" and events[-1][1].stopped and events[-1][1].new_tokens == 1
    ids, seen = torch.tensor([p.ids]), []
    after_three = lambda ids, scores: torch.tensor([seen.append(1) or len(seen) >= 3])  # noqa: E731
    out = fast.model.generate(input_ids=ids, max_new_tokens=40, stopping_criteria=[after_three])
    assert out.shape[1] == len(p.ids) + 3
    full = run(fast, p, long)[-1][1]
    word = full.text[:6]  # a printable piece a few tokens in
    cut = dataclasses.replace(long, stop=(word,))
    got, want = run(fast, p, cut)[-1][1], run(lm, p, cut)[-1][1]
    assert got.new_tokens == want.new_tokens < full.new_tokens  # where plain stops too


def test_the_choice_is_measured_once_and_kept_per_model_and_machine(lm, monkeypatch):  # noqa: F811
    calls = []
    real = fastpath.calibrate
    monkeypatch.setattr(fastpath, "calibrate", lambda *a, **k: calls.append(1) or real(*a, **k))
    engines = ("plain", "fp16")
    first = fastpath.cached_choice(lm, 1, engines)
    again = fastpath.cached_choice(lm, 1, engines)
    assert len(calls) == 1 and first == again
    assert [m.engine for m in first.measured] == ["plain", "fp16"]
    assert all(m.tokens_per_s > 0 and not m.error for m in first.measured)
    assert first.measured[1].agreement == 1 and abs(first.measured[1].perplexity_change) < 1e-3
    kept = json.loads((fastpath.cache_dir() / "choices.json").read_text())
    assert any(v[0]["engine"] == "plain" for v in kept.values())


def test_without_ctranslate2_the_plain_path_runs_and_the_page_says_why(lm, monkeypatch):  # noqa: F811
    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # import fails
    measured = fastpath.calibrate(lm, 1, ("plain", "ct2-int8"))
    assert measured[1].error == (
        "EngineError: CTranslate2 is not installed (pip install ctranslate2)"
    )
    assert fastpath.choose(measured).engine == "plain"
    fast = loading.fast_variant(dataclasses.replace(lm), "ct2-int8")
    assert fast.engine == "plain" and fast.model is lm.model
    assert fast.fast.startswith("plain fp32 (int8 CTranslate2 failed here: CTranslate2 is not")
    p = ask(lm, "The quick brown")
    assert run(fast, p, GREEDY)[-1][1].text == run(lm, p, GREEDY)[-1][1].text


def test_the_measured_fast_path_is_the_default_on_a_cpu(lm):  # noqa: F811
    fast = loading.fast_variant(dataclasses.replace(lm))
    assert fast.engine in fastpath.ENGINES and fast.choice.measured
    plain = next(m for m in fast.choice.measured if m.engine == "plain")
    assert plain.tokens_per_s > 0
    assert fast.choice.engine == fastpath.choose(fast.choice.measured).engine
    p = ask(lm, "The quick brown")
    assert run(fast, p, GREEDY)[-1][0] == "end"
    assert torch.get_num_threads() >= 1


def test_a_seed_reproduces_a_sampled_ct2_reply_every_time(lm):  # noqa: F811
    pytest.importorskip("ctranslate2")
    fast = loading.fast_variant(dataclasses.replace(lm), "ct2-int8")
    p = ask(lm, "The quick brown")
    sampled = dataclasses.replace(GREEDY, temperature=1.5, top_k=50, top_p=0.95, seed=3)
    texts = [run(fast, p, sampled)[-1][1].text for _ in range(3)]
    other = run(fast, p, dataclasses.replace(sampled, seed=4))[-1][1].text
    assert texts[0] == texts[1] == texts[2] != other


def test_a_failing_ct2_conversion_leaves_plain_with_its_reason(lm, monkeypatch):  # noqa: F811
    pytest.importorskip("ctranslate2")
    from core.text import ct2

    def broken(*args):
        raise RuntimeError("unsupported architecture")

    monkeypatch.setattr(ct2, "converted", broken)
    measured = fastpath.calibrate(lm, 1, ("plain", "ct2-int8"))
    assert measured[1].error == "RuntimeError: unsupported architecture"
    fast = loading.fast_variant(dataclasses.replace(lm), "ct2-int8")
    expected = "plain fp32 (int8 CTranslate2 failed here: unsupported architecture)"
    assert fast.engine == "plain" and fast.fast == expected and fast.model is lm.model


def test_engines_are_timed_as_replies_run_in_a_worker_beside_another_team(lm, monkeypatch):  # noqa: F811
    """A reply decodes in a worker thread next to the page's OpenMP team, where torch's
    threads sleep between parallel regions; calibrating in the page's own thread alone timed
    torch engines at about twice what replies then got."""
    seen = []

    def timed(model, ids, text_ids, pad, tokens):
        seen.append((threading.current_thread(), torch.get_num_threads()))
        return 10.0, [1, 2], 5.0

    monkeypatch.setattr(fastpath, "measure", timed)
    measured = fastpath.calibrate(lm, 2, engines=("plain", "fp16"))
    assert [m.engine for m in measured] == ["plain", "fp16"] and not any(m.error for m in measured)
    assert len(seen) == 2 and all(t is not threading.current_thread() for t, _ in seen)
    assert all(n == 2 for _, n in seen)
    with pytest.raises(ZeroDivisionError):  # a failure in the worker reaches the caller
        fastpath.like_a_reply(lambda: 1 / 0, 1)


def test_loading_ct2_leaves_the_calling_threads_count_alone(lm):  # noqa: F811
    pytest.importorskip("ctranslate2")
    from core import device as dev

    with dev.torch_threads(2):  # the page's count; CTranslate2 loads here on 1 thread
        fast = loading.fast_variant(dataclasses.replace(lm), "ct2-int8")
        assert fast.engine == "ct2-int8" and torch.get_num_threads() == 2


def test_the_chosen_engine_is_timed_on_one_thread_and_kept_when_faster(lm, monkeypatch):  # noqa: F811
    def calibrate(lm, threads, engines=fastpath.ENGINES, tokens=0, progress=None):
        rate = {"plain": 10.0, "int8-torch": 30.0}
        speed = lambda e: rate[e] * (2.0 if threads == 1 else 1.0)  # noqa: E731
        return [
            M(
                engine=e,
                tokens_per_s=speed(e),
                perplexity_change=0.001,
                agreement=1,
                threads=threads,
            )
            for e in engines
        ]

    monkeypatch.setattr(fastpath, "calibrate", calibrate)
    choice = fastpath.cached_choice(lm, 2, engines=("plain", "int8-torch"))
    assert choice.engine == "int8-torch" and choice.threads == 1
    assert choice.speedup == pytest.approx(6.0)  # against plain at the asked count
    assert choice.describe().startswith("int8 torch dynamic on 1 thread, 6.0x plain")
    one = [m for m in choice.measured if m.threads == 1]
    assert [m.engine for m in one] == ["int8-torch"]  # only the winner is timed again
    fast = dataclasses.replace(lm, choice=choice, engine=choice.engine)
    assert generate.generation_threads(fast) == 1
    assert fastpath.on_one_thread(lm, choice, 1) == []  # nothing to try on one thread


def test_a_calibration_says_which_engine_it_is_timing(lm, monkeypatch):  # noqa: F811
    slow = fastpath.measure

    def measure(*args):
        time.sleep(3 * fastpath.PROGRESS_S)  # long enough to be told about
        return slow(*args)

    monkeypatch.setattr(fastpath, "measure", measure)
    heard = []
    fastpath.calibrate(lm, 1, engines=("plain", "fp16"), progress=heard.append)
    assert heard[0] == "fp32 transformers, 1 of 2" and heard[-1] == "fp16 weights, 2 of 2"
    assert set(heard) == {"fp32 transformers, 1 of 2", "fp16 weights, 2 of 2"}
