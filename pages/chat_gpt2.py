"""Chat with GPT-2: any causal LM from the hub or a local folder, or a small GPT-2 trained
here; replies stream token by token with speed, cost and per-token probabilities.

Widgets -> Settings -> `core.textgen.stream_reply` (a worker generates, the page streams)
-> chat messages, stats, token view. Text from users and models is always shown as text.
"""

import json
import re
import threading

import streamlit as st

import ui
from core import cache, charts, costs, jobs, textgen, units
from core import device as dev

ui.require_navigation()
st.title("Chat with GPT-2")
st.caption(
    "Type and a language model answers, live, on this machine - with what each reply cost "
    "and how sure the model was of every token."
)
device = ui.session_device()
CHAT, MODEL, TRAIN_JOB = "chat_history", "chat_model_source", "gpt_train_job"
st.session_state.setdefault(CHAT, [])
tab_chat, tab_side, tab_train = st.tabs(["Chat", "Side by side", "Train your own GPT-2"])


def plain(text: str) -> str:
    """Markdown that shows `text` literally: no HTML, links, images or formatting."""
    escaped = re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~^$:])", r"\\\1", text)
    return escaped.replace("\n", "  \n") or " "


def model_ui(key: str, label: str = "Model"):
    """Pick and load a model; the loaded one stays for the session. None until loaded."""
    options = [*textgen.SUGGESTED, *textgen.local_models(), "Other hub id or folder..."]
    c1, c2 = st.columns([4, 1])
    choice = c1.selectbox(
        label,
        options,
        key=f"{key}_pick",
        help=f"Your trained models are saved in {textgen.models_dir()}.",
    )
    if choice == options[-1]:
        choice = c1.text_input("Hub id or local folder", key=f"{key}_other", placeholder="gpt2")
    c2.write("")
    if c2.button("Load", key=f"{key}_load", type="primary"):
        st.session_state[key] = choice
    source = st.session_state.get(key)
    if not source:
        st.info("Pick a model and press Load. With no network, train your own on the last tab.")
        return None
    if not download_ui(key, source):
        return None
    try:
        lm = cache.causal_lm(source, device)
    except textgen.ModelLoadError as err:
        st.error(str(err))
        return None
    st.caption(
        f"Loaded {source}: {units.params(lm.parameters)}, {lm.context:,}-token window, "
        f"on {device}{', chat template' if lm.has_chat_template else ''}."
    )
    return lm


def download_ui(key: str, source: str) -> bool:
    """True once `source` can be loaded from disk; meanwhile downloads it with progress."""
    job = st.session_state.get(f"{key}_download")
    if job is not None and job.meta["source"] == source:
        if job.running:
            download_progress(f"{key}_download")
            return False
        if job.status == "failed":
            st.error(f"Download failed: {job.error}")
            st.session_state.pop(f"{key}_download")
            return False
        return True
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


def settings_ui(key: str, lm, columns: bool = False) -> textgen.Settings:
    box = st.container() if columns else st.expander("Sampling and prompt settings")
    with box:
        c1, c2, c3 = st.columns(3)
        temp = c1.slider("Temperature (0 = greedy)", 0.0, 2.0, 0.8, 0.05, key=f"{key}_temp")
        top_k = c1.number_input("Top-k (0 = off)", 0, 1000, 50, key=f"{key}_topk")
        top_p = c2.slider("Top-p", 0.05, 1.0, 0.95, 0.01, key=f"{key}_topp")
        rep = c2.slider("Repetition penalty", 1.0, 2.0, 1.1, 0.05, key=f"{key}_rep")
        cap = max(1, min(1024, (lm.context if lm else 1024) - 8))
        new = c3.number_input("Max new tokens", 1, cap, min(120, cap), key=f"{key}_max")
        seed = c3.number_input("Seed", 0, 10**9, 0, key=f"{key}_seed")
        stops = st.text_input("Stop sequences (comma separated)", key=f"{key}_stops")
    mode = st.session_state.get("chat_mode", "chat")
    system = st.session_state.get("chat_system", "")
    stop = tuple(s for s in (x.strip() for x in stops.split(",")) if s)
    return textgen.Settings(temp, top_k, top_p, rep, new, seed, stop, mode, system)


def token_view(reply: dict) -> None:
    """Each generated token coloured by its probability; alternatives for a chosen token."""
    tokens = reply.get("tokens") or []
    if not tokens:
        return
    with st.expander("Token view"):
        colour = lambda p: "green" if p >= 0.5 else ("orange" if p >= 0.1 else "red")  # noqa: E731
        st.markdown(
            "".join(f":{colour(t['probability'])}-background[{plain(t['text'])}]" for t in tokens)
        )
        st.caption("Green: probability >= 50 %, orange: >= 10 %, red: below.")
        i = st.number_input("Token #", 0, len(tokens) - 1, 0, key=f"tok_{id(reply)}")
        st.dataframe(
            [
                {"Alternative": repr(a), "Probability": round(p, 4)}
                for a, p in tokens[i]["alternatives"]
            ],
            hide_index=True,
        )


def stats_line(stats: dict) -> str:
    rate, _ = costs.hardware_rate(device, dev.probe_hardware().gpu_name, dev.cpu_threads())
    tps = stats["tokens_per_s"]
    per_k = rate / 3600 / tps * 1000 if tps == tps and tps > 0 else float("nan")
    return (
        f"{stats['prompt_tokens']} prompt + {stats['new_tokens']} new tokens - first token "
        f"{stats['ttft_s']:.2f} s - {tps:.1f} tokens/s - {units.usd(per_k)} per 1,000 tokens"
        f"{' - stopped' if stats['stopped'] else ''}"
    )


def stream_into(lm, prompt, settings, where, sink: list | None = None) -> dict:
    """Stream a reply into `where` and return it as a message; it also lands in `sink` when
    the stream is cut short (Stop or any click reruns the page): the text so far is kept."""
    stop = threading.Event()
    holder = where.empty()
    message = {"role": "assistant", "content": "", "stats": None, "tokens": []}
    try:
        for kind, payload in textgen.stream_reply(lm, prompt, settings, stop):
            if kind == "waiting":
                holder.caption("Waiting for the model: another session is generating...")
            elif kind == "text":
                message["content"] = payload
                holder.markdown(plain(payload) + " ▌")
            elif kind == "error":
                where.error(f"Generation failed: {payload}")
                message["content"] += f" [failed: {payload}]"
            else:
                message["content"] = payload.text
                message["stats"] = payload.stats()
                message["tokens"] = [vars(t) for t in payload.tokens]
                holder.markdown(plain(payload.text))
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
        hw.gpu_name if device == "cuda" and hw.gpu_name else f"CPU, {dev.cpu_threads()} threads"
    )
    if reply.tokens_per_s == reply.tokens_per_s:
        ui.record_measurement(
            ui.Measurement(f"{lm.name} decode (chat)", reply.tokens_per_s, device, hardware)
        )


def respond(lm, settings) -> None:
    history = st.session_state[CHAT]
    try:
        prompt = textgen.build_prompt(
            lm, [{k: m[k] for k in ("role", "content")} for m in history], settings
        )
    except ValueError as err:
        st.error(str(err))
        return
    with st.chat_message("assistant"):
        stream_into(lm, prompt, settings, st, sink=history)


def meter(lm, settings) -> None:
    history = st.session_state[CHAT]
    if not history:
        return
    msgs = [{k: m[k] for k in ("role", "content")} for m in history]
    try:
        p = textgen.build_prompt(lm, msgs, settings)
    except ValueError:
        return
    used = len(p.ids) + settings.max_new_tokens
    note = f" - {p.dropped_turns} older turn(s) dropped to fit" if p.dropped_turns else ""
    note += " - the last message was cut from the left" if p.truncated else ""
    st.progress(
        min(used / lm.context, 1.0),
        text=f"Context: {used:,} of {lm.context:,} tokens (prompt + max new){note}",
    )


def export(lm, settings) -> None:
    history = st.session_state[CHAT]
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
    md = [f"# Conversation with {lm.name}", "", f"Run card: `{json.dumps(card)}`", ""]
    for m in history:
        md += [f"**{m['role']}**: {m['content']}", ""]
        if m.get("stats"):
            md += [f"_{stats_line(m['stats'])}_", ""]
    c1, c2 = st.columns(2)
    c1.download_button("Export JSON", json.dumps(doc, indent=2), "chat.json", key="chat_json")
    c2.download_button("Export Markdown", "\n".join(md), "chat.md", key="chat_md")


with tab_chat:
    lm = model_ui(MODEL)
    c1, c2 = st.columns([1, 3])
    c1.radio("Mode", ["chat", "completion"], key="chat_mode", horizontal=True)
    c2.text_input("System prompt (optional)", key="chat_system")
    settings = settings_ui("chat", lm)
    for msg in st.session_state[CHAT]:
        with st.chat_message(msg["role"]):
            st.markdown(plain(msg["content"]))
            if msg.get("stats"):
                st.caption(stats_line(msg["stats"]))
                token_view(msg)
    if lm is not None:
        b1, b2, b3, b4 = st.columns(4)
        if b1.button("Regenerate", key="chat_regen", disabled=not st.session_state[CHAT]):
            while st.session_state[CHAT] and st.session_state[CHAT][-1]["role"] == "assistant":
                st.session_state[CHAT].pop()
            settings = textgen.Settings(**{**vars(settings), "seed": settings.seed + 1})
            if st.session_state[CHAT]:
                respond(lm, settings)
                st.rerun()
        if b2.button("Undo last turn", key="chat_undo", disabled=not st.session_state[CHAT]):
            while st.session_state[CHAT] and st.session_state[CHAT].pop()["role"] != "user":
                pass
            st.rerun()
        if b3.button("Clear", key="chat_clear"):
            st.session_state[CHAT] = []
            st.rerun()
        b4.button("Stop", key="chat_stop", help="Ends the reply being written; keeps its text.")
        meter(lm, settings)
        text = st.chat_input("Message the model", key="chat_input")
        if text is not None:
            content = textgen.clean(text)
            if not content.strip():
                st.warning("Type something first: an empty message has nothing to answer.")
            else:
                st.session_state[CHAT].append({"role": "user", "content": content})
                with st.chat_message("user"):
                    st.markdown(plain(content))
                respond(lm, settings)
                st.rerun()
        if st.session_state[CHAT]:
            export(lm, settings)


with tab_side:
    if lm is None:
        st.info("Load a model on the Chat tab first.")
    else:
        two = st.toggle("Compare two models", key="side_two", help="Off: two settings, one model.")
        lm_b = model_ui("side_model_b", "Model B") if two else lm
        prompt_text = st.text_area("One prompt for both", "Once upon a time", key="side_prompt")
        cols = st.columns(2)
        sides = []
        for col, name, model in zip(cols, ("A", "B"), (lm, lm_b), strict=True):
            with col:
                st.markdown(f"**{name}: {model.name if model else 'no model loaded'}**")
                sides.append(settings_ui(f"side{name}", model, columns=True))
        go = st.button("Generate both", key="side_go", type="primary", disabled=lm_b is None)
        if go and not prompt_text.strip():
            st.warning("Type a prompt first.")
        elif go:  # one after the other: a shared model serves one generation at a time
            for col, s, model in zip(cols, sides, (lm, lm_b), strict=True):
                s = textgen.Settings(**{**vars(s), "mode": "completion"})
                try:
                    p = textgen.build_prompt(model, [{"role": "user", "content": prompt_text}], s)
                except ValueError as err:
                    col.error(str(err))
                    continue
                reply = stream_into(model, p, s, col)
                if reply["stats"]:
                    col.caption(stats_line(reply["stats"]))


@st.fragment(run_every=2.0)
def training_progress() -> None:
    job = st.session_state[TRAIN_JOB]
    if not job.running:
        st.rerun()
    st.progress(job.progress, text=job.message or "Training the tokenizer...")
    rows = job.metrics()
    if rows:
        st.line_chart(
            {
                "step": [r["step"] for r in rows],
                "train": [r["train_loss"] for r in rows],
                "validation": [r["val_loss"] for r in rows],
            },
            x="step",
            height=240,
        )
        st.caption("Latest sample:")
        st.text(rows[-1]["sample"])


with tab_train:
    st.markdown(
        "Train a byte-level BPE tokenizer and a small GPT-2 on text - no network needed. "
        f"It is saved in `{textgen.models_dir()}` and appears in the model picker."
    )
    corpus_choice = st.radio(
        "Text",
        ["Built in (scikit-learn's data set descriptions, 43 KB)", "Upload a .txt or .md file"],
        key="gpt_corpus",
    )
    corpus = None
    if corpus_choice.startswith("Built in"):
        corpus = textgen.builtin_corpus()
    else:
        up = st.file_uploader("Text file", type=["txt", "md"], key="gpt_upload")
        if up is not None:
            try:
                corpus = textgen.read_corpus(up.getvalue())
            except ValueError as err:
                st.error(str(err))
    c1, c2, c3, c4 = st.columns(4)
    name = c1.text_input("Model name", "my-gpt2", key="gpt_name")
    layers = c1.slider("Layers", 1, 8, 2, key="gpt_layers")
    width = c2.select_slider("Width", [64, 128, 192, 256, 384], 128, key="gpt_width")
    heads = c2.select_slider("Heads", [1, 2, 4, 8], 4, key="gpt_heads")
    context = c3.select_slider("Context (tokens)", [32, 64, 96, 128, 256], 96, key="gpt_ctx")
    vocab = c3.select_slider("Vocabulary", [512, 1024, 2048, 4096], 1024, key="gpt_vocab")
    steps = c4.number_input("Steps", 10, 20_000, 300, 10, key="gpt_steps")
    lr = c4.number_input("Learning rate", 1e-5, 1e-1, 3e-3, format="%.0e", key="gpt_lr")
    job = st.session_state.get(TRAIN_JOB)
    running = job is not None and job.running
    b1, b2, _ = st.columns([1, 1, 4])
    if b1.button("Train", key="gpt_train", type="primary", disabled=running or corpus is None):
        try:
            cfg = textgen.TinyGPTConfig(name, vocab, layers, width, heads, context, steps, 16, lr)
        except ValueError as err:
            st.error(str(err))
        else:
            target = lambda ctx: textgen.train_small_gpt2(corpus, cfg, device, ctx)  # noqa: E731
            st.session_state[TRAIN_JOB] = jobs.Job(target, "train gpt2").start()
            st.rerun()
    if b2.button("Stop", key="gpt_stop", disabled=not running):
        job.stop()
    if job is not None and job.running:
        training_progress()
    elif job is not None and job.status == "failed":
        st.error(f"Training failed: {job.error}")
    elif job is not None:
        rows = job.metrics()
        if rows:
            st.plotly_chart(charts.loss_by_step(rows), key="gpt_curve")
            st.text(f"Sample after step {rows[-1]['step']}: {rows[-1]['sample']}")
        st.success(
            f"{'Stopped; saved' if job.status == 'stopped' else 'Saved'} to {job.result}. "
            "Pick it in the model picker on the Chat tab."
        )
