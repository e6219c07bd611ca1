"""Chat with GPT-2: any causal LM from the hub or a local folder, or a small GPT-2 trained
here; replies stream token by token with speed, cost and per-token probabilities.

Widgets -> Settings -> `core.textgen.stream_reply` (a worker generates, the page streams)
-> chat messages, stats, token view. Model text is shown with `st.text`: literally, wrapped,
never as Markdown or HTML.
"""

import json
import threading
from dataclasses import replace

import streamlit as st

import ui
from core import cache, charts, costs, jobs, textgen
from core import device as dev

CHAT, MODEL, TRAIN_JOB = "chat_history", "chat_model_source", "gpt_train_job"
PENDING, SIDE = "chat_pending", "side_outputs"  # a message too long to send; side outputs
OTHER = "Other hub id or folder..."


def model_ui(key: str, device: str, label: str = "Model") -> textgen.LoadedModel | None:
    """Pick and load a model; the loaded one stays (also when a later Load fails)."""
    options = [*textgen.SUGGESTED, *textgen.local_models(), OTHER]
    c1, c2 = st.columns([4, 1])
    choice = c1.selectbox(
        label,
        options,
        key=f"{key}_pick",
        format_func=textgen.model_label,
        help=f"Your trained models are saved in {textgen.models_dir()}.",
    )
    if choice == OTHER:
        choice = c1.text_input("Hub id or local folder", key=f"{key}_other", placeholder="gpt2")
    c2.write("")
    if c2.button("Load", key=f"{key}_load", type="primary"):
        st.session_state[f"{key}_want"] = choice
    if st.session_state.get(f"{key}_want"):
        try_load(key, st.session_state[f"{key}_want"], device)
    if not st.session_state.get(key):
        st.info("Pick a model and press Load. With no network, train your own on the last tab.")
        return None
    try:
        lm = cache.causal_lm(st.session_state[key], device)
    except Exception as err:  # e.g. the device changed since it was loaded
        st.error(f"Cannot load {st.session_state.pop(key)} on {device}: {err}")
        return None
    st.caption(
        f"Loaded {textgen.model_label(lm.name)}: {lm.parameters:,} parameters, "
        f"{lm.context:,}-token window, on {device}"
        f"{', chat template' if lm.has_chat_template else ''}."
    )
    return lm


def try_load(key: str, source: str, device: str) -> None:
    """Load `source` (downloading it first if needed); it replaces the loaded model only
    when it loads."""
    if not download_ui(key, source):
        return
    st.session_state.pop(f"{key}_want")
    try:
        cache.causal_lm(source, device)
    except Exception as err:  # a user's pick: any failure is a message, never a traceback
        why = str(err) if isinstance(err, textgen.ModelLoadError) else f"{source}: {err}"
        kept = " The model loaded before stays loaded." if st.session_state.get(key) else ""
        st.error(f"{why}{kept}")
        return
    st.session_state[key] = source


def download_ui(key: str, source: str) -> bool:
    """True once `source` can be loaded from disk; meanwhile downloads it with progress."""
    job = st.session_state.get(f"{key}_download")
    if job is not None and job.meta["source"] == source:
        if job.running:
            download_progress(f"{key}_download")
            return False
        st.session_state.pop(f"{key}_download")
        if job.status == "failed":
            st.session_state.pop(f"{key}_want")
            st.error(f"Download failed: {job.error}")
        return job.status != "failed"
    if not textgen.needs_download(source) or not textgen.hub_reachable():
        return True  # on disk already, or loading explains that there is no network
    target = lambda ctx: textgen.download_model(source, ctx)  # noqa: E731
    st.session_state[f"{key}_download"] = jobs.Job(
        target, "download", meta={"source": source}
    ).start()
    st.rerun()


@st.fragment(run_every=1.0)
def download_progress(job_key: str) -> None:
    job = st.session_state[job_key]
    if not job.running:
        st.rerun()
    st.progress(job.progress, text=f"Downloading {job.meta['source']}: {job.message or 'starting'}")


def settings_ui(
    key: str, context: int, mode: str, system: str, temperature: float = 0.8, columns=False
) -> textgen.Settings:
    """Sampling settings for a model with a `context`-token window; new tokens default to a
    third of it so the conversation keeps most of the window."""
    with st.container() if columns else st.expander("Sampling and prompt settings"):
        c1, c2, c3 = st.columns(3)
        temp = c1.slider("Temperature (0 = greedy)", 0.0, 2.0, temperature, 0.05, key=f"{key}_temp")
        top_k = c1.number_input("Top-k (0 = off)", 0, 1000, 50, key=f"{key}_topk")
        top_p = c2.slider("Top-p", 0.05, 1.0, 0.95, 0.01, key=f"{key}_topp")
        rep = c2.slider("Repetition penalty", 1.0, 2.0, 1.1, 0.05, key=f"{key}_rep")
        new = c3.number_input(
            "Max new tokens",
            1,
            max(1, min(1024, context - 8)),
            textgen.default_max_new_tokens(context),
            key=f"{key}_max_{context}",  # a model with another window gets fresh defaults
        )
        seed = c3.number_input("Seed", 0, 2**31 - 1, 0, key=f"{key}_seed")
        stops = st.text_input("Stop sequences (comma separated)", key=f"{key}_stops")
    return textgen.Settings(
        temperature=temp,
        top_k=top_k,
        top_p=top_p,
        repetition_penalty=rep,
        max_new_tokens=new,
        seed=seed,
        stop=tuple(s for s in (x.strip() for x in stops.split(",")) if s),
        mode=mode,
        system=system,
    )


def token_view(reply: dict, index: int) -> None:
    """Each generated token coloured by its probability; alternatives for a chosen token."""
    tokens = reply.get("tokens") or []
    if not tokens:
        return
    with st.expander("Token view"):
        colour = lambda p: "green" if p >= 0.5 else ("orange" if p >= 0.1 else "red")  # noqa: E731
        st.markdown(
            "".join(
                f":{colour(t['probability'])}-background[{textgen.markdown_literal(t['text'])}]"
                for t in tokens
            )
        )
        st.caption("Green: probability >= 50 %, orange: >= 10 %, red: below.")
        i = st.number_input("Token #", 0, len(tokens) - 1, 0, key=f"tok_{index}")
        alternatives = [
            {"Alternative": repr(a), "Probability": round(p, 4)}
            for a, p in tokens[i]["alternatives"]
        ]
        st.dataframe(alternatives, hide_index=True)


def stats_caption(where, message: dict, usd_per_hour: float) -> None:
    seed = message.get("settings", {}).get("seed")
    where.caption(textgen.describe_stats(message["stats"], usd_per_hour, seed))


def stream_into(lm, prompt, settings, where, sink: list | None = None) -> dict:
    """Stream a reply into `where` and return it as a message; it also lands in `sink` when
    the stream is cut short (Stop or any click reruns the page): the text so far is kept."""
    holder = where.empty()
    message = {"role": "assistant", "content": "", "stats": None, "tokens": []}
    try:
        for kind, payload in textgen.stream_reply(lm, prompt, settings, threading.Event()):
            if kind == "waiting":
                holder.caption("Waiting for the model: another session is generating...")
            elif kind == "text":
                message["content"] = payload
                holder.text(payload + " ▌")
            elif kind == "error":
                where.error(f"Generation failed: {payload}")
                message["content"] += f" [failed: {payload}]"
            else:
                message |= {"content": payload.text, "stats": payload.stats()}
                message["tokens"] = [vars(t) for t in payload.tokens]
                holder.text(payload.text)
                record_speed(lm, payload)
    finally:
        message["settings"] = vars(settings) | {"stop": list(settings.stop)}
        if message["stats"] is None and not message["content"].endswith("]"):
            message["content"] += " [stopped]"
        if sink is not None:
            sink.append(message)
    return message


def record_speed(lm, reply) -> None:
    hw = dev.probe_hardware()
    hardware = (
        hw.gpu_name if lm.device == "cuda" and hw.gpu_name else f"CPU, {dev.cpu_threads()} threads"
    )
    if reply.tokens_per_s == reply.tokens_per_s:
        ui.record_measurement(
            ui.Measurement(f"{lm.name} decode (chat)", reply.tokens_per_s, lm.device, hardware)
        )


def turns(history: list[dict]) -> list[dict]:
    return [{"role": m["role"], "content": m["content"]} for m in history]


def respond(lm, settings, history: list[dict], usd_per_hour: float) -> None:
    try:
        prompt = textgen.build_prompt(lm, turns(history), settings)
    except ValueError as err:
        st.error(str(err))
        return
    with st.chat_message("assistant"):
        reply = stream_into(lm, prompt, settings, st, sink=history)
        if reply["stats"]:
            stats_caption(st, reply, usd_per_hour)


def meter(lm, settings, history: list[dict]) -> None:
    """How full the window is, and what was left out to fit."""
    if not history:
        st.caption(f"Room for a message of about {lm.context - settings.max_new_tokens} tokens.")
        return
    try:
        p = textgen.build_prompt(lm, turns(history), settings)
    except ValueError:
        return
    used = len(p.ids) + settings.max_new_tokens
    note = f" - {p.dropped_turns} older turn(s) dropped to fit" if p.dropped_turns else ""
    note += f" - the last message lost its first {p.cut_tokens} tokens" if p.truncated else ""
    st.progress(
        min(used / lm.context, 1.0),
        text=f"Context: {used:,} of {lm.context:,} tokens (prompt + max new){note}",
    )


def messages_ui(history: list[dict], usd_per_hour: float) -> None:
    for i, msg in enumerate(history):
        with st.chat_message(msg["role"]):
            st.text(msg["content"])
            if msg.get("stats"):
                stats_caption(st, msg, usd_per_hour)
                token_view(msg, i)


def chat_buttons_ui(lm, settings, history: list[dict], usd_per_hour: float) -> None:
    b1, b2, b3, b4 = st.columns(4)
    if b1.button("Regenerate", key="chat_regen", disabled=not history, help="A new random seed"):
        while history and history[-1]["role"] == "assistant":
            history.pop()
        if history:  # each press samples anew; the seed is recorded with the reply
            respond(lm, replace(settings, seed=textgen.fresh_seed()), history, usd_per_hour)
            st.rerun()
    if b2.button("Undo last turn", key="chat_undo", disabled=not history):
        while history and history.pop()["role"] != "user":
            pass
        st.rerun()
    if b3.button("Clear", key="chat_clear"):
        history.clear()
        st.rerun()
    b4.button("Stop", key="chat_stop", help="Ends the reply being written; keeps its text.")


def send(lm, settings, history: list[dict], content: str, usd_per_hour: float) -> None:
    history.append({"role": "user", "content": content})
    with st.chat_message("user"):
        st.text(content)
    respond(lm, settings, history, usd_per_hour)
    st.rerun()


def input_ui(lm, settings, history: list[dict], usd_per_hour: float) -> None:
    """The message box; a message that would be cut to fit waits for "Send anyway"."""
    text = st.chat_input("Message the model", key="chat_input")
    if text is not None and textgen.is_blank(text):
        st.warning("Type something first: an empty message has nothing to answer.")
    elif text is not None:
        st.session_state[PENDING] = textgen.clean(text)
    content = st.session_state.get(PENDING)
    if content is None:
        return
    prompt = textgen.build_prompt(
        lm, [*turns(history), {"role": "user", "content": content}], settings
    )
    if not prompt.truncated or st.session_state.pop("chat_send_anyway", False):
        st.session_state.pop(PENDING)
        send(lm, settings, history, content, usd_per_hour)
    st.warning(
        f"Too long for this model: the first {prompt.cut_tokens:,} tokens of your message "
        f"would be cut off to fit its {lm.context:,}-token window with "
        f"{settings.max_new_tokens} new tokens. Shorten it, lower Max new tokens, or send it."
    )
    c1, c2, _ = st.columns([1, 1, 3])
    if c1.button("Send anyway", key="chat_send_cut"):
        st.session_state["chat_send_anyway"] = True
        st.rerun()
    if c2.button("Cancel", key="chat_cancel"):
        st.session_state.pop(PENDING)
        st.rerun()


def export_ui(lm, settings, history: list[dict], usd_per_hour: float, device: str) -> None:
    card = {
        "model": lm.name,
        "device": device,
        "parameters": lm.parameters,
        "settings": vars(settings) | {"stop": list(settings.stop)},
    }
    doc = {
        "run_card": card,
        "messages": [{k: v for k, v in m.items() if k != "tokens"} for m in history],
    }
    c1, c2 = st.columns(2)
    c1.download_button("Export JSON", json.dumps(doc, indent=2), "chat.json", key="chat_json")
    md = textgen.transcript_markdown(card, history, usd_per_hour)
    c2.download_button("Export Markdown", md, "chat.md", key="chat_md")


def chat_tab(device: str, usd_per_hour: float) -> textgen.LoadedModel | None:
    history = st.session_state.setdefault(CHAT, [])
    lm = model_ui(MODEL, device)
    c1, c2 = st.columns([1, 3])
    mode = c1.radio("Mode", ["chat", "completion"], key="chat_mode", horizontal=True)
    system = c2.text_input("System prompt (optional)", key="chat_system")
    settings = settings_ui("chat", lm.context if lm else 1024, mode, system)
    messages_ui(history, usd_per_hour)
    if lm is None:
        return None
    chat_buttons_ui(lm, settings, history, usd_per_hour)
    meter(lm, settings, history)
    input_ui(lm, settings, history, usd_per_hour)
    if history:
        export_ui(lm, settings, history, usd_per_hour, device)
    return lm


def side_outputs_ui(cols, outputs: list[dict], sides: list, usd_per_hour: float) -> None:
    """The last outputs, kept when a setting changes (marked when they differ from it)."""
    for col, out, s in zip(cols, outputs, sides, strict=False):
        col.text(out["content"])
        if out["stats"]:
            stats_caption(col, out, usd_per_hour)
        if out["settings"] != vars(s) | {"stop": list(s.stop)}:
            col.caption("Made with earlier settings: press Generate both to refresh.")


def side_tab(lm, device: str, usd_per_hour: float) -> None:
    if lm is None:
        st.info("Load a model on the Chat tab first.")
        return
    two = st.toggle("Compare two models", key="side_two", help="Off: two settings, one model.")
    lm_b = model_ui("side_model_b", device, "Model B") if two else lm
    prompt_text = st.text_area("One prompt for both", "Once upon a time", key="side_prompt")
    cols, sides = st.columns(2), []
    for col, name, model, temp in zip(cols, "AB", (lm, lm_b), (0.0, 1.0), strict=True):
        with col:
            st.markdown(f"**{name}: {model.name if model else 'no model loaded'}**")
            ctx = model.context if model else 1024
            sides.append(settings_ui(f"side{name}", ctx, "completion", "", temp, columns=True))
    if not st.button("Generate both", key="side_go", type="primary", disabled=lm_b is None):
        side_outputs_ui(cols, st.session_state.get(SIDE, []), sides, usd_per_hour)
        return
    if textgen.is_blank(prompt_text):
        st.warning("Type a prompt first.")
        return
    outputs = []  # one after the other: a shared model serves one generation at a time
    for col, s, model in zip(cols, sides, (lm, lm_b), strict=True):
        try:
            p = textgen.build_prompt(model, [{"role": "user", "content": prompt_text}], s)
        except ValueError as err:
            col.error(str(err))
            continue
        outputs.append(stream_into(model, p, s, col))
        if outputs[-1]["stats"]:
            stats_caption(col, outputs[-1], usd_per_hour)
    st.session_state[SIDE] = outputs


@st.fragment(run_every=2.0)
def training_progress() -> None:
    job = st.session_state[TRAIN_JOB]
    if not job.running:
        st.rerun()
    eta = f" - about {job.eta:,.0f} s left" if job.eta is not None else ""
    st.progress(job.progress, text=f"{job.message or 'Training the tokenizer...'}{eta}")
    rows = job.metrics()
    if rows:
        curves = {k: [r[c] for r in rows] for k, c in [("step", "step"), ("train", "train_loss")]}
        curves["validation"] = [r["val_loss"] for r in rows]
        st.line_chart(curves, x="step", height=240)
        st.caption("Latest sample:")
        st.text(rows[-1]["sample"])


def corpus_ui() -> str | None:
    """The training text: built in, or an uploaded file (None until a usable one is given)."""
    choice = st.radio(
        "Text",
        ["Built in (scikit-learn's data set descriptions, 43 KB)", "Upload a .txt or .md file"],
        key="gpt_corpus",
    )
    if choice.startswith("Built in"):
        return textgen.builtin_corpus()
    up = st.file_uploader("Text file", type=["txt", "md"], key="gpt_upload")
    if up is None:
        return None
    try:
        return textgen.read_corpus(up.getvalue())
    except ValueError as err:
        st.error(str(err))
        return None


def train_config_ui() -> textgen.TinyGPTConfig | None:
    """The model and training settings; None (with the reason shown) when they cannot run."""
    c1, c2, c3, c4 = st.columns(4)
    fields = dict(
        name=c1.text_input("Model name", "my-gpt2", key="gpt_name").strip(),
        layers=c1.slider("Layers", 1, 8, 2, key="gpt_layers"),
        width=c2.select_slider("Width", [64, 128, 192, 256, 384], 128, key="gpt_width"),
        heads=c2.select_slider("Heads", [1, 2, 4, 8], 4, key="gpt_heads"),
        context=c3.select_slider("Context (tokens)", [32, 64, 96, 128, 256], 96, key="gpt_ctx"),
        vocab_size=c3.select_slider("Vocabulary", [512, 1024, 2048, 4096], 1024, key="gpt_vocab"),
        steps=c4.number_input("Steps", 10, 20_000, 300, 10, key="gpt_steps"),
        lr=c4.number_input("Learning rate", 1e-5, 1e-1, 3e-3, format="%.0e", key="gpt_lr"),
    )
    try:
        cfg = textgen.TinyGPTConfig(batch_size=16, **fields)
    except ValueError as err:
        st.error(str(err))
        return None
    if textgen.model_exists(cfg.name) and not st.checkbox(
        f"A model named {cfg.name} exists: replace it", key="gpt_overwrite"
    ):
        st.warning(f"Training would overwrite the saved model {cfg.name}: rename it or tick.")
        return None
    return cfg


def train_results_ui(job) -> None:
    if job.status == "failed":
        st.error(f"Training failed: {job.error}")
        return
    rows = job.metrics()
    if rows:
        st.plotly_chart(charts.loss_by_step(rows), key="gpt_curve")
        st.caption(f"Sample after step {rows[-1]['step']}:")
        st.text(rows[-1]["sample"])
    st.success(
        f"{'Stopped; saved' if job.status == 'stopped' else 'Saved'} to {job.result}. "
        "Pick it in the model picker on the Chat tab."
    )


def train_tab(device: str) -> None:
    st.markdown(
        "Train a byte-level BPE tokenizer and a small GPT-2 on text - no network needed. "
        f"It is saved in `{textgen.models_dir()}` and appears in the model picker."
    )
    corpus = corpus_ui()
    cfg = train_config_ui()
    job = st.session_state.get(TRAIN_JOB)
    running = job is not None and job.running
    b1, b2, _ = st.columns([1, 1, 4])
    ready = corpus is not None and cfg is not None
    if b1.button("Train", key="gpt_train", type="primary", disabled=running or not ready):
        target = lambda ctx: textgen.train_small_gpt2(corpus, cfg, device, ctx)  # noqa: E731
        st.session_state[TRAIN_JOB] = jobs.Job(target, "train gpt2").start()
        st.rerun()
    if b2.button("Stop", key="gpt_stop", disabled=not running):
        job.stop()
    if running:
        training_progress()
    elif job is not None:
        train_results_ui(job)


ui.require_navigation()
st.title("Chat with GPT-2")
st.caption(
    "Type and a language model answers, live, on this machine - with what each reply cost "
    "and how sure the model was of every token."
)
device = ui.session_device()
price, _ = costs.hardware_rate(device, dev.probe_hardware().gpu_name, dev.cpu_threads())
tab_chat, tab_side, tab_train = st.tabs(["Chat", "Side by side", "Train your own GPT-2"])
with tab_chat:
    loaded = chat_tab(device, price)
with tab_side:
    side_tab(loaded, device, price)
with tab_train:
    train_tab(device)
