"""core.text.tinygpt when things break or grow: a models folder that cannot be written
(refused before training, or the model kept in memory and usable in the chat), a long text
encoded a piece at a time (the same tokens, bounded memory), the phases a training names,
and the largest text it takes."""

import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.text import loading, memory, sources, tinygpt
from tests import text_fixtures
from tests.text_fixtures import CORPUS, ask, run

store = text_fixtures.store  # a pytest fixture


def tiny_config(name: str, **changes) -> tinygpt.TinyGPTConfig:
    """A one-layer, 32-wide GPT-2 on a 16-token window: seconds to train."""
    shape = dict(vocab_size=300, layers=1, width=32, heads=2, context=16, steps=2)
    return tinygpt.TinyGPTConfig(name=name, **shape | changes)


class Phases:
    """A Progress that keeps every message it is told."""

    def __init__(self):
        self.messages = []

    def should_stop(self):
        return False

    def report(self, progress, message="", rate=None, unit="items"):
        self.messages.append(message)

    def log(self, **row):
        pass


@pytest.fixture
def unwritable(tmp_path, monkeypatch):
    """A models folder that cannot be created (its parent is a file: root cannot either)."""
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("DASHBOARD_MODELS", str(tmp_path / "a-file" / "models"))
    yield
    memory.forget("in-memory")


def test_an_unwritable_models_folder_is_named_before_training(unwritable):
    assert "cannot be written" in tinygpt.unwritable_reason()
    phases = Phases()
    with pytest.raises(ValueError, match="could not be saved"):
        tinygpt.train_small_gpt2(CORPUS, tiny_config("refused"), "cpu", phases)
    assert phases.messages == []  # refused before the tokenizer, let alone a step


def test_a_writable_models_folder_passes_the_check(tmp_path, monkeypatch):
    monkeypatch.setenv("DASHBOARD_MODELS", str(tmp_path / "models"))
    assert tinygpt.unwritable_reason() == ""
    assert list((tmp_path / "models").iterdir()) == []  # the probe file is gone


def test_a_model_that_cannot_be_saved_is_kept_in_memory_and_chats(store, unwritable):
    trained = tinygpt.train_and_record(CORPUS, tiny_config("in-memory", context=64), "cpu")
    assert trained.folder == "memory:in-memory"
    assert "Not a directory" in trained.not_saved  # the OS's reason, shown by the tab
    assert "memory:in-memory" in sources.local_models()  # the chat picker lists it
    assert "in memory only" in sources.model_label("memory:in-memory")
    lm = loading.load_model("memory:in-memory", "cpu")
    assert lm.has_chat_template and lm.context == 64
    assert run(lm, ask(lm, "hello"), text_fixtures.GREEDY)[-1][0] == "end"
    recorded = store.get_run(trained.recorded.run_id)
    assert recorded.summary.status == "FINISHED"
    assert not any(a.path.startswith("model/") for a in recorded.artifacts)


def test_a_forgotten_memory_model_says_it_is_gone():
    with pytest.raises(sources.ModelLoadError, match="until the app restarts"):
        loading.load_model("memory:never-trained", "cpu")


@pytest.fixture(scope="module")
def tok():
    return tinygpt.train_tokenizer(CORPUS + "\n  indented\n\n\tTabs, naïve café 123\n", 300)


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(alphabet=" \n\t\r.,'ab Tcé1-", max_size=400),
    size=st.integers(min_value=1, max_value=50),
)
def test_encoding_in_pieces_gives_the_tokens_of_the_whole(tok, text, size):
    assert "".join(tinygpt.pieces(text, size)) == text
    assert tinygpt.encode(tok, text, size=size).tolist() == tok(text)["input_ids"]


def test_encoding_a_real_text_in_pieces_matches(tok):
    text = tinygpt.builtin_corpus()[:200_000]
    assert tinygpt.encode(tok, text, size=4096).tolist() == tok(text)["input_ids"]


def test_a_few_mb_of_text_are_encoded_in_bounded_python_memory(tok):
    text = (CORPUS + "\n") * (3_000_000 // len(CORPUS))  # ~3 MB
    tracemalloc.start()
    ids = tinygpt.encode(tok, text)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # int32 ids and their concatenation: ~3x the text; the old whole-text encode held Python
    # lists of every id and mask, and int objects (~20x)
    assert len(ids) > 100_000 and peak < 5 * len(text)


def test_a_long_texts_tokenizer_learns_from_a_sample():
    text = "word " * 300_000
    sample = tinygpt.tokenizer_sample(text, limit=64_000)
    assert len(sample) == 64 and sum(map(len, sample)) == 64_000
    assert tinygpt.tokenizer_sample("short\ntext") == ["short\ntext"]


def test_training_names_its_phases(tmp_path, monkeypatch):
    monkeypatch.setenv("DASHBOARD_MODELS", str(tmp_path))
    phases = Phases()
    tinygpt.train_small_gpt2(CORPUS, tiny_config("phased"), "cpu", phases)
    firsts = [m.split(" ")[0].rstrip(":") for m in phases.messages]
    assert firsts[0] == "Training" and phases.messages[0].startswith("Training the tokenizer")
    assert "Encoding" in firsts
    assert phases.messages[-1].startswith("Training: step 2/2")


def test_a_text_over_the_limit_is_refused_with_the_limit(monkeypatch):
    monkeypatch.setattr(tinygpt, "MAX_TEXT_MB", 1)
    with pytest.raises(ValueError, match="at most 1 MB"):
        tinygpt.read_corpus(b"word " * 300_000)
