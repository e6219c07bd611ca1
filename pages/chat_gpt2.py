"""Chat with GPT-2: any causal LM from the hub or a local folder, or a small GPT-2 trained
here; replies stream token by token with speed, cost and per-token probabilities.

Widgets -> Settings -> `core.text.textgen.chat_events` (a worker generates, or an OpenAI-compatible
server streams; the page redraws at most 20 times a second) -> chat messages, stats, token
view. Model and user text is shown with `st.text`: literally, wrapped, never as Markdown or
HTML. A local model can be served from the page, and a server measured under load.
"""

import threading
from dataclasses import replace
from pathlib import Path

import streamlit as st

import ui
from core import cache, train
from core import device as dev
from core.economics import costs
from core.serving import serving
from core.text import charts, textgen
from ui import cluster
from ui import serving as ui_serving

CHAT, MODEL, TRAIN_JOB = "chat_history", "chat_model_source", "gpt_train_job"
PENDING, SIDE = "chat_pending", "side_outputs"  # a message too long to send; side outputs
SEND_ANYWAY, REGENERATE = "chat_send_anyway", "chat_regenerate"  # asked for on the last run
OTHER = "Other hub id or folder..."
LOCAL, SERVER = "Local model", "A server (OpenAI-compatible)"
SERVER_WINDOW = 2048  # bounds Max new tokens for a server, whose window the page cannot see


def model_ui(key: str, device: str, label: str = "Model") -> textgen.LoadedModel | None:
    """Pick and load a model; the loaded one stays (also when a later Load fails)."""
    options = [*textgen.SUGGESTED, *textgen.local_models(), OTHER]
    c1, c2 = st.columns([4, 1])
    help_ = f"Your trained models are saved in {textgen.models_dir()}."
    choice = c1.selectbox(
        label, options, key=f"{key}_pick", format_func=textgen.model_label, help=help_
    )
    if choice == OTHER:
        choice = c1.text_input("Hub id or local folder", key=f"{key}_other", placeholder="gpt2")
    if c2.button("Load", key=f"{key}_load", type="primary"):
        st.session_state[f"{key}_want"] = choice
    if st.session_state.get(f"{key}_want") and download_ui(key, st.session_state[f"{key}_want"]):
        try_load(key, st.session_state.pop(f"{key}_want"), device)
    if not st.session_state.get(key):
        st.info("Pick a model and press Load. With no network, train your own on the last tab.")
        return None
    try:
        lm = cache.causal_lm(st.session_state[key], device)
    except Exception as err:  # e.g. too big for the device picked since it was loaded
        st.error(f"Cannot load {st.session_state.pop(key)} on {device}: {err}")
        return None
    template = ", chat template" if lm.has_chat_template else ""
    st.caption(
        f"Loaded {textgen.model_label(lm.name)}: {lm.parameters:,} parameters, "
        f"{lm.context:,}-token window, on {device}{template}."
    )
    return lm


def try_load(key: str, source: str, device: str) -> None:
    """`source` replaces the loaded model only when it loads."""
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
    job_key = f"{key}_download"
    job = ui.job_of(job_key)
    if job is None or job.meta["source"] != source:
        if not textgen.needs_download(source) or not textgen.hub_reachable():
            return True  # on disk already, or loading explains that there is no network
        target = lambda ctx: textgen.download_model(source, ctx)  # noqa: E731
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


def settings_ui(key: str, context: int, mode: str, system: str, temperature=0.8, columns=False):
    """Sampling settings for a `context`-token window; new tokens default to a third of it,
    so the conversation keeps most of the window."""
    with st.container() if columns else st.expander("Sampling and prompt settings"):
        c1, c2, c3 = st.columns(3)
        new_cap, new_default = (
            textgen.max_new_tokens_cap(context),
            textgen.default_max_new_tokens(context),
        )
        return textgen.Settings(
            temperature=c1.slider(
                "Temperature (0 = greedy)", 0.0, 2.0, temperature, 0.05, key=f"{key}_temp"
            ),
            top_k=c1.number_input("Top-k (0 = off)", 0, 1000, 50, key=f"{key}_topk"),
            top_p=c2.slider("Top-p", 0.05, 1.0, 0.95, 0.01, key=f"{key}_topp"),
            repetition_penalty=c2.slider(
                "Repetition penalty", 1.0, 2.0, 1.1, 0.05, key=f"{key}_rep"
            ),
            # keyed by the window, so a model with another window gets fresh defaults
            max_new_tokens=c3.number_input(
                "Max new tokens", 1, new_cap, new_default, key=f"{key}_max_{context}"
            ),
            seed=c3.number_input("Seed", 0, 2**31 - 1, 0, key=f"{key}_seed"),
            stop=textgen.parse_stops(
                st.text_input("Stop sequences (comma separated)", key=f"{key}_stops")
            ),
            mode=mode,
            system=system,
        )


def token_view(reply: dict, index: int) -> None:
    """Each generated token coloured by its probability; alternatives for a chosen token."""
    tokens = reply.get("tokens") or []
    if not tokens:
        return
    with st.expander("Token view"):
        st.markdown(textgen.token_markdown(tokens))
        st.caption("Green: probability >= 50 %, orange: >= 10 %, red: below.")
        i = st.number_input("Token #", 0, len(tokens) - 1, 0, key=f"tok_{index}")
        st.dataframe(textgen.alternatives_table(tokens[i]), hide_index=True)


def stats_caption(where, message: dict, usd_per_hour: float) -> None:
    if message.get("stats"):
        seed = message["settings"]["seed"]
        where.caption(textgen.describe_stats(message["stats"], usd_per_hour, seed))
    if message.get("server") and message.get("stats"):
        for note in served_notes(message):
            where.caption(note)


def served_notes(message: dict) -> list[str]:
    """What a server's reply lacked: refused settings, usage counts, token probabilities."""
    stats, notes = message["stats"], []
    if stats.get("unsupported"):
        notes.append(f"not supported by this server: {', '.join(stats['unsupported'])}")
    if not stats.get("usage_reported"):
        notes.append("this server sent no usage: tokens counted from the stream")
    if not message.get("tokens"):
        notes.append("this server sent no token probabilities")
    return notes


def server_events(endpoint: serving.Endpoint, settings, history: list[dict]):
    """The server's reply stream for `history`: chat (system prompt as a system message) or
    completion (the last message as the prompt)."""
    params, stop = serving.GenParams.from_settings(settings), threading.Event()
    if settings.mode == "completion":
        return serving.stream_completion(endpoint, history[-1]["content"], params, stop)
    system = [{"role": "system", "content": settings.system}] if settings.system.strip() else []
    return serving.stream_chat(endpoint, system + textgen.turns(history), params, stop)


def stream_from_server(endpoint, settings, where, usd_per_hour: float, history: list) -> dict:
    """Stream a server's reply into `where` and `history`; an error is shown, and the chat
    and any partial reply stay."""
    events = server_events(endpoint, settings, history)
    holder, message = where.empty(), textgen.reply_message(settings)
    history.append(message | {"server": f"{endpoint.model} @ {endpoint.host}"})
    message = history[-1]
    for kind, payload in textgen.chat_events(None, None, settings, message, events=events):
        if kind == "text":
            holder.text(payload + " ▌")
        elif kind == "error":  # kept with the message, so it shows again after a rerun
            message["content"] = message["content"].removesuffix(f" [failed: {payload}]")
            message["error"] = str(payload)
            holder.text(message["content"])
            where.error(message["error"])
        else:
            holder.text(payload.text)
    stats_caption(where, message, usd_per_hour)
    return message


def stream_into(lm, prompt, settings, where, usd_per_hour: float, sink: list | None = None) -> dict:
    """Stream a reply into `where`; it is in `sink` from the start, so a reply cut short
    (Stop, or any click that reruns the page) keeps its text."""
    holder, message = where.empty(), textgen.reply_message(settings)
    if sink is not None:
        sink.append(message)
    for kind, payload in textgen.chat_events(lm, prompt, settings, message):
        if kind == "waiting":
            holder.caption(f"Waiting for the model: place {payload} in the queue of replies...")
        elif kind == "text":
            holder.text(payload + " ▌")
        elif kind == "error":
            where.error(f"Generation failed: {payload}")
        else:
            holder.text(payload.text)
            record_speed(lm, payload.tokens_per_s)
    stats_caption(where, message, usd_per_hour)
    return message


def record_speed(lm, tokens_per_s: float) -> None:
    gpu = dev.probe_hardware().gpu_name
    hardware = gpu if lm.device == "cuda" and gpu else f"CPU, {dev.cpu_threads()} threads"
    if tokens_per_s == tokens_per_s:
        label = f"{lm.name} decode (chat{', fast path' if lm.fast else ''})"
        ui.record_measurement(
            ui.Measurement(
                label=label,
                tokens_per_s=tokens_per_s,
                device=lm.device,
                hardware=hardware,
                params=lm.parameters,
            )
        )


def respond(lm, settings, history: list[dict], usd_per_hour: float) -> None:
    """The next reply, from the local model `lm` or a server (an Endpoint), drawn with its
    stats and token view."""
    if isinstance(lm, serving.Endpoint):
        with st.chat_message("assistant"):
            stream_from_server(lm, settings, st, usd_per_hour, history)
        return
    try:
        prompt = textgen.build_prompt(lm, textgen.turns(history), settings)
    except ValueError as err:
        st.error(str(err))
        return
    with st.chat_message("assistant"):
        message = stream_into(lm, prompt, settings, st, usd_per_hour, sink=history)
        token_view(message, len(history) - 1)


def meter(lm, settings, history: list[dict]) -> None:
    """How full the window is, and what was left out to fit."""
    if not history:
        st.caption(f"Room for a message of about {lm.context - settings.max_new_tokens} tokens.")
        return
    p = textgen.build_prompt(lm, textgen.turns(history), settings)
    used = len(p.ids) + settings.max_new_tokens
    note = f" - {p.dropped_turns} older turn(s) dropped to fit" if p.dropped_turns else ""
    note += f" - the last message lost its first {p.cut_tokens} tokens" if p.truncated else ""
    text = f"Context: {used:,} of {lm.context:,} tokens (prompt + max new){note}"
    st.progress(min(used / lm.context, 1.0), text=text)


def messages_ui(history: list[dict], usd_per_hour: float) -> None:
    for i, msg in enumerate(history):
        with st.chat_message(msg["role"]):
            st.text(msg["content"])
            if msg.get("error"):
                st.error(msg["error"])
            stats_caption(st, msg, usd_per_hour)
            token_view(msg, i)


def drop_reply(history: list[dict]) -> None:
    """Regenerate's first half (a callback): the last reply goes, a new one is asked for."""
    while history and history[-1]["role"] == "assistant":
        history.pop()
    st.session_state[REGENERATE] = bool(history)


def undo_turn(history: list[dict]) -> None:
    while history and history.pop()["role"] != "user":
        pass


def chat_buttons_ui(history: list[dict]) -> None:
    """Regenerate, Undo, Clear (callbacks: the chat is changed before the page draws it, so a
    press costs one page run) and Stop (its rerun ends the reply being written)."""
    b1, b2, b3, b4 = st.columns(4)
    b1.button(
        "Regenerate",
        key="chat_regen",
        disabled=not history,
        help="A new random seed",
        on_click=drop_reply,
        args=(history,),
    )
    b2.button(
        "Undo last turn", key="chat_undo", disabled=not history, on_click=undo_turn, args=(history,)
    )
    b3.button("Clear", key="chat_clear", on_click=history.clear)
    b4.button("Stop", key="chat_stop", help="Ends the reply being written; keeps its text.")


def input_ui(lm, settings, history: list[dict]) -> bool:
    """The message box; True when a new user turn was added to `history`. A message that
    would be cut to fit waits for "Send anyway"."""
    text = st.chat_input("Message the model", key="chat_input")
    if text is not None and textgen.is_blank(text):
        st.warning("Type something first: an empty message has nothing to answer.")
    elif text is not None:
        st.session_state[PENDING] = textgen.clean(text)
    if st.session_state.get(PENDING) is None:
        return False
    turn = {"role": "user", "content": st.session_state[PENDING]}
    if isinstance(lm, serving.Endpoint):  # the server fits the prompt to its own window
        prompt = None
    else:
        prompt = textgen.build_prompt(lm, [*textgen.turns(history), turn], settings)
    if prompt is None or not prompt.truncated or st.session_state.pop(SEND_ANYWAY, False):
        history.append(turn | {"content": st.session_state.pop(PENDING)})
        return True
    st.warning(
        f"Too long for this model: the first {prompt.cut_tokens:,} tokens of your message "
        f"would be cut off to fit its {lm.context:,}-token window with "
        f"{settings.max_new_tokens} new tokens. Shorten it, lower Max new tokens, or send it."
    )
    c1, c2, _ = st.columns([1, 1, 3])
    if c1.button("Send anyway", key="chat_send_cut"):
        st.session_state[SEND_ANYWAY] = True
        st.rerun()
    if c2.button("Cancel", key="chat_cancel"):
        st.session_state.pop(PENDING)
        st.rerun()
    return False


def conversation_ui(source, settings, history: list[dict], usd_per_hour: float, card) -> None:
    """The chat with `source` (a local model or an Endpoint): the messages, a new turn streamed
    below them, then the buttons, the window meter and the exports - drawn after the turn, so
    a message costs one page run and nothing on the page is stale once it ends."""
    messages_ui(history, usd_per_hour)
    turn, controls = st.container(), st.container()
    sent = input_ui(source, settings, history)
    regenerate = st.session_state.pop(REGENERATE, False) and history
    if sent or regenerate:
        with turn:
            if sent:
                with st.chat_message("user"):
                    st.text(history[-1]["content"])
            # each Regenerate samples anew; the seed is recorded with the reply
            fresh = replace(settings, seed=textgen.fresh_seed()) if regenerate else settings
            respond(source, fresh, history, usd_per_hour)
    with controls:
        chat_buttons_ui(history)
        if not isinstance(source, serving.Endpoint):
            meter(source, settings, history)
        if history:
            export_ui(card(), history, usd_per_hour)


def export_ui(card: dict, history: list[dict], usd_per_hour: float) -> None:
    """Exports, and "Save this chat" into the run store (a failure loses nothing)."""
    c1, c2, c3 = st.columns(3)
    chat_json = textgen.transcript_json(card, history)
    c1.download_button("Export JSON", chat_json, "chat.json", key="chat_json")
    md = textgen.transcript_markdown(card, history, usd_per_hour)
    c2.download_button("Export Markdown", md, "chat.md", key="chat_md")
    if not c3.button("Save this chat", key="chat_save", help="Record it as a run (Runs page)"):
        return
    try:
        run_id = textgen.save_chat(card, history, usd_per_hour)
    except textgen.NotRecorded as err:
        st.error(f"The chat was not saved: {err} It is still here; export it instead.")
        return
    st.success(f"Saved as run {run_id}: find it on the Runs page.")


def fast_ui(lm: textgen.LoadedModel, device: str) -> textgen.LoadedModel:
    """The fast generation path (on by default where it pays); says when it lowers precision."""
    help_ = (
        "CPU: fp16 weights, half the bytes each new token reads (on by default for "
        "models of 5M parameters and more). CUDA: half precision and a static KV cache, "
        "compiled on first use."
    )
    if not st.toggle(
        "Fast generation",
        textgen.fast_path_pays(device, lm.parameters),
        key="chat_fast",
        help=help_,
    ):
        return lm
    fast = textgen.fast_variant(lm)
    note = " - replies may differ slightly from full precision" if fast.lowered_precision else ""
    st.caption(f"Fast path: {fast.fast or 'nothing faster on this device'}{note}.")
    return fast


def prompt_settings_ui(context: int) -> textgen.Settings:
    """Mode, system prompt and sampling settings for a `context`-token window."""
    c1, c2 = st.columns([1, 3])
    mode = c1.radio("Mode", ["chat", "completion"], key="chat_mode", horizontal=True)
    system = c2.text_input("System prompt (optional)", key="chat_system")
    return settings_ui("chat", context, mode, system)


def serve_it_ui(lm: textgen.LoadedModel) -> None:
    """'Serve it' for a model loaded from a folder: an OpenAI-compatible server for it."""
    if not Path(lm.name).is_dir():
        return
    with st.expander("Serve it (OpenAI-compatible server)"):
        served = ui_serving.serve_panel_ui("chat_serve", lm.name)
        if served is not None:
            st.info(
                f"Pick '{SERVER}' above and use {served.base_url} with the model {served.model}."
            )


def server_card(endpoint: serving.Endpoint, settings: textgen.Settings) -> dict:
    """What produced a chat with a server: model, server host and settings (no key)."""
    card = {"model": endpoint.model, "server": endpoint.host}
    return card | {"settings": textgen.settings_record(settings)}


def server_chat_ui(history: list[dict]) -> tuple[serving.Endpoint | None, float]:
    """The chat with an OpenAI-compatible server; returns the server and its USD per hour."""
    endpoint = ui_serving.server_source_ui("chat_server")
    price = st.number_input(
        "Server GPU price (USD per hour)", 0.0, 1_000.0, 2.0, 0.1, key="chat_server_price"
    )
    settings = prompt_settings_ui(SERVER_WINDOW)
    if endpoint is None:
        messages_ui(history, price)
        return None, price
    card = lambda: server_card(endpoint, settings)  # noqa: E731
    conversation_ui(endpoint, settings, history, price, card)
    return endpoint, price


def local_chat_ui(device: str, usd_per_hour: float, history: list[dict]):
    """The chat with a model loaded into this process; returns it (None until loaded)."""
    lm = model_ui(MODEL, device)
    lm = fast_ui(lm, device) if lm is not None else None
    settings = prompt_settings_ui(lm.context if lm else 1024)
    if lm is None:
        messages_ui(history, usd_per_hour)
        return None
    card = lambda: textgen.run_card(lm, settings, device)  # noqa: E731
    conversation_ui(lm, settings, history, usd_per_hour, card)
    serve_it_ui(lm)
    return lm


def chat_tab(device: str, usd_per_hour: float):
    """(local model or None, server Endpoint or None, the server's USD per hour)."""
    history = st.session_state.setdefault(CHAT, [])
    source = st.radio("Model source", [LOCAL, SERVER], key="chat_source", horizontal=True)
    if source == SERVER:
        return None, *server_chat_ui(history)
    return local_chat_ui(device, usd_per_hour, history), None, 0.0


def load_tab(endpoint: serving.Endpoint | None, gpu_price: float, device: str) -> None:
    """Measure the chosen server under load (its throughput can feed the Business case)."""
    if endpoint is None:
        st.info(f"Pick '{SERVER}' and a model on the Chat tab to measure it here.")
        return
    st.caption(f"Measuring {endpoint.model} at {endpoint.base_url}, at ${gpu_price:,.2f}/hour.")
    ui_serving.load_test_ui("chat_load", endpoint, gpu_price, device=device)


def side_outputs_ui(cols, outputs: list[dict], sides: list, usd_per_hour: float) -> None:
    """The last outputs, kept when a setting changes (marked when they differ from it)."""
    for col, out, s in zip(cols, outputs, sides, strict=False):
        col.text(out["content"])
        stats_caption(col, out, usd_per_hour)
        if out["settings"] != textgen.settings_record(s):
            col.caption("Made with earlier settings: press Generate both to refresh.")


def side_tab(lm, device: str, usd_per_hour: float) -> None:
    if lm is None:
        st.info("Load a model on the Chat tab first.")
        return
    two = st.toggle("Compare two models", key="side_two", help="Off: two settings, one model.")
    models = (lm, model_ui("side_model_b", device, "Model B") if two else lm)
    prompt_text = st.text_area("One prompt for both", "Once upon a time", key="side_prompt")
    cols, sides = st.columns(2), []
    for col, name, model, temp in zip(cols, "AB", models, (0.0, 1.0), strict=True):
        with col:  # A starts greedy, B sampling: two settings worth comparing
            st.markdown(f"**{name}: {model.name if model else 'no model loaded'}**")
            ctx = model.context if model else 1024
            sides.append(settings_ui(f"side{name}", ctx, "completion", "", temp, columns=True))
    if not st.button("Generate both", key="side_go", type="primary", disabled=models[1] is None):
        side_outputs_ui(cols, st.session_state.get(SIDE, []), sides, usd_per_hour)
        return
    if textgen.is_blank(prompt_text):
        st.warning("Type a prompt first.")
        return
    outputs = []  # one after the other: a shared model serves one generation at a time
    for col, s, model in zip(cols, sides, models, strict=True):
        try:
            p = textgen.build_prompt(model, [{"role": "user", "content": prompt_text}], s)
        except ValueError as err:
            col.error(str(err))
            continue
        outputs.append(stream_into(model, p, s, col, usd_per_hour))
    st.session_state[SIDE] = outputs


def training_live(job) -> None:
    """Loss curves and the latest sample while the model trains."""
    rows = job.metrics()
    if rows:
        lines = {"train_loss": "train", "val_loss": "validation"}
        ui.live_lines_ui(rows, "step", lines, "Loss")
        st.caption("Latest sample:")
        st.text(rows[-1]["sample"])


def corpus_ui() -> tuple[str | None, bool]:
    """The training text (None until a usable one is given), and whether it is built in."""
    builtin = "Built in (scikit-learn's data set descriptions, 43 KB)"
    if st.radio("Text", [builtin, "Upload a .txt or .md file"], key="gpt_corpus") == builtin:
        return textgen.builtin_corpus(), True
    up = st.file_uploader("Text file", type=["txt", "md"], key="gpt_upload")
    data = None if up is None else ui.upload_bytes(up)  # None: over the session's cap
    try:
        return (None if data is None else textgen.read_corpus(data)), False
    except ValueError as err:
        st.error(str(err))
        return None, False


def train_config_ui() -> textgen.TinyGPTConfig | None:
    """The model and training settings; None (with the reason shown) when they cannot run."""
    c1, c2, c3, c4 = st.columns(4)
    try:
        cfg = textgen.TinyGPTConfig(
            name=c1.text_input("Model name", "my-gpt2", key="gpt_name").strip(),
            layers=c1.slider("Layers", 1, 8, 2, key="gpt_layers"),
            width=c2.select_slider("Width", [64, 128, 192, 256, 384], 128, key="gpt_width"),
            heads=c2.select_slider("Heads", [1, 2, 4, 8], 4, key="gpt_heads"),
            context=c3.select_slider("Context (tokens)", [32, 64, 96, 128, 256], 96, key="gpt_ctx"),
            vocab_size=c3.select_slider(
                "Vocabulary", [512, 1024, 2048, 4096], 1024, key="gpt_vocab"
            ),
            steps=c4.number_input("Steps", 10, 20_000, 300, 10, key="gpt_steps"),
            lr=c4.number_input("Learning rate", 1e-5, 1e-1, 3e-3, format="%.0e", key="gpt_lr"),
            batch_size=16,
        )
    except ValueError as err:
        st.error(str(err))
        return None
    if textgen.model_exists(cfg.name) and not st.checkbox(
        f"Replace the saved {cfg.name}", key="gpt_overwrite"
    ):
        st.warning(
            f"A model named {cfg.name} exists: training would overwrite it. Rename it or tick."
        )
        return None
    return cfg


def train_results_ui(job) -> None:
    rows = job.metrics()
    if rows:
        st.plotly_chart(charts.loss_by_step(rows), key="gpt_curve")
        st.caption(f"Sample after step {rows[-1]['step']}:")
        st.text(rows[-1]["sample"])
    saved = "Stopped; saved" if job.status == "stopped" else "Saved"
    st.success(f"{saved} to {job.result.folder}. Pick it in the model picker on the Chat tab.")
    if job.result.run_id:
        st.caption(f"Recorded as run {job.result.run_id} (Runs page).")
    else:
        st.warning(f"The training was not recorded: {job.result.not_recorded}")


def train_tab(device: str) -> None:
    st.markdown(
        "Train a byte-level BPE tokenizer and a small GPT-2 on text - no network needed. "
        f"It is saved in `{textgen.models_dir()}` and appears in the model picker."
    )
    (corpus, builtin), cfg = corpus_ui(), train_config_ui()
    if cfg is not None:  # the uploaded text's path on the workers is typed in the panel
        run_config = train.gpt2_run_config(cfg, None if builtin else "")
        cluster.run_elsewhere_ui("gpt2", run_config, key="gpt_elsewhere")
    job = ui.job_of(TRAIN_JOB)
    if ui.job_buttons_ui(job, TRAIN_JOB, "Train", disabled=corpus is None or cfg is None):
        target = lambda ctx: textgen.train_and_record(corpus, cfg, device, ctx)  # noqa: E731
        if ui.submit_job(
            TRAIN_JOB, target, "train gpt2", tool="gpt2", device=device, meta={"config": cfg}
        ):
            st.rerun()
    if job is not None and job.active:
        ui.job_progress_ui(TRAIN_JOB, draw=training_live, every=2.0)
    elif job is not None and not ui.job_failed_ui(job, "Training"):
        train_results_ui(job)


ui.require_navigation()
st.title("Chat with GPT-2")
st.caption(
    "Type and a language model answers, live, on this machine - with what each reply cost "
    "and how sure the model was of every token."
)
device = ui.session_device()
price, _ = costs.hardware_rate(device, dev.probe_hardware().gpu_name, dev.cpu_threads())
tab_chat, tab_side, tab_train, tab_load = st.tabs(
    ["Chat", "Side by side", "Train your own GPT-2", "Load test"]
)
with tab_chat:
    loaded, server, server_price = chat_tab(device, price)
with tab_side:
    side_tab(loaded, device, price)
with tab_train:
    train_tab(device)
with tab_load:
    load_tab(server, server_price, device)
