"""Models kept in this process's memory only: a trained model whose folder could not be
written (a read-only home, a full disk) stays usable in the chat until the app restarts.

Each is named "memory:<name>"; `core.text.sources.local_models` lists them beside the saved
folders and `core.text.loading.load_model` loads them from here.

    memory.keep("my-gpt2", model, tokenizer, "[Errno 13] Permission denied")
    memory.sources()   # ['memory:my-gpt2']
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

PREFIX = "memory:"


@dataclass(frozen=True, kw_only=True)
class Kept:
    """A model and its tokenizer held in memory, and why it was not saved."""

    name: str
    model: object  # a transformers PreTrainedModel on the CPU, eval mode
    tokenizer: object
    reason: str  # why saving failed, as the error said


_kept: dict[str, Kept] = {}
_lock = threading.Lock()


def keep(name: str, model, tokenizer, reason: str) -> str:
    """Hold `model` in memory under `name` (replacing one of that name); returns its source."""
    with _lock:
        _kept[name] = Kept(name=name, model=model, tokenizer=tokenizer, reason=reason)
    return PREFIX + name


def is_memory(source: str) -> bool:
    """Whether `source` names a model kept in memory ('memory:<name>')."""
    return source.startswith(PREFIX)


def get(source: str) -> Kept | None:
    """The kept model `source` names, or None (not kept, or the app restarted)."""
    with _lock:
        return _kept.get(source.removeprefix(PREFIX))


def sources() -> list[str]:
    """The kept models' sources, by name."""
    with _lock:
        return [PREFIX + name for name in sorted(_kept)]


def forget(name: str) -> None:
    """Drop the kept model `name` (no error when there is none)."""
    with _lock:
        _kept.pop(name, None)
