"""core.text.tinygpt: corpus checks, training (the loss falls, the fewest steps run, the
model loads and chats with the transcript as its template), and its record in the run store
(or why not: the model is kept)."""

import pytest

from core import jobs
from core.text import loading, prompt, tinygpt
from core.text.prompt import Settings
from tests import text_fixtures
from tests.text_fixtures import CORPUS, run

store = text_fixtures.store  # a pytest fixture


def tiny_config(name: str, **changes) -> tinygpt.TinyGPTConfig:
    """A one-layer, 32-wide GPT-2 on a 16-token window: seconds to train."""
    shape = dict(vocab_size=300, layers=1, width=32, heads=2, context=16, steps=2)
    return tinygpt.TinyGPTConfig(name=name, **shape | changes)


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
        tinygpt.read_corpus(raw)


def test_training_lowers_the_loss_and_saves_a_loadable_model(monkeypatch, tmp_path):
    from core.text import sources

    monkeypatch.setenv("DASHBOARD_MODELS", str(tmp_path))
    cfg = tiny_config("unit", context=32, steps=60, batch_size=8, sample_every=20)
    train = lambda progress: tinygpt.train_small_gpt2(CORPUS, cfg, "cpu", progress)  # noqa: E731
    job = jobs.Job(target=train).start()
    assert job.wait(120) and job.status == "done", job.error
    rows = job.metrics()
    assert rows[0]["step"] == 1 and rows[-1]["step"] == 60
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] - 1.0
    assert rows[-1]["val_loss"] < rows[0]["val_loss"]
    assert sources.local_models() == [str(tmp_path / "unit")]
    trained = loading.load_model(str(tmp_path / "unit"), "cpu")
    assert trained.context == 32
    with pytest.raises(ValueError, match="multiple of heads"):
        tinygpt.TinyGPTConfig(width=30, heads=4)
    with pytest.raises(ValueError, match="no slashes"):
        tinygpt.TinyGPTConfig(name="../evil")


@pytest.mark.parametrize("total", [1, 2, 3, 9, 10, 11, 19, 20, 300, 20_000])
def test_the_learning_rate_schedule_works_for_every_step_count(total):
    factors = [tinygpt.lr_factor(i, total) for i in range(total)]
    assert all(0 < f <= 1 for f in factors)
    assert max(factors) == 1.0


@pytest.mark.parametrize("steps", [1, 2, 10])
def test_training_runs_at_the_fewest_steps(monkeypatch, tmp_path, steps):
    monkeypatch.setenv("DASHBOARD_MODELS", str(tmp_path))
    cfg = tiny_config("edge", steps=steps)
    train = lambda progress: tinygpt.train_small_gpt2(CORPUS, cfg, "cpu", progress)  # noqa: E731
    job = jobs.Job(target=train).start()
    assert job.wait(120) and job.status == "done", job.error
    assert job.metrics()[-1]["step"] == steps


def test_trained_models_carry_the_transcript_as_their_chat_template(monkeypatch, tmp_path):
    monkeypatch.setenv("DASHBOARD_MODELS", str(tmp_path))
    folder = tinygpt.train_small_gpt2(CORPUS, tiny_config("chatty", context=64, steps=1), "cpu")
    trained = loading.load_model(str(folder), "cpu")
    assert trained.tokenizer.chat_template == prompt.TRANSCRIPT_TEMPLATE
    history = [
        prompt.Turn(role="user", content="hi there"),
        prompt.Turn(role="assistant", content="hello"),
        prompt.Turn(role="user", content="what is a fox?"),
    ]
    for system in ("", "Be brief."):
        settings = Settings(max_new_tokens=8, system=system)
        p = prompt.build_prompt(trained, history, settings)
        assert p.text == prompt.plain_transcript(history, system)
        assert "\nUser:" in prompt.stop_sequences(trained, settings)
    reply = run(trained, p, Settings(max_new_tokens=8, temperature=0))[-1]
    assert reply[0] == "end" and "User:" not in reply[1].text


def test_a_store_failure_keeps_the_trained_model(store, monkeypatch):
    def fail(*args, **kwargs):
        raise store.StoreError("The disk is full: free space and retry.")

    monkeypatch.setattr("core.runs.write.start", fail)  # what following and try_record call
    trained = tinygpt.train_and_record(CORPUS, tiny_config("kept"), "cpu")
    assert trained.recorded.run_id is None and "disk is full" in trained.recorded.reason
    assert (trained.folder / "config.json").is_file()  # the model itself is kept


def test_training_records_config_curve_samples_and_the_model(store):
    cfg = tiny_config("recorded", steps=4, sample_every=2)
    train = lambda progress: tinygpt.train_and_record(CORPUS, cfg, "cpu", progress)  # noqa: E731
    job = jobs.Job(target=train).start()
    assert job.wait(120) and job.status == "done", job.error
    done = store.get_run(job.result.recorded.run_id)
    assert done.summary.tool == "gpt2" and done.summary.status == "FINISHED"
    assert done.params["steps"] == "4" and done.params["device"] == "cpu"
    assert [s for s, _ in done.history["train_loss"]] == [1, 2, 4]
    assert done.metrics["val_loss"] == done.history["val_loss"][-1][1]
    assert [r["step"] for r in done.tables["samples"]] == [1, 2, 4]
    files = {a.path for a in done.artifacts}
    assert {"model/config.json", "model/model.safetensors", "model/tokenizer.json"} <= files
