"""Widgets every page shares: the tool list, the sidebar (hardware badge, device selector,
free-memory control) and the session's device.

Pages and app.py import this; it imports only `core` and never a page.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass

import streamlit as st

from core import cache
from core import device as dev

DEVICE_KEY = "device_choice"  # session_state key of the sidebar's device selector
MEASUREMENTS_KEY = "measurements"  # session_state key: speeds measured by the tool pages
KIND_LABELS = {"cuda": "CUDA GPU", "mps": "Apple MPS", "cpu": "CPU"}


@dataclass(frozen=True)
class Tool:
    """One tool of the dashboard: its page file and how Home presents it."""

    path: str  # page file, relative to app.py
    title: str  # page title and navigation label
    icon: str  # Material icon
    pitch: str  # one sentence for its card on Home
    offline: str  # what works with no network


TOOLS = (
    Tool(
        "pages/train_cnn.py",
        "Train a CNN",
        ":material/image_search:",
        "Train an image classifier on built-in, downloadable or your own images, with live "
        "curves, diagnostics and export.",
        "The built-in digits set and your own uploaded images.",
    ),
    Tool(
        "pages/chat_gpt2.py",
        "Chat with GPT-2",
        ":material/forum:",
        "Chat with any Hugging Face causal LM or a small GPT-2 you train yourself, with "
        "streaming, sampling controls and measured speed and cost.",
        "Models already in your local Hugging Face cache or models folder, and training your own.",
    ),
    Tool(
        "pages/compare_optimizers.py",
        "Compare optimizers",
        ":material/insights:",
        "Race optimizers on 2-D test surfaces and on a real model, each with a tuned "
        "learning rate.",
        "Everything: the surfaces are formulas and the real model trains on built-in digits.",
    ),
    Tool(
        "pages/business_case.py",
        "Business case",
        ":material/payments:",
        "What training and serving a model costs on GPUs, when self-hosting beats an API, "
        "scaling laws and energy.",
        "Everything: the GPU and price tables ship with the app.",
    ),
)


def version_of(package: str) -> str:
    """Installed version of `package` without importing it, or 'not installed'."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _default_choice(kinds: tuple[str, ...]) -> str:
    """The sidebar's starting choice: $DASHBOARD_DEVICE when valid and present, else auto."""
    try:
        wanted = dev.requested_choice()
    except ValueError as err:
        st.sidebar.warning(f"{err} Using auto.")
        return "auto"
    if wanted != "auto" and wanted not in kinds:
        st.sidebar.warning(
            f"{dev.ENV_VAR}={wanted}, but this machine has no such device. Using auto."
        )
        return "auto"
    return wanted


def _device_selector_ui(kinds: tuple[str, ...]) -> str:
    options = ["auto", *kinds]
    if st.session_state.get(DEVICE_KEY) not in options:
        st.session_state[DEVICE_KEY] = _default_choice(kinds)
    return st.sidebar.selectbox(
        "Device",
        options,
        key=DEVICE_KEY,
        format_func=lambda k: f"Auto ({KIND_LABELS[kinds[0]]})" if k == "auto" else KIND_LABELS[k],
        help=f"Where this session trains and generates. Set {dev.ENV_VAR} to change the default.",
    )


def _badge_ui(kind: str, gpu_name: str | None) -> None:
    mem = dev.memory_report(kind)
    if kind == "cuda":
        head = f":material/memory: **{gpu_name or 'CUDA GPU'}**  \n{mem.label} used"
    elif kind == "mps":
        head = f":material/memory: **Apple MPS**  \n{mem.label} in use"
    else:
        threads = dev.cpu_threads()
        head = f":material/memory: **CPU** - {threads} threads  \n{mem.label} used by the app"
    st.markdown(head)
    versions = " - ".join(
        f"{pkg} {version_of(pkg)}" for pkg in ("torch", "transformers", "streamlit")
    )
    st.caption(versions)


def _free_memory_ui() -> None:
    if st.sidebar.button(
        "Free cached models and data", key="free_memory", icon=":material/delete_sweep:"
    ):
        released = cache.free_cached_resources()
        st.toast(f"Freed {released / 2**20:.1f} MiB of cached models and data; GPU cache emptied.")
    held = cache.resident()
    listing = ", ".join(f"{r.name} on {r.device} ({r.nbytes / 2**20:.1f} MiB)" for r in held)
    st.sidebar.caption(f"Resident: {listing or 'nothing cached yet'}")


def sidebar_ui() -> None:
    """Hardware badge, versions, device selector and the free-memory control."""
    hw = dev.probe_hardware()
    badge = st.sidebar.container()  # drawn above the selector, filled once the choice is known
    choice = _device_selector_ui(hw.kinds)
    with badge:
        _badge_ui(hw.kinds[0] if choice == "auto" else choice, hw.gpu_name)
    _free_memory_ui()


def require_navigation() -> None:
    """Re-run through app.py when Streamlit served this page on its own.

    Until some run has called st.navigation, Streamlit treats a folder named pages/ as a
    legacy multipage app, so the first visit to a deep link after the server starts would
    run the page without app.py: no page config, no sidebar. Every page calls this first.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


@dataclass(frozen=True)
class Measurement:
    """A speed one of the tool pages measured in this session, for the calculator to reuse."""

    label: str  # what ran, e.g. "gpt2 decode (chat)"
    tokens_per_s: float  # measured generation speed, tokens per second
    device: str  # "cuda", "mps" or "cpu"
    hardware: str  # e.g. "NVIDIA H100 80GB HBM3" or "CPU, 2 threads"


def record_measurement(m: Measurement) -> None:
    """Keep `m` for this session, replacing an older one with the same label."""
    st.session_state.setdefault(MEASUREMENTS_KEY, {})[m.label] = m


def measurements() -> list[Measurement]:
    """Speeds measured in this session, newest last."""
    return list(st.session_state.get(MEASUREMENTS_KEY, {}).values())


def session_device() -> str:
    """This session's device ('cuda', 'mps' or 'cpu'); stops the page with a message if unusable."""
    try:
        return dev.choose_device(st.session_state.get(DEVICE_KEY, "auto"))
    except ValueError as err:
        st.error(str(err))
        st.stop()


from ui.jobs import (  # noqa: E402 - the long-job widgets, re-exported as ui.*
    forget_job,
    job_buttons_ui,
    job_failed_ui,
    job_of,
    job_progress_ui,
    keep_job,
    owner,
    progress_text,
    submit_job,
)

__all__ = [
    "TOOLS",
    "Measurement",
    "forget_job",
    "job_buttons_ui",
    "job_failed_ui",
    "job_of",
    "job_progress_ui",
    "keep_job",
    "measurements",
    "owner",
    "progress_text",
    "record_measurement",
    "require_navigation",
    "session_device",
    "sidebar_ui",
    "submit_job",
]
