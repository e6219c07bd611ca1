"""The Train your own GPT-2 tab: the text (built in or uploaded), the model's shape and
training length, Train/Stop as a background job with live loss curves and samples, then
where the model is saved and its recorded run; or the same run on other machines."""

from __future__ import annotations

import streamlit as st

import ui
from core import train
from core.text import charts, sources, tinygpt
from core.text.tinygpt import TinyGPTConfig
from ui import cluster

JOB = "chat_train_job"  # the training's job; its id is in the URL under this name
LEGACY_JOB = ("gpt_train_job",)  # the URL name it had before (links people kept)
BUILTIN = "Built in (Python's reference and scikit-learn's data set descriptions, 260 KB)"
DEFAULTS = TinyGPTConfig()  # the widgets start from the config's defaults (the bench's too)
EXPECT = (
    "What to expect: a model this size (under a million parameters, about two minutes on "
    "a laptop CPU) "
    "learns the words and phrasing of its text and the User:/Assistant: turns, not facts or "
    "reasoning. Its replies read like loosely strung sentences from that text, often off the "
    "question. For real answers, load GPT-2 or a bigger model when there is a network."
)
UPLOAD = "Upload a .txt or .md file"
WIDTHS = [64, 128, 192, 256, 384]


def train_tab_ui(device: str) -> None:
    """Text and settings, the run-elsewhere panel, Train/Stop, progress, then the results."""
    st.markdown(
        "Train a byte-level BPE tokenizer and a small GPT-2 on text - no network needed. "
        f"It is saved in `{sources.models_dir()}` and appears in the model picker."
    )
    st.caption(EXPECT)
    job = ui.job_of(JOB, legacy=LEGACY_JOB)
    (corpus, builtin), cfg = corpus_ui(), train_config_ui(just_saved(job))
    if unwritable := tinygpt.unwritable_reason():
        st.warning(
            f"{unwritable}. A model trained now is kept in memory for this session only (lost "
            f"when the app restarts). {tinygpt.WRITABLE_HINT}"
        )
    if cfg is not None:  # the uploaded text's path on the workers is typed in the panel
        run_config = train.gpt2_run_config(cfg, None if builtin else "")
        cluster.run_elsewhere_ui("gpt2", run_config, key="chat_train_elsewhere")
    if ui.job_buttons_ui(job, JOB, "Train", disabled=corpus is None or cfg is None):
        target = lambda progress: tinygpt.train_and_record(corpus, cfg, device, progress)  # noqa: E731
        if ui.submit_job(
            JOB, target, "train gpt2", tool="gpt2", device=device, meta={"config": cfg}
        ):
            st.rerun()
    if job is not None and job.active:
        ui.job_progress_ui(JOB, draw=training_live_ui, every=2.0)
    elif job is not None and not ui.job_failed_ui(job, "Training"):
        train_results_ui(job)


def corpus_ui() -> tuple[str | None, bool]:
    """The training text (None until a usable one is given), and whether it is built in."""
    if st.radio("Text", [BUILTIN, UPLOAD], key="chat_train_corpus") == BUILTIN:
        return tinygpt.builtin_corpus(), True
    up = st.file_uploader("Text file", type=["txt", "md"], key="chat_train_upload")
    data = None if up is None else ui.upload_bytes(up)  # None: over the session's cap
    try:
        return (None if data is None else tinygpt.read_corpus(data)), False
    except ValueError as err:
        st.error(str(err))
        return None, False


def just_saved(job) -> str:
    """The folder the session's last training saved its model into ("" for none)."""
    done = job is not None and not job.active and job.status != "failed" and job.result
    return str(job.result.folder) if done else ""


def train_config_ui(saved: str = "") -> TinyGPTConfig | None:
    """The model and training settings; None (with the reason shown) when they cannot run.
    `saved`: the folder this session's last training saved (training again replaces it)."""
    d = DEFAULTS
    c1, c2, c3, c4 = st.columns(4)
    try:
        cfg = TinyGPTConfig(
            name=c1.text_input("Model name", d.name, key="chat_train_name").strip(),
            layers=c1.slider("Layers", 1, 8, d.layers, key="chat_train_layers"),
            width=c2.select_slider("Width", WIDTHS, d.width, key="chat_train_width"),
            heads=c2.select_slider("Heads", [1, 2, 4, 8], d.heads, key="chat_train_heads"),
            context=c3.select_slider(
                "Context (tokens)", [32, 64, 96, 128, 256], d.context, key="chat_train_context"
            ),
            vocab_size=c3.select_slider(
                "Vocabulary", [512, 1024, 2048, 4096], d.vocab_size, key="chat_train_vocab"
            ),
            steps=c4.number_input("Steps", 10, 20_000, d.steps, 10, key="chat_train_steps"),
            lr=c4.number_input(
                "Learning rate", 1e-5, 1e-1, d.lr, format="%.0e", key="chat_train_lr"
            ),
            batch_size=d.batch_size,
        )
    except ValueError as err:
        st.error(str(err))
        return None
    if saved and saved == str(sources.models_dir() / cfg.name):
        st.caption(f"Training again replaces {cfg.name}, the model just trained.")
        return cfg
    if sources.model_exists(cfg.name) and not st.checkbox(
        f"Replace the saved {cfg.name}", key="chat_train_overwrite"
    ):
        st.warning(
            f"A model named {cfg.name} exists: training would overwrite it. Rename it or tick."
        )
        return None
    return cfg


def training_live_ui(job) -> None:
    """Loss curves and the latest sample while the model trains."""
    rows = job.metrics()
    if rows:
        lines = {"train_loss": "train", "val_loss": "validation"}
        ui.live_lines_ui(rows, "step", lines, "Loss")
        st.caption("Latest sample:")
        st.text(rows[-1]["sample"])


def train_results_ui(job) -> None:
    """The loss curves, the last sample, where the model is saved and its recorded run."""
    rows = job.metrics()
    if rows:
        st.plotly_chart(charts.loss_by_step(rows), key="chat_train_curve")
        st.caption(f"Sample after step {rows[-1]['step']}:")
        st.text(rows[-1]["sample"])
    stopped = "Stopped; " if job.status == "stopped" else ""
    if reason := job.result.not_saved:
        st.warning(
            f"{stopped}Not saved ({reason}). The model is kept in memory for this session: "
            f"pick '{sources.model_label(str(job.result.folder))}' in the model picker on the "
            "Chat tab. It is lost when the app restarts."
        )
    else:
        saved = f"{stopped}saved" if stopped else "Saved"
        st.success(f"{saved} to {job.result.folder}. Pick it in the model picker on the Chat tab.")
    ui.recorded_ui(job.result.recorded, kept="The model itself is kept.")
