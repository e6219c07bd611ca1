"""Data sets and models kept resident on the device, loaded once per process.

The only module in `core/` that imports Streamlit. Every loader here is an
`st.cache_resource`: the first session that asks pays for the load, every later session
gets the same object. Those objects are shared, so callers treat them as read-only; a
session's own model or history lives in `st.session_state`, never here.

Each loader records what it holds in a small ledger so the sidebar can show what is
resident, and `free_cached_resources()` drops what is idle and hands GPU memory back. A
resource is busy while a queued or running job keeps it in its `meta` (or lists it in
`meta["uses"]`), or while a model's generation lock is held: freeing never breaks another
session's training or chat.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import streamlit as st

if TYPE_CHECKING:
    from core.text.loading import LoadedModel
    from core.vision.data import ImageTensors


@dataclass(frozen=True, kw_only=True)
class Resident:
    """One cached resource, as the sidebar lists it."""

    name: str  # e.g. "digits"
    device: str  # "cuda", "mps" or "cpu"
    nbytes: int  # bytes it occupies on the device
    obj: Any = field(default=None, repr=False, compare=False)  # the cached object itself
    clear: Callable[[], None] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Freed:
    """What `free_cached_resources` did."""

    released: int  # bytes dropped
    kept: list[str]  # names of resources kept because a job or a chat is using them


_ledger: dict[tuple[str, str], Resident] = {}
_ledger_lock = threading.Lock()  # loaders run in any session's script thread


def _record(name: str, device: str, obj: Any, nbytes: int, clear: Callable[[], None]) -> None:
    with _ledger_lock:
        _ledger[(name, device)] = Resident(
            name=name, device=device, nbytes=nbytes, obj=obj, clear=clear
        )


def resident() -> list[Resident]:
    """What the loaders currently hold, largest first."""
    with _ledger_lock:
        return sorted(_ledger.values(), key=lambda r: -r.nbytes)


@st.cache_resource(show_spinner="Loading the digits data onto the device...")
def digits(device: str) -> ImageTensors:
    """scikit-learn's digits as tensors on `device`, shared read-only by every session."""
    from core.vision.data import load_digits

    data = load_digits(device)
    _record(data.name, device, data, data.nbytes, lambda: digits.clear(device))
    return data


@st.cache_resource(show_spinner="Reading the downloaded data onto the device...", max_entries=4)
def downloaded(name: str, device: str) -> ImageTensors:
    """A torchvision set already downloaded into core.vision.data.data_root(), as tensors on
    `device` (downloads themselves run in a page's worker, with progress)."""
    from core.vision.data import load_download

    data = load_download(name, device)
    _record(data.name, device, data, data.nbytes, lambda: downloaded.clear(name, device))
    return data


@st.cache_resource(show_spinner="Loading the model onto the device...", max_entries=3)
def causal_lm(source: str, device: str) -> LoadedModel:
    """A causal LM (hub id or local folder) on `device`, shared by every session; generation
    on it is serialised by its lock (core.text.loading)."""
    from core.text.loading import load_model

    lm = load_model(source, device)
    nbytes = sum(p.numel() * p.element_size() for p in lm.model.parameters())
    _record(f"model {source}", device, lm, nbytes, lambda: causal_lm.clear(source, device))
    return lm


def _empty_device_caches() -> None:
    """Return memory torch's allocators keep cached to the driver (no-op before torch loads)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if mps is not None and torch.backends.mps.is_available():
        mps.empty_cache()


def in_use(obj: Any) -> bool:
    """True while an active job holds `obj` in its meta, or a model's generation lock is held."""
    lock = getattr(obj, "lock", None)
    if lock is not None and lock.locked():
        return True
    from core import jobs

    for job in jobs.active():
        held = [*job.meta.values(), *job.meta.get("uses", ())]
        if any(h is obj for h in held):
            return True
    return False


def free_cached_resources() -> Freed:
    """Drop every cached data set and model nobody is using and empty the GPU cache."""
    with _ledger_lock:
        entries = list(_ledger.items())
    released, kept = 0, []
    for key, entry in entries:
        if in_use(entry.obj):
            kept.append(entry.name)
            continue
        if entry.clear is not None:
            entry.clear()
        with _ledger_lock:
            _ledger.pop(key, None)
        released += entry.nbytes
    gc.collect()
    _empty_device_caches()
    return Freed(released=released, kept=kept)
