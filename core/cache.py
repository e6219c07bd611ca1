"""Data sets and models kept resident on the device, loaded once per process.

The only module in `core/` that imports Streamlit. Every loader here is an
`st.cache_resource`: the first session that asks pays for the load, every later session
gets the same object. Those objects are shared, so callers treat them as read-only; a
session's own model or history lives in `st.session_state`, never here.

Each loader records what it holds in a small ledger so the sidebar can show what is
resident, and `free_cached_resources()` drops everything and hands GPU memory back.
"""

from __future__ import annotations

import gc
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    from core.data import ImageTensors
    from core.textgen import LoadedModel


@dataclass(frozen=True)
class Resident:
    """One cached resource, as the sidebar lists it."""

    name: str  # e.g. "digits"
    device: str  # "cuda", "mps" or "cpu"
    nbytes: int  # bytes it occupies on the device


_ledger: dict[tuple[str, str], Resident] = {}
_ledger_lock = threading.Lock()  # loaders run in any session's script thread


def _record(name: str, device: str, nbytes: int) -> None:
    with _ledger_lock:
        _ledger[(name, device)] = Resident(name, device, nbytes)


def resident() -> list[Resident]:
    """What the loaders currently hold, largest first."""
    with _ledger_lock:
        return sorted(_ledger.values(), key=lambda r: -r.nbytes)


@st.cache_resource(show_spinner="Loading the digits data onto the device...")
def digits(device: str) -> ImageTensors:
    """scikit-learn's digits as tensors on `device`, shared read-only by every session."""
    from core.data import load_digits

    data = load_digits(device)
    _record(data.name, device, data.nbytes)
    return data


@st.cache_resource(show_spinner="Reading the downloaded data onto the device...", max_entries=4)
def downloaded(name: str, device: str) -> ImageTensors:
    """A torchvision set already downloaded into core.data.data_root(), as tensors on
    `device` (downloads themselves run in a page's worker, with progress)."""
    from core.data import load_download

    data = load_download(name, device)
    _record(data.name, device, data.nbytes)
    return data


@st.cache_resource(show_spinner="Loading the model onto the device...", max_entries=3)
def causal_lm(source: str, device: str) -> LoadedModel:
    """A causal LM (hub id or local folder) on `device`, shared by every session; generation
    on it is serialised by its lock (core.textgen)."""
    from core.textgen import load_model

    lm = load_model(source, device)
    nbytes = sum(p.numel() * p.element_size() for p in lm.model.parameters())
    _record(f"model {source}", device, nbytes)
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


def free_cached_resources() -> int:
    """Drop every cached data set and model and empty the GPU cache; returns bytes released."""
    st.cache_resource.clear()
    with _ledger_lock:
        released = sum(r.nbytes for r in _ledger.values())
        _ledger.clear()
    gc.collect()
    _empty_device_caches()
    return released
