"""What the core.text tests share: a tiny GPT-2 saved and loaded once per module, greedy
settings, one message's prompt, a reply run to its end, and the run store in a fresh home folder.

A test module takes the fixtures by name: `lm = text_fixtures.lm`."""

from __future__ import annotations

import threading

import pytest

from core.text import generate, loading
from core.text.prompt import Prompt, Settings, Turn, build_prompt
from tests.helpers import save_tiny_gpt2

CORPUS = "The quick brown fox jumps over the lazy dog. User: hello Assistant: hi there. " * 40
GREEDY = Settings(temperature=0, repetition_penalty=1.0, max_new_tokens=12, mode="completion")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """A random 2-layer GPT-2 with a 64-token window and its tokenizer, saved to disk."""
    return save_tiny_gpt2(tmp_path_factory.mktemp("models") / "tiny", CORPUS, positions=64)


@pytest.fixture(scope="module")
def lm(tiny_dir):
    return loading.load_model(str(tiny_dir), "cpu")


def run(lm, prompt, settings, stop=None) -> list:
    """Every event of a local reply, to its end."""
    return list(generate.stream_reply(lm, prompt, settings, stop or threading.Event()))


def ask(lm, text: str, settings: Settings = GREEDY) -> Prompt:
    """The prompt for one user message."""
    return build_prompt(lm, [Turn(role="user", content=text)], settings)


@pytest.fixture
def store(tmp_path, monkeypatch):
    """core.runs pointed at an embedded MLflow store in a fresh home folder."""
    from core import runs

    monkeypatch.setenv("DASHBOARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DASHBOARD_MODELS", str(tmp_path / "models"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    runs.reset()
    yield runs
    runs.reset()
