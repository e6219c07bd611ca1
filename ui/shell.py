"""The shell every page shares: Home's start-here steps, the sidebar (hardware badge,
device selector, free-memory control), the session's device, its measured speeds and its
upload cap. The tool list itself is `core.tools`.

Light: imports Streamlit and `core`'s light modules only, never a tool package.
"""

from __future__ import annotations

import functools
import importlib.metadata
from dataclasses import dataclass

import streamlit as st

from core import cache, limits, units
from core import device as dev
from ui import access

DEVICE_KEY = "app_device"  # session_state key of the sidebar's device selector
MEASUREMENTS_KEY = "app_measurements"  # session_state key: speeds measured by the tool pages
KIND_LABELS = {"cuda": "CUDA GPU", "mps": "Apple MPS", "cpu": "CPU"}


@dataclass(frozen=True, kw_only=True)
class TourStep:
    """One step of Home's start-here path."""

    title: str  # what the user does
    how: str  # which buttons, in a sentence
    takes: str  # how long it took on the project's 2-core CPU machine
    page: str  # page file to open
    button: str  # the link's label


TOUR = (
    TourStep(
        title="Train a CNN on digits",
        how="keep the built-in digits and the default settings, press **Train**, then try "
        "the model on a drawing of your own.",
        takes="about 5 s to about 97-99 % test accuracy",
        page="pages/train_cnn.py",
        button="Train a CNN",
    ),
    TourStep(
        title="Train your own small GPT-2 and chat with it",
        how="on the **Train your own GPT-2** tab press **Train**, then pick it in the model "
        "picker and send a message.",
        takes="about a minute with the defaults",
        page="pages/chat_gpt2.py",
        button="Chat with GPT-2",
    ),
    TourStep(
        title="Race optimizers",
        how="press **Play** to watch six optimizers, each at its tuned rate, on Rosenbrock; "
        "then race them on a real model.",
        takes="under a second on 2-D surfaces, about a minute on the real model",
        page="pages/compare_optimizers.py",
        button="Compare optimizers",
    ),
    TourStep(
        title="Price it",
        how="pick a model size and a GPU: training cost, serving cost, break-even against "
        "APIs and your runway; then press **Save this case** (it loads back later).",
        takes="no waiting: every figure updates as you type",
        page="pages/business_case.py",
        button="Business case",
    ),
    TourStep(
        title="Build the pitch pack on Runs",
        how="on the **Pitch pack** tab pick the runs above and your saved case, press "
        "**Build the pitch pack**, and download one HTML file that opens offline and prints.",
        takes="a few seconds",
        page="pages/runs.py",
        button="Runs",
    ),
)


@functools.cache  # a metadata scan is ~10 ms, and the sidebar shows three on every page run
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
        threads = units.count(dev.cpu_threads(), "thread")
        head = f":material/memory: **CPU** - {threads}  \n{mem.label} used by the app"
    st.markdown(head)
    versions = " - ".join(
        f"{pkg} {version_of(pkg)}" for pkg in ("torch", "transformers", "streamlit")
    )
    st.caption(versions)


def freed_message(freed: cache.Freed, gpu: bool) -> str:
    """What the free-memory button did, in one line."""
    text = f"Freed {freed.released / 2**20:.1f} MiB of cached models and data"
    text += "; GPU cache emptied." if gpu else "."
    if freed.kept:
        text += f" Kept (in use by a job or a chat): {', '.join(freed.kept)}."
    return text


def _free_memory_ui(gpu: bool) -> None:
    admin = access.is_admin()
    if st.sidebar.button(
        "Free cached models and data",
        key="app_free_memory",
        icon=":material/delete_sweep:",
        disabled=not admin,
        help="Frees what no job or chat is using."
        if admin
        else access.admin_only_note("free shared caches"),
    ):
        st.toast(freed_message(cache.free_cached_resources(), gpu))
    held = cache.resident()
    listing = ", ".join(f"{r.name} on {r.device} ({r.nbytes / 2**20:.1f} MiB)" for r in held)
    st.sidebar.caption(f"Resident: {listing or 'nothing cached yet'}")


PHONE_WIDTH_PX = 640  # at most this wide, the sidebar covers the page (Streamlit's breakpoint)
# Streamlit keeps the sidebar open when a page link in it is tapped (streamlit#12065): on a
# phone it then hides the page that was asked for. Close it after such a tap, on phones only.
# The script is ours, constant and idempotent (a rerun draws it again; it listens once).
CLOSE_SIDEBAR_ON_PHONES = f"""<script>
(() => {{
  if (window.dashboardSidebarCloser) return;
  window.dashboardSidebarCloser = true;
  document.addEventListener("click", (event) => {{
    const link = event.target.closest('[data-testid="stSidebar"] a');
    if (!link || !window.matchMedia("(max-width: {PHONE_WIDTH_PX}px)").matches) return;
    setTimeout(() => document.querySelector(
      '[data-testid="stSidebarCollapseButton"] button')?.click(), 50);
  }}, true);
}})();
</script>"""


def sidebar_ui() -> None:
    """Hardware badge, versions, device selector and the free-memory control."""
    hw = dev.probe_hardware()
    badge = st.sidebar.container()  # drawn above the selector, filled once the choice is known
    choice = _device_selector_ui(hw.kinds)
    with badge:
        _badge_ui(hw.kinds[0] if choice == "auto" else choice, hw.gpu_name)
    _free_memory_ui(gpu="cuda" in hw.kinds or "mps" in hw.kinds)
    access.account_ui()
    st.sidebar.html(CLOSE_SIDEBAR_ON_PHONES, unsafe_allow_javascript=True)


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


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """A speed one of the tool pages measured in this session, for the calculator to reuse."""

    label: str  # what ran, e.g. "gpt2 decode (chat)"
    tokens_per_s: float  # measured generation speed, tokens per second
    device: str  # "cuda", "mps" or "cpu"
    hardware: str  # e.g. "NVIDIA H100 80GB HBM3" or "CPU, 2 threads"
    params: float | None = None  # the measured model's parameter count, when known


def record_measurement(m: Measurement) -> None:
    """Keep `m` for this session, replacing an older one with the same label."""
    st.session_state.setdefault(MEASUREMENTS_KEY, {})[m.label] = m


def measurements() -> list[Measurement]:
    """Speeds measured in this session, newest last."""
    return list(st.session_state.get(MEASUREMENTS_KEY, {}).values())


SAVINGS_KEY = "app_savings"  # session_state key: compressions measured by the Compress page


@dataclass(frozen=True, kw_only=True)
class Saving:
    """What a compressed model saved against its original, measured in this session on this
    hardware, for the calculator to apply to the serving cost."""

    label: str  # what was compressed and how, e.g. "my-gpt2: dynamic int8 (ONNX Runtime)"
    method: str  # e.g. "dynamic int8"
    hardware: str  # where it was measured, e.g. "CPU, 2 threads (AVX2, no VNNI)"
    speedup: float  # the variant's decode (or batch-1) speed over the original's, x
    memory_ratio: float  # the variant's weight bytes over the original's
    quality: str  # what it cost in quality, in words, e.g. "perplexity +0.4 %"
    run_id: str | None = None  # the recorded comparison, when it was recorded


def record_saving(s: Saving) -> None:
    """Keep `s` for this session, replacing an older one with the same label."""
    st.session_state.setdefault(SAVINGS_KEY, {})[s.label] = s


def savings() -> list[Saving]:
    """Compressions measured in this session, newest last."""
    return list(st.session_state.get(SAVINGS_KEY, {}).values())


UPLOADS_KEY = "app_uploaded_bytes"  # session_state: file_id -> bytes counted against the cap


def upload_bytes(upload) -> bytes | None:
    """The bytes of a st.file_uploader file, counted against this session's upload cap; None
    (with a message) once the session's uploads together pass core.limits' cap."""
    seen: dict = st.session_state.setdefault(UPLOADS_KEY, {})
    if upload.file_id not in seen:
        left = limits.session_upload_left(sum(seen.values()))
        if upload.size > left:
            st.error(
                f"Refused: this session has uploaded {sum(seen.values()) / 2**20:,.0f} MB and "
                f"may upload {limits.MAX_SESSION_UPLOAD_MB:,} MB in all. Reload the page to "
                "start a new session."
            )
            return None
        seen[upload.file_id] = upload.size
    return upload.getvalue()


def session_device() -> str:
    """This session's device ('cuda', 'mps' or 'cpu'); stops the page with a message if unusable."""
    try:
        return dev.choose_device(st.session_state.get(DEVICE_KEY, "auto"))
    except ValueError as err:
        st.error(str(err))
        st.stop()
