"""Pick a local model (suggested hub ids, the saved folders, or any id or folder), load it
with a download's progress when it is not on disk, and switch its fast path on or off."""

from __future__ import annotations

import streamlit as st

import ui
from core import cache
from core import device as dev
from core.text import loading, sources
from core.text.loading import LoadedModel

OTHER = "Other hub id or folder..."


def model_ui(key: str, device: str, label: str = "Model", legacy: str = "") -> LoadedModel | None:
    """Pick and load a model; the loaded one stays (also when a later Load fails). `legacy`:
    the key's older name, for a download job whose id is in a bookmarked URL."""
    network = sources.hub_reachable_now()
    options = [*sources.SUGGESTED, *sources.local_models(), OTHER]
    default = sources.default_model(network)
    c1, c2 = st.columns([4, 1])
    help_ = (
        f"Your trained models are saved in {sources.models_dir()}. Models that chat are "
        "instruction-tuned and answer; the others continue the text they are given."
    )
    choice = c1.selectbox(
        label,
        options,
        index=options.index(default) if default in options else 0,
        key=f"{key}_pick",
        format_func=sources.model_label,
        help=help_,
    )
    if choice == OTHER:
        choice = c1.text_input("Hub id or local folder", key=f"{key}_other", placeholder="gpt2")
    needs_ui(c1, choice, device, network)
    if c2.button("Load", key=f"{key}_load", type="primary"):
        st.session_state[f"{key}_want"] = choice
    wanted = st.session_state.get(f"{key}_want")
    if wanted and download_ui(key, wanted, legacy):
        try_load(key, st.session_state.pop(f"{key}_want"), device)
    if not st.session_state.get(key):
        st.info(
            "Pick a model and press Load. With no network, train your own on the "
            "'Train your own GPT-2' tab: it needs no download."
        )
        return None
    try:
        lm = cache.causal_lm(st.session_state[key], device)
    except Exception as err:  # e.g. too big for the device picked since it was loaded
        st.error(f"Cannot load {st.session_state.pop(key)} on {device}: {err}")
        return None
    template = ", chat template" if lm.has_chat_template else ""
    st.caption(
        f"Loaded {sources.model_label(lm.name)}: {lm.parameters:,} parameters, "
        f"{lm.context:,}-token window, on {device}{template}."
    )
    return lm


def needs_ui(where, choice: str, device: str, network: bool) -> None:
    """What a suggested model needs here: memory, download, the decode bound's tokens/s."""
    s = sources.suggestion(choice)
    if s is None:
        return
    per_param = 2 if device == "cuda" else 6  # CPU: fp32 weights and the fast path's fp16 copy
    bound, how = sources.decode_bound(s, device, dev.probe_hardware().gpu_name)
    got = (
        ""
        if sources.cached(choice)
        else (
            f" - a {s.download_mb:,} MB download" + ("" if network else ", and there is no network")
        )
    )
    does = "answers (instruction-tuned, its chat template)" if s.chats else "continues text"
    where.caption(
        f"{choice} {does}: needs about {sources.memory_gb(s, per_param):,.1f} GB of memory, "
        f"up to ~{bound:,.0f} tokens/s here (the calculator's batch-1 decode bound, memory "
        f"bandwidth / 2-byte weights, {how}){got}."
    )


def try_load(key: str, source: str, device: str) -> None:
    """`source` replaces the loaded model only when it loads."""
    try:
        cache.causal_lm(source, device)
    except Exception as err:  # a user's pick: any failure is a message, never a traceback
        why = str(err) if isinstance(err, sources.ModelLoadError) else f"{source}: {err}"
        kept = " The model loaded before stays loaded." if st.session_state.get(key) else ""
        st.error(f"{why}{kept}")
        return
    st.session_state[key] = source


def download_ui(key: str, source: str, legacy: str = "") -> bool:
    """True once `source` can be loaded from disk; meanwhile downloads it with progress."""
    job_key = f"{key}_download"
    job = ui.job_of(job_key, legacy=(f"{legacy}_download",) if legacy else ())
    if job is None or job.meta["source"] != source:
        if not sources.needs_download(source) or not sources.hub_reachable():
            return True  # on disk already, or loading explains that there is no network
        target = lambda progress: sources.download_model(source, progress)  # noqa: E731
        if ui.submit_job(
            job_key, target, "download", tool="download", device="network", meta={"source": source}
        ):
            st.rerun()
        st.session_state.pop(f"{key}_want")
        return False
    if job.active:
        ui.job_progress_ui(job_key)
        return False
    ui.forget_job(job_key)
    if ui.job_failed_ui(job, "Download"):
        st.session_state.pop(f"{key}_want")
        return False
    return True


def fast_ui(lm: LoadedModel, device: str) -> LoadedModel:
    """The fast generation path (on by default where it pays); says when it lowers precision."""
    help_ = (
        "CPU: the engine measured fastest on this machine within 2 % of full precision's "
        "perplexity (fp16 weights, torch int8, CTranslate2 fp32 or int8, or plain), measured "
        "once per model. CUDA: half precision and a static KV cache, compiled on first use."
    )
    if not st.toggle(
        "Fast generation",
        loading.fast_path_pays(device, lm.parameters),
        key="chat_fast",
        help=help_,
    ):
        return lm
    stage = st.empty()  # which engine a first calibration is timing
    told = lambda now: stage.caption(f"Timing {now}...")  # noqa: E731
    with st.spinner("Measuring the fast engines on this machine (once per model)..."):
        fast = loading.fast_variant(lm, progress=told)
    stage.empty()
    note = " - replies may differ slightly from full precision" if fast.lowered_precision else ""
    st.caption(f"Fast path: {fast.fast or 'nothing faster on this device'}{note}.")
    return fast
