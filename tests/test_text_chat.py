"""core.text.chat: a reply's events written into its Message (at most 20 redraws a second,
a stream cut short keeps its text), the Markdown export shows every text literally, and a
saved chat is a run with its stats and transcript (or says why not)."""

import json
import threading

import pytest

from core.text import chat, generate
from core.text.chat import Message
from core.text.generate import Reply
from tests import text_fixtures
from tests.text_fixtures import GREEDY, ask

tiny_dir, lm, store = text_fixtures.tiny_dir, text_fixtures.lm, text_fixtures.store  # fixtures


def fake_stream(n: int, clock: list[float], step_s: float):
    """What a reply stream yields for `n` tokens arriving `step_s` apart on a fake clock."""
    text = ""
    for i in range(n):
        clock[0] += step_s
        text += f" w{i}"
        yield "text", text
    yield "end", Reply(text=text, new_tokens=n, ttft_s=step_s, seconds=n * step_s)


@pytest.mark.parametrize(("step_s", "most"), [(0.0, 1), (0.001, 11), (0.0001, 2)])
def test_a_fast_stream_redraws_at_most_20_times_a_second(step_s, most):
    clock = [0.0]
    message = Message.reply_to(GREEDY)
    events = list(chat.follow(message, fake_stream(500, clock, step_s), clock=lambda: clock[0]))
    redraws = [p for k, p in events if k == "text"]
    assert 1 <= len(redraws) <= most  # 500 tokens in 0.5 s: at most 0.5 / 0.05 + 1 redraws
    assert events[-1][0] == "end" and message.content.endswith(" w499")
    assert message.reply.new_tokens == 500


def test_a_slow_stream_still_redraws_every_token():
    clock = [0.0]
    message = Message.reply_to(GREEDY)
    events = list(chat.follow(message, fake_stream(30, clock, 0.1), clock=lambda: clock[0]))
    assert len([k for k, _ in events if k == "text"]) == 30


def test_a_stream_cut_short_keeps_its_text():
    clock = [0.0]
    message = Message.reply_to(GREEDY)
    source = fake_stream(30, clock, 0.1)
    stream = chat.follow(message, source, clock=lambda: clock[0])
    for _ in range(5):
        next(stream)
    stream.close()  # what a rerun of the page does
    assert message.content == " w0 w1 w2 w3 w4 [stopped]" and message.reply is None
    assert source.gi_frame is None  # the reply's own stream was closed too


def test_the_markdown_export_shows_text_literally():
    markdown_it = pytest.importorskip("markdown_it")  # installed with rich (transformers)
    evil = "<script>x</script> **bold** [link](http://e.com)\n    >>> code line\n# heading"
    messages = [Message(role="user", content=evil), Message(role="assistant", content=evil)]
    md = chat.transcript_markdown({"model": "m_*x*"}, messages, 0.1)
    html = markdown_it.MarkdownIt("commonmark").render(md)
    body = html.split("</h1>", 1)[1]
    assert body.count("<strong>") == 2  # the two role names, nothing from the texts
    for tag in ("<script", "<a ", "<pre>", "<code>", "<h1>", "<em>"):
        assert tag not in body, tag
    assert html.count("&lt;script&gt;x&lt;/script&gt;") == 2
    assert html.count("**bold**") == 2 and html.count("&gt;&gt;&gt; code line") == 2


def a_chat(lm) -> tuple[dict, list[Message]]:
    """A run card and a chat of one message and its greedy reply from the tiny model."""
    reply = Message.reply_to(GREEDY)
    list(chat.follow(reply, generate.stream_reply(lm, ask(lm, "fox"), GREEDY, threading.Event())))
    card = chat.run_card(lm.name, GREEDY, device="cpu", parameters=lm.parameters)
    return card, [Message(role="user", content="fox <b>"), reply]


def test_a_saved_chat_is_a_run_with_its_stats_and_transcript(store, lm):
    card, history = a_chat(lm)
    recorded = store.try_record("chat", chat.run_record(card, history, usd_per_hour=0.5))
    run = store.get_run(recorded.run_id)
    assert run.summary.tool == "chat" and run.metrics["replies"] == 1
    assert run.metrics["new_tokens"] == history[1].reply.new_tokens
    assert run.metrics["usd_per_1k_tokens"] > 0 and run.params["settings.temperature"] == "0"
    assert run.tables["replies"][0]["seed"] == GREEDY.seed
    assert run.tables["transcript"][0]["content"] == "fox <b>"
    md = store.load_artifact(run.summary.id, "chat.md").decode()
    assert "fox \\<b\\>" in md


def test_a_store_failure_is_a_clear_message(store, monkeypatch, lm):
    def fail(*args, **kwargs):
        raise store.StoreError("The disk is full: free space and retry.")

    monkeypatch.setattr("core.runs.write.record", fail)  # what try_record calls
    card, history = a_chat(lm)
    recorded = store.try_record("chat", chat.run_record(card, history, 0.5))
    assert not recorded.ok and "disk is full" in recorded.reason


def test_the_json_export_keeps_each_message_without_its_tokens(lm):
    card, history = a_chat(lm)
    exported = json.loads(chat.transcript_json(card, history))
    assert exported["run_card"]["model"] == lm.name
    user, reply = exported["messages"]
    assert user == {"role": "user", "content": "fox <b>"}
    assert list(reply) == ["role", "content", "stats", "settings"]  # the format saved before
    assert reply["stats"]["new_tokens"] == history[1].reply.new_tokens
    assert reply["settings"]["stop"] == [] and "tokens" not in reply["stats"]


def test_a_server_chat_is_recorded_with_its_server():
    reply = Message.reply_to(GREEDY, server="m @ host:8000")
    reply.reply = Reply.served()
    card = chat.run_card("m", GREEDY, server="host:8000")
    record = chat.run_record(card, [Message(role="user", content="hi"), reply], 1.0)
    assert record.tags == {"server": "host:8000"} and record.metrics["replies"] == 1
    assert chat.served_notes(reply) == [
        "this server sent no usage: tokens counted from the stream",
        "this server sent no token probabilities",
    ]


def failing_stream(kind: str, message: str):
    from core.serving.client import ServingError

    yield "text", " w0 w1 w2"
    yield "error", ServingError(kind, message, partial=Reply(text=" w0 w1 w2", new_tokens=3))


@pytest.mark.parametrize(
    ("kind", "said", "label"),
    [
        ("cut", "The connection to h:1 broke mid-reply. The reply so far is kept.",
         "[cut at 3 tokens]"),
        ("server", "h:1 failed mid-reply: index out of range. The reply so far is kept.",
         "[server error: h:1 failed mid-reply: index out of range]"),
    ],
)  # fmt: skip
def test_a_failed_or_cut_server_reply_says_so_never_stopped(kind, said, label):
    message = Message.reply_to(GREEDY, server="m @ h:1")
    events = list(chat.follow(message, failing_stream(kind, said)))
    assert events[-1][0] == "error" and message.reply is None
    assert message.content == f" w0 w1 w2 {label}" and "[stopped]" not in message.content


def test_a_server_reply_cut_at_max_new_tokens_says_so():
    reply = Reply(text=" a b", new_tokens=2, finish_reason="length", tokens=[])
    message = Message(role="assistant", content=" a b", settings=GREEDY, reply=reply, server="m")
    assert "cut at 2 tokens: it reached Max new tokens" in chat.served_notes(message)


def test_a_one_token_reply_reads_in_words_not_nan():
    from core.text.generate import Reply

    one = Reply(text="The", prompt_tokens=60, new_tokens=1, ttft_s=0.004, seconds=0.004)
    line = chat.describe(one, 3.0)
    assert "nan" not in line and "too short to time its speed" in line
    assert "first token under 0.01 s" in line
    two = Reply(text="a b", prompt_tokens=5, new_tokens=11, ttft_s=0.2, seconds=1.2)
    assert "10.0 tokens/s - $" in chat.describe(two, 3.0)
