"""Causal language models: load (hub id or local folder), build a chat prompt that fits the
window, stream a reply token by token with stats and probabilities, and train a small GPT-2.

One loaded model serves every session (see `core.cache.causal_lm`); generation on it holds
`LoadedModel.lock`, because two threads calling `generate` on one model can corrupt each
other (transformers #32217); replies queue for it as `core.jobs` jobs in the device's reply
lane, in order and with their place shown. `generate` runs in a worker that always ends the stream
with an 'end' or 'error' event, so a failure shows in the page instead of hanging it
(transformers #27927). Stop is an Event checked by a StoppingCriteria at every token.
"""

from __future__ import annotations

import contextlib
import json
import math
import queue
import random
import re
import socket
import threading
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch

from core import device as dev
from core import limits, paths, units
from core.distributed import TrainHooks
from core.economics import costs
from core.runs.types import RunRecord

SUGGESTED = ("gpt2", "distilgpt2", "gpt2-medium")
PLAIN_STOPS = ("\nUser:", "\nSystem:")  # a base model's next turn starts here
# The User:/Assistant: transcript as a chat template, saved with the models trained here so
# servers (`transformers serve`'s /v1/chat/completions) can chat with them.
TRANSCRIPT_TEMPLATE = (
    "{%- set names = {'user': 'User', 'assistant': 'Assistant', 'system': 'System'} -%}"
    "{%- for m in messages -%}"
    "{%- if not loop.first %}{{ '\\n' }}{% endif -%}"
    "{{ names[m['role']] }}: {{ m['content'] }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt %}{{ '\\nAssistant:' }}{% endif -%}"
)


class ModelLoadError(ValueError):
    """A model that cannot be loaded, with what to do about it."""


def models_dir() -> Path:
    """Trained and hand-copied models: $DASHBOARD_MODELS or $DASHBOARD_HOME/models."""
    return paths.models_dir()


def local_models() -> list[str]:
    """Folders under models_dir() that hold a saved model (config.json)."""
    root = models_dir()
    if not root.is_dir():
        return []
    return sorted(str(p.parent) for p in root.glob("*/config.json"))


def model_label(source: str) -> str:
    """How the picker names a model: a local folder by its name, size (MB) and date."""
    folder = Path(source)
    if not (folder / "config.json").is_file():
        return source
    stamp = time.strftime(
        "%Y-%m-%d %H:%M", time.localtime((folder / "config.json").stat().st_mtime)
    )
    return f"{folder.name} - {_folder_bytes(folder) / 1e6:,.1f} MB, {stamp}"


def model_exists(name: str) -> bool:
    """Whether a trained model called `name` is already saved (training would replace it)."""
    return (models_dir() / name / "config.json").is_file()


HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,95})?$")


def check_source(source: str) -> Path | str:
    """A model folder (Path) or a hub id (str); ModelLoadError saying why it is neither."""
    source = source.strip()
    if not source:
        raise ModelLoadError("Type a Hugging Face model id (e.g. gpt2) or pick a local folder.")
    if "://" in source:
        raise ModelLoadError(
            f"{source!r} is a web address, not a model: type a hub id such as gpt2 or "
            "openai-community/gpt2, or a folder on this machine."
        )
    folder = Path(source).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise ModelLoadError(
                f"{source} is not a model folder: it has no config.json. Pick the folder "
                "that save_pretrained wrote (config.json, weights and tokenizer files)."
            )
        return folder
    if not HUB_ID.match(source) or ".." in source:
        raise ModelLoadError(
            f"No folder {source!r} exists here, and it is not a hub id (those look like "
            "gpt2 or org/name)."
        )
    return source


@dataclass
class LoadedModel:
    """A model, its tokenizer and the lock that serialises generation on it."""

    name: str  # hub id or folder
    model: object  # a transformers PreTrainedModel, eval mode, on `device`
    tokenizer: object
    device: str
    context: int  # tokens the model can attend to
    parameters: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    fast: str = ""  # what the fast path changed ("" for the model as loaded)
    static_cache: bool = False  # generate with a static KV cache (the CUDA fast path)
    _fast_copy: LoadedModel | None = field(default=None, init=False, repr=False)

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    @property
    def lowered_precision(self) -> bool:
        """The fast path runs this model in lower precision than it was loaded in."""
        return "precision lowered" in self.fast


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


FAST_CPU_MIN_PARAMS = 5_000_000  # fp16 decoding measured 1.1x at 1.3M parameters, 1.8x at 5.3M


def fast_path_pays(device: str, parameters: int = 124_000_000) -> bool:
    """Whether the fast path is worth turning on by default for a model of `parameters` on
    `device`: on CUDA (half precision, static cache), and on CPUs for models big enough that
    reading weights, not Python, is the cost (fp16 weights: half the bytes each generated
    token reads)."""
    if device == "cuda":
        return True
    return device == "cpu" and parameters >= FAST_CPU_MIN_PARAMS


_fast_lock = threading.Lock()


def _sharing_copy(model):
    """A copy of `model`'s module tree that shares every weight with it (no memory copied)."""
    import copy

    memo = {id(t): t for t in [*model.parameters(), *model.buffers()]}
    return copy.deepcopy(model, memo)


def fast_variant(lm: LoadedModel) -> LoadedModel:
    """The fast path of `lm`, built once and shared, generating under `lm`'s lock: on CPU
    fp16 weights (core.text.quant: decode is memory-bound, and fp16 reads half of fp32's bytes;
    prompts still run in fp32); on CUDA half-precision weights with a static KV cache (which
    transformers compiles). Elsewhere, or for a CPU model not in fp32, `lm` itself."""
    import copy

    from core.text import quant

    if lm.device not in ("cpu", "cuda") or lm.fast:
        return lm
    if lm.device == "cpu" and lm.model.dtype != torch.float32:
        return lm
    with _fast_lock:
        if lm._fast_copy is None:
            if lm.device == "cpu":
                model = quant.half_linears(_sharing_copy(lm.model)).eval()
                fast = "fp16 weights (precision lowered)"
            elif lm.model.dtype == torch.float32:  # GPUs load in half precision already
                # a real copy: .to() on shared parameters would convert the loaded model too
                model = copy.deepcopy(lm.model).to(torch.bfloat16).eval()
                fast = "bf16 weights (precision lowered), static KV cache, compiled"
            else:
                model, fast = lm.model, "static KV cache, compiled"
            lm._fast_copy = replace(lm, model=model, fast=fast, static_cache=lm.device == "cuda")
    return lm._fast_copy


def hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    """Whether the model hub answers at all (a quick check before a slow, retrying download)."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


WEIGHT_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken", "tokenizer*"]


def needs_download(source: str) -> bool:
    """True for a hub id that is neither a local folder nor in the local hub cache."""
    from transformers import AutoConfig

    try:
        if isinstance(check_source(source), Path):
            return False
    except ModelLoadError:
        return False  # loading explains what is wrong with it
    try:
        AutoConfig.from_pretrained(source, local_files_only=True)
        return False
    except (OSError, ValueError):
        return True


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.is_dir() else 0


def download_model(repo_id: str, ctx=None) -> str:
    """Fetch a hub model's config, tokenizer and safetensors weights into the local hub
    cache, reporting bytes against the repository's listed sizes; returns the local path.
    huggingface_hub offers no way to interrupt a download; what arrived stays in the cache
    and a second attempt resumes from it."""
    from huggingface_hub import HfApi, constants, snapshot_download

    if not hub_reachable():
        raise ModelLoadError(f"Cannot download {repo_id!r}: there is no network.")
    info = HfApi().model_info(repo_id, files_metadata=True)
    names = [s.rfilename for s in info.siblings]
    patterns = WEIGHT_PATTERNS + (
        [] if any(n.endswith(".safetensors") for n in names) else ["*.bin"]
    )
    total = sum(
        s.size or 0 for s in info.siblings if any(Path(s.rfilename).match(p) for p in patterns)
    )
    blobs = Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}" / "blobs"
    before, finished = _folder_bytes(blobs), threading.Event()

    def watch() -> None:
        while not finished.wait(0.5):
            got = _folder_bytes(blobs) - before
            if ctx is not None:
                ctx.report(
                    got / total if total else 0.0, f"{got / 2**20:,.0f} of {total / 2**20:,.0f} MiB"
                )

    threading.Thread(target=watch, daemon=True).start()
    try:
        return snapshot_download(repo_id, allow_patterns=patterns)
    finally:
        finished.set()


def load_model(source: str, device: str) -> LoadedModel:
    """A causal LM from a local folder (save_pretrained layout) or a hub id (the local hub
    cache first, then a download). Never runs remote code. Half precision on GPUs."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = source.strip()
    checked = check_source(source)
    kwargs = {"trust_remote_code": False}
    if isinstance(checked, Path):
        path, kwargs["local_files_only"] = str(checked), True
    else:
        path = source
        try:
            AutoTokenizer.from_pretrained(path, local_files_only=True)
            kwargs["local_files_only"] = True
        except (OSError, ValueError):
            if not hub_reachable():
                raise ModelLoadError(
                    f"Cannot load {source!r}: there is no network and no cached copy. On a "
                    f"machine with a network run `huggingface-cli download {source}` (or "
                    f"save_pretrained) and copy the folder into {models_dir()}; or train your "
                    "own small GPT-2 on the Train tab - it needs no network."
                ) from None
    dtype = dev.preferred_dtype(device) if device != "cpu" else torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kwargs)
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"Cannot load {source!r}: {err}") from None
    model = model.to(device).eval()
    context = _context_length(model.config, tokenizer)
    n = sum(p.numel() for p in model.parameters())
    return LoadedModel(
        name=source, model=model, tokenizer=tokenizer, device=device, context=context, parameters=n
    )


def _context_length(config, tokenizer) -> int:
    for attr in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", 2048)
    return limit if limit < 1_000_000 else 2048


# ---- prompts ------------------------------------------------------------------------------


def default_max_new_tokens(context: int) -> int:
    """Max new tokens that leave most of a `context`-token window to the conversation: a
    third of it, at most 120."""
    return max(1, min(120, context // 3))


def max_new_tokens_cap(context: int) -> int:
    """The most new tokens a `context`-token window allows while keeping room for a prompt."""
    return max(1, min(1024, context - 8))


def fresh_seed() -> int:
    """A new random seed (recorded with a reply so it can be reproduced)."""
    return random.SystemRandom().randrange(2**31)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Sampling and prompt settings for one reply."""

    temperature: float = 0.8  # 0 = greedy
    top_k: int = 50  # 0 = off
    top_p: float = 0.95  # 1 = off
    repetition_penalty: float = 1.1  # 1 = off
    max_new_tokens: int = 120
    seed: int = 0
    stop: tuple[str, ...] = ()  # extra stop sequences
    mode: str = "chat"  # chat or completion
    system: str = ""  # optional system prompt (chat)

    def __post_init__(self) -> None:
        if not (0 <= self.temperature <= 5 and math.isfinite(self.temperature)):
            raise ValueError(f"Temperature must be 0-5, got {self.temperature}.")
        if not (0 < self.top_p <= 1) or self.top_k < 0 or not (0.5 <= self.repetition_penalty <= 3):
            raise ValueError("top-p must be in (0, 1], top-k >= 0, repetition penalty 0.5-3.")
        if not 1 <= self.max_new_tokens <= 4096:
            raise ValueError(f"Max new tokens must be 1-4,096, got {self.max_new_tokens}.")
        if self.mode not in ("chat", "completion"):
            raise ValueError(f"Mode must be chat or completion, got {self.mode!r}.")


@dataclass(frozen=True, kw_only=True)
class Prompt:
    """The token ids sent to the model and how the history was cut to fit."""

    ids: list[int]
    text: str  # as the model sees it
    budget: int  # prompt tokens allowed: window - max new tokens
    dropped_turns: int  # oldest turns left out
    cut_tokens: int = 0  # tokens cut from the left of the newest message (0 = it fits)

    @property
    def truncated(self) -> bool:
        """The newest message itself was cut from the left."""
        return self.cut_tokens > 0


def clean(text: str) -> str:
    """Text with control characters (other than newline and tab) removed."""
    return "".join(c for c in text if c in "\n\t" or (ord(c) >= 32 and ord(c) != 127))


BLANK_LOOKING = set("\u115f\u1160\u2800\u3164\uffa0")  # fillers that draw nothing


def is_blank(text: str) -> bool:
    """True when `text` shows nothing: spaces, control, zero-width and format characters."""
    return all(
        c.isspace() or c in BLANK_LOOKING or unicodedata.category(c) in ("Cc", "Cf", "Zs")
        for c in text
    )


def markdown_literal(text: str) -> str:
    """Markdown that shows `text` literally: punctuation escaped (so no HTML, links or
    formatting), leading spaces kept as no-break spaces (so no code blocks), hard breaks."""
    escaped = re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~^$:=&\"'])", r"\\\1", text)
    lines = [
        "\u00a0" * (len(line) - len(line.lstrip(" \t"))) + line.lstrip(" \t")
        for line in escaped.split("\n")
    ]
    return "  \n".join(lines) or " "


def _plain_transcript(messages: list[dict], system: str) -> str:
    names = {"user": "User", "assistant": "Assistant", "system": "System"}
    lines = [f"System: {system}"] if system else []
    lines += [f"{names[m['role']]}: {m['content']}" for m in messages]
    return "\n".join(lines) + "\nAssistant:"


def _render(lm: LoadedModel, messages: list[dict], settings: Settings) -> str:
    if settings.mode == "completion":
        return "".join(m["content"] for m in messages if m["role"] == "user")[-200_000:]
    if lm.has_chat_template:
        full = (
            [{"role": "system", "content": settings.system}] if settings.system else []
        ) + messages
        return lm.tokenizer.apply_chat_template(full, tokenize=False, add_generation_prompt=True)
    return _plain_transcript(messages, settings.system)


def build_prompt(lm: LoadedModel, history: list[dict], settings: Settings) -> Prompt:
    """The newest turns that fit in the window minus max new tokens; if even the last
    message alone does not fit, its oldest tokens go (cut from the left)."""
    budget = lm.context - settings.max_new_tokens
    if budget < 1:
        raise ValueError(
            f"Max new tokens ({settings.max_new_tokens}) leaves no room in this model's "
            f"{lm.context}-token window; lower it."
        )
    history = [{"role": m["role"], "content": clean(m["content"])} for m in history]
    if settings.mode == "completion":
        history = history[-1:]
    if not history:
        raise ValueError("Nothing to answer: the conversation is empty.")

    def encode(start: int) -> tuple[str, list[int]]:
        text = _render(lm, history[start:], settings)
        return text, lm.tokenizer(text, add_special_tokens=False)["input_ids"]

    # Fewer turns never take more tokens, so bisect for the first start that fits.
    low, high = 0, len(history) - 1
    while low < high:
        mid = (low + high) // 2
        if len(encode(mid)[1]) <= budget:
            high = mid
        else:
            low = mid + 1
    text, ids = encode(low)
    if not ids:  # e.g. an empty completion prompt: generate() needs at least one token
        raise ValueError("Nothing to answer: the prompt is empty.")
    if len(ids) <= budget:
        return Prompt(ids=ids, text=text, budget=budget, dropped_turns=low)
    cut = len(ids) - budget
    ids = ids[-budget:]
    return Prompt(
        ids=ids,
        text=lm.tokenizer.decode(ids),
        budget=budget,
        dropped_turns=len(history) - 1,
        cut_tokens=cut,
    )


# ---- streaming ----------------------------------------------------------------------------


@dataclass
class TokenInfo:
    """One generated token and what else the model considered."""

    text: str
    probability: float  # under the model's own distribution (before sampling filters)
    alternatives: list[tuple[str, float]]  # top 5 (token text, probability)

    def as_dict(self) -> dict:
        """As JSON-able values (what a chat message keeps)."""
        return {"text": self.text, "probability": self.probability} | {
            "alternatives": list(self.alternatives)
        }


@dataclass
class Reply:
    """A finished (or stopped) reply with its measurements."""

    text: str = ""
    prompt_tokens: int = 0
    new_tokens: int = 0
    ttft_s: float = math.nan  # seconds from the call to the first new token
    seconds: float = 0.0  # total generation time
    stopped: bool = False  # Stop pressed
    waited_s: float = 0.0  # seconds queued behind other replies on this device
    tokens: list[TokenInfo] = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float:
        """Generated tokens per second after the first one (decode speed)."""
        decode = self.seconds - self.ttft_s
        return (self.new_tokens - 1) / decode if self.new_tokens > 1 and decode > 0 else math.nan

    def stats(self) -> dict:
        """The measurements as plain values (the per-token details are left out)."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "tokens"}
        return values | {"tokens_per_s": self.tokens_per_s}


class _QueueStreamer:
    """A transformers streamer that forwards each new token id to a queue."""

    def __init__(self, q: queue.Queue):
        self.q, self.prompt_seen = q, False

    def put(self, value) -> None:
        if not self.prompt_seen:  # generate() sends the prompt first
            self.prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            self.q.put(("token", token, time.perf_counter()))

    def end(self) -> None:
        pass


def _stops(lm: LoadedModel, s: Settings) -> list[str]:
    """The user's stop sequences, plus the next-turn markers for a transcript-style chat."""
    template = getattr(lm.tokenizer, "chat_template", None)
    plain = s.mode == "chat" and template in (None, "", TRANSCRIPT_TEMPLATE)
    return list(s.stop) + (list(PLAIN_STOPS) if plain else [])


def _generate_kwargs(lm: LoadedModel, prompt: Prompt, s: Settings, halt) -> dict:
    """generate()'s arguments for `prompt`; `halt()` True ends it at the next token."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    class OnEvent(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full(
                (input_ids.shape[0],), halt(), dtype=torch.bool, device=input_ids.device
            )

    ids = torch.tensor([prompt.ids], device=lm.device)
    tok = lm.tokenizer
    stops = _stops(lm, s)
    kwargs = dict(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=s.max_new_tokens,
        pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
        stopping_criteria=StoppingCriteriaList([OnEvent()]),
        return_dict_in_generate=True,
        output_logits=True,
        repetition_penalty=s.repetition_penalty,
    )
    if s.temperature > 0:
        kwargs |= dict(
            do_sample=True, temperature=s.temperature, top_k=s.top_k or None, top_p=s.top_p
        )
    else:
        kwargs |= dict(do_sample=False, temperature=None, top_k=None, top_p=None)
    if stops:
        kwargs |= dict(stop_strings=stops, tokenizer=tok)
    if lm.static_cache:
        kwargs["cache_implementation"] = "static"
    return kwargs


SMALL_MODEL_PARAMS = 50_000_000  # below this a reply decodes on one CPU thread (see below)
WAITING_POLL_S = 0.25  # how often a queued reply reports its place


def generation_threads(lm: LoadedModel) -> int:
    """CPU threads for one reply on `lm`: one for a model under SMALL_MODEL_PARAMS, where a
    second thread decoded at most 1 % faster yet spent twice the CPU time (OpenMP's idle
    spinning; measured on GPT-2s of 0.07M-16M parameters, 2 cores), which on a shared server
    is CPU another session waits for; all of them for bigger models, which they speed up."""
    if lm.device == "cpu" and lm.parameters < SMALL_MODEL_PARAMS:
        return 1
    return dev.cpu_threads()


def _generate_job(lm: LoadedModel, prompt: Prompt, s: Settings, stop: threading.Event, q):
    """The queued work of one reply: generate under the model's lock, every event to `q`."""

    def work(ctx) -> None:
        try:
            with lm.lock:  # one generation per model at a time (transformers #32217)
                q.put(("started", None, time.perf_counter()))
                with dev.torch_threads(generation_threads(lm)), torch.inference_mode():
                    torch.manual_seed(s.seed)
                    halt = lambda: stop.is_set() or ctx.should_stop()  # noqa: E731
                    kwargs = _generate_kwargs(lm, prompt, s, halt)
                    out = lm.model.generate(streamer=_QueueStreamer(q), **kwargs)
            q.put(("done", out, time.perf_counter()))
        except Exception as err:  # shown in the page; the stream always ends
            q.put(("error", f"{type(err).__name__}: {err}", 0.0))

    return work


def stream_reply(
    lm: LoadedModel, prompt: Prompt, settings: Settings, stop: threading.Event, timeout: float = 120
) -> Iterator[tuple[str, object]]:
    """Events while a queued worker generates: ('waiting', place in the queue) while other
    replies on this device go first (again each time the place changes), ('text', reply so
    far) as tokens arrive, then ('end', Reply) or ('error', message). The reply is a
    `core.jobs` job in the device's reply lane (so it waits its turn in order, and the Runs
    page's Stop reaches it). Closing the iterator early (the page was interrupted) sets
    `stop`; a reply still waiting then leaves the queue."""
    from core import jobs

    q: queue.Queue = queue.Queue()
    t_call = time.perf_counter()
    job = jobs.submit(
        _generate_job(lm, prompt, settings, stop, q),
        f"reply on {Path(lm.name).name or lm.name}",
        tool="chat",
        device=jobs.reply_lane(lm.device),
        meta={"uses": (lm,)},
        keep=False,
    )
    reply, ids, t_start, idle_s = Reply(prompt_tokens=len(prompt.ids)), [], t_call, 0.0
    place = None  # the last place reported: a page redraws only when it changes
    try:
        while True:
            try:
                kind, payload, at = q.get(timeout=WAITING_POLL_S)
            except queue.Empty:
                if job.queued:
                    if job.position != place:
                        place = job.position
                        yield "waiting", place or 1
                    continue
                if not job.active:  # cancelled while queued (Runs page) or ended silently
                    yield "error", "The reply was cancelled before it started."
                    return
                idle_s += WAITING_POLL_S
                if idle_s >= timeout:
                    yield "error", f"No token for {timeout:.0f} s; generation was abandoned."
                    return
                continue
            idle_s = 0.0
            if kind == "started":
                reply.waited_s, t_start = at - t_call, at
            elif kind == "token":
                if not ids:
                    reply.ttft_s = at - t_start
                ids.append(payload)
                if q.empty():  # decode only when caught up, not once per queued token
                    reply.text = lm.tokenizer.decode(ids, skip_special_tokens=True)
                    yield "text", reply.text
            elif kind == "error":
                yield "error", payload
                return
            else:
                reply.seconds = at - t_start
                stopped = stop.is_set() or job.stop_requested
                _finish(lm, reply, payload, len(prompt.ids), settings, stopped)
                yield "end", reply
                return
    finally:
        stop.set()  # an interrupted page stops the worker within a token
        job.stop()  # and a reply still queued leaves the queue


def _finish(lm: LoadedModel, reply: Reply, out, n_prompt: int, s: Settings, stopped: bool) -> None:
    """Trim stop strings, count tokens, attach per-token probabilities."""
    tok = lm.tokenizer
    new = out.sequences[0, n_prompt:].tolist()
    if tok.eos_token_id is not None and new and new[-1] == tok.eos_token_id:
        new = new[:-1]
    reply.new_tokens, reply.stopped = len(new), stopped
    text = tok.decode(new, skip_special_tokens=True)
    stops = _stops(lm, s)
    cut = min((text.find(x) for x in stops if x and x in text), default=-1)
    reply.text = (text[:cut] if cut >= 0 else text).strip() if s.mode == "chat" else text
    if not new:
        return
    # one softmax and one top-k for the whole reply, not one per token
    probs = torch.cat([step[:1] for step in out.logits[: len(new)]]).float().softmax(-1)
    chosen = probs.gather(1, torch.tensor(new, device=probs.device)[:, None])[:, 0].tolist()
    top_p, top_i = (t.tolist() for t in probs.topk(5, dim=-1))
    text_of = {j: tok.decode([j]) for j in set(new).union(*top_i)}
    for k, token in enumerate(new):
        alternatives = [(text_of[j], q) for q, j in zip(top_p[k], top_i[k], strict=True)]
        reply.tokens.append(TokenInfo(text_of[token], chosen[k], alternatives))


# ---- chat messages -----------------------------------------------------------------------

REDRAW_EVERY_S = 0.05  # the page redraws a streaming reply at most 20 times a second


def parse_stops(raw: str) -> tuple[str, ...]:
    """'a, b,,c' -> ('a', 'b', 'c'): comma-separated stop sequences."""
    return tuple(s for s in (x.strip() for x in raw.split(",")) if s)


def settings_record(settings: Settings) -> dict:
    """The settings as plain JSON-able values (kept with each reply)."""
    return asdict(settings) | {"stop": list(settings.stop)}


def turns(history: list[dict]) -> list[dict]:
    """Chat messages reduced to role and content (what a prompt is built from)."""
    return [{"role": m["role"], "content": m["content"]} for m in history]


def reply_message(settings: Settings) -> dict:
    """An empty assistant message for a reply about to stream with `settings`."""
    return {"role": "assistant", "content": "", "stats": None, "tokens": []} | {
        "settings": settings_record(settings)
    }


def chat_events(
    lm: LoadedModel,
    prompt: Prompt,
    settings: Settings,
    message: dict,
    every: float = REDRAW_EVERY_S,
    clock=time.monotonic,
    events: Iterator[tuple[str, object]] | None = None,
) -> Iterator[tuple[str, object]]:
    """Stream a reply into `message` (from reply_message), yielding what the page draws:
    ('waiting', place in the queue), ('text', reply so far) at most once per `every` s
    whatever the token rate, ('error', why), ('end', Reply). A stream cut short (Stop, or
    any click that reruns the page) keeps its text, marked [stopped]. `events` replaces the
    local model's stream with another of the same events (core.serving.serving.stream_chat for a
    server)."""
    last = -math.inf
    try:
        events = events or stream_reply(lm, prompt, settings, threading.Event())
        for kind, payload in events:
            if kind == "text":
                message["content"] = payload
                if clock() - last < every:
                    continue
                last = clock()
            elif kind == "error":
                message["content"] += f" [failed: {payload}]"
            elif kind == "end":
                message |= {"content": payload.text, "stats": payload.stats()}
                message["tokens"] = [t.as_dict() for t in payload.tokens]
            yield kind, payload
    finally:
        if message["stats"] is None and not message["content"].endswith("]"):
            message["content"] += " [stopped]"


def token_markdown(tokens: list[dict]) -> str:
    """Tokens as Markdown, each on a background coloured by its probability (green >= 50 %,
    orange >= 10 %, red below), the text itself shown literally."""
    colour = lambda p: "green" if p >= 0.5 else ("orange" if p >= 0.1 else "red")  # noqa: E731
    return "".join(
        f":{colour(t['probability'])}-background[{markdown_literal(t['text'])}]" for t in tokens
    )


def alternatives_table(token: dict) -> list[dict]:
    """The top-5 alternatives of one generated token, as table rows."""
    return [{"Alternative": repr(a), "Probability": round(p, 4)} for a, p in token["alternatives"]]


def run_card(lm: LoadedModel, settings: Settings, device: str) -> dict:
    """What produced a chat: model, device, size and settings."""
    card = {"model": lm.name, "device": device, "parameters": lm.parameters}
    return card | {"settings": settings_record(settings)}


def transcript_json(card: dict, messages: list[dict]) -> str:
    """A chat as JSON: the run card and the messages with their stats (no token details)."""
    kept = [{k: v for k, v in m.items() if k != "tokens"} for m in messages]
    return json.dumps({"run_card": card, "messages": kept}, indent=2)


# ---- reports -----------------------------------------------------------------------------


def describe_stats(stats: dict, usd_per_hour: float, seed: int | None = None) -> str:
    """One line for a reply: tokens, time to first token, tokens/s, USD per 1,000 tokens."""
    tps = stats["tokens_per_s"]
    cost = (
        f"{units.usd(costs.usd_per_1k_tokens(usd_per_hour, tps))} per 1,000 tokens"
        if math.isfinite(tps) and tps > 0
        else "too short to time"
    )
    return (
        f"{stats['prompt_tokens']} prompt + {stats['new_tokens']} new tokens - first token "
        f"{stats['ttft_s']:.2f} s - {tps:.1f} tokens/s - {cost}"
        + (f" - seed {seed}" if seed is not None else "")
        + (" - stopped" if stats["stopped"] else "")
    )


def transcript_markdown(card: dict, messages: list[dict], usd_per_hour: float) -> str:
    """A chat as Markdown that shows every user and model text literally."""
    md = [
        f"# Conversation with {markdown_literal(card['model'])}",
        "",
        f"Run card: {markdown_literal(json.dumps(card))}",
        "",
    ]
    for m in messages:
        md += [f"**{m['role']}**: {markdown_literal(m['content'])}", ""]
        if m.get("stats"):
            seed = m.get("settings", {}).get("seed")
            md += [f"_{markdown_literal(describe_stats(m['stats'], usd_per_hour, seed))}_", ""]
    return "\n".join(md)


# ---- training a small GPT-2 ---------------------------------------------------------------

MIN_CORPUS_CHARS = 2_000


def builtin_corpus() -> str:
    """English text every install has: scikit-learn's data set descriptions (~43 KB)."""
    import sklearn

    folder = Path(sklearn.__file__).parent / "datasets" / "descr"
    return "\n\n".join(p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.rst")))


def read_corpus(raw: bytes) -> str:
    """An uploaded .txt/.md as text; ValueError saying why when it cannot be used."""
    if not raw.strip():
        raise ValueError("The file is empty.")
    if b"\0" in raw[:65536]:
        raise ValueError("This looks like a binary file, not text: upload a .txt or .md file.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"The file is not UTF-8 text (byte {err.start} cannot be decoded); "
            "save it as UTF-8 and upload again."
        ) from None
    printable = sum(c.isprintable() or c in "\n\t\r" for c in text[:65536])
    if printable < 0.95 * min(len(text), 65536):
        raise ValueError("Too many control characters for text: upload a .txt or .md file.")
    if len(text) < MIN_CORPUS_CHARS:
        raise ValueError(
            f"Too little text: {len(text):,} characters; give at least {MIN_CORPUS_CHARS:,}."
        )
    return text


@dataclass(frozen=True, kw_only=True)
class TinyGPTConfig:
    """A small GPT-2 and how long to train it."""

    name: str = "my-gpt2"  # folder name under models_dir()
    vocab_size: int = 1024  # byte-level BPE vocabulary
    layers: int = 2
    width: int = 128  # embedding size
    heads: int = 4
    context: int = 128  # tokens
    steps: int = 300
    batch_size: int = 16
    lr: float = 3e-3
    sample_every: int = 50  # steps between sample generations
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.name or any(c in self.name for c in "/\\:") or self.name.startswith("."):
            raise ValueError("Name the model with letters, digits, dashes or dots (no slashes).")
        if self.width % self.heads:
            raise ValueError(f"Width ({self.width}) must be a multiple of heads ({self.heads}).")
        if not (
            256 <= self.vocab_size <= 50_000
            and 1 <= self.layers <= 12
            and 16 <= self.context <= 1024
        ):
            raise ValueError("Vocabulary 256-50,000, layers 1-12, context 16-1,024 tokens.")
        if not (1 <= self.steps <= 100_000 and 1 <= self.batch_size <= 512 and 0 < self.lr <= 1):
            raise ValueError("Steps 1-100,000, batch 1-512, learning rate in (0, 1].")


def lr_factor(step: int, total: int) -> float:
    """Learning-rate multiplier at 0-based `step` of `total`: linear warm-up over the first
    tenth (at least one step), then cosine decay to a tenth. Defined for every total >= 1
    (torch's OneCycleLR divides by zero for fewer than ~20 steps)."""
    warm = max(1, total // 10)
    if step < warm:
        return (step + 1) / warm
    done = (step - warm) / max(1, total - warm)
    return 0.1 + 0.45 * (1 + math.cos(math.pi * min(done, 1.0)))


def train_tokenizer(text: str, vocab_size: int, min_frequency: int = 2):
    """A byte-level BPE tokenizer trained on `text`, as a transformers fast tokenizer."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        [text], vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=["<|endoftext|>"]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )


def train_small_gpt2(
    text: str, cfg: TinyGPTConfig, device: str, ctx=None, hooks: TrainHooks | None = None
) -> Path:
    """Train a byte-level BPE tokenizer and a small GPT2LMHeadModel on `text`; report loss
    (train and validation, 90/10 split) and a sample as it goes; save with save_pretrained
    into models_dir()/name, also when stopped. Returns the folder. `hooks`: the distributed
    wrapper and checkpoints of `core.train` (none for the page)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    hooks = hooks or TrainHooks()  # train hook
    limits.check_room("models", models_dir())  # a full folder refuses before any training
    torch.manual_seed(cfg.seed)
    tok = train_tokenizer(text, cfg.vocab_size)
    ids = torch.tensor(tok(text)["input_ids"], dtype=torch.long)
    cut = int(len(ids) * 0.9)
    train, val = ids[:cut].to(device), ids[cut:].to(device)
    if len(val) <= cfg.context + 1:
        raise ValueError(
            f"Too little text for a {cfg.context}-token context; add text or shorten it."
        )
    model = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(tok),
            n_positions=cfg.context,
            n_embd=cfg.width,
            n_layer=cfg.layers,
            n_head=cfg.heads,
            bos_token_id=tok.eos_token_id,
            eos_token_id=tok.eos_token_id,
        )
    ).to(device)
    train = hooks.shard(train, contiguous=True)  # train hook: this rank's share of the text
    trained = hooks.wrap(model)  # train hook: the module the steps call
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: lr_factor(i, cfg.steps))
    gen = torch.Generator().manual_seed(cfg.seed)
    start = hooks.resume(model, opt, sched, gen)  # train hook: from a checkpoint

    def batch(data: torch.Tensor) -> torch.Tensor:
        starts = torch.randint(0, len(data) - cfg.context - 1, (cfg.batch_size,), generator=gen)
        return torch.stack([data[s : s + cfg.context + 1] for s in starts.tolist()])

    t0 = time.perf_counter()
    for step in range(start + 1, cfg.steps + 1):  # train hook: start
        if ctx is not None and ctx.should_stop():
            break
        model.train()
        xb = batch(train)
        loss = trained(input_ids=xb[:, :-1], labels=xb[:, :-1]).loss  # train hook: trained
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if ctx is not None:
            rate = (step - start) * cfg.batch_size * cfg.context / (time.perf_counter() - t0)
            msg = f"step {step}/{cfg.steps}, loss {loss.item():.3f}"
            ctx.report(step / cfg.steps, msg, rate=rate, unit="tokens")
            if step % cfg.sample_every == 0 or step == cfg.steps or step == 1:
                ctx.log(
                    step=step,
                    train_loss=loss.item(),
                    val_loss=_val_loss(model, val, cfg, gen),
                    sample=_sample(model, tok, device),
                )
        hooks.epoch_end(step, model, opt, sched, gen)  # train hook: checkpoint
    out = models_dir() / cfg.name
    if not hooks.is_main:  # train hook: rank 0 alone saves
        return out
    model.eval().to("cpu").save_pretrained(out)
    tok.chat_template = TRANSCRIPT_TEMPLATE
    tok.save_pretrained(out)
    return out


@torch.inference_mode()
def _val_loss(model, val: torch.Tensor, cfg: TinyGPTConfig, gen) -> float:
    model.eval()
    starts = torch.randint(0, len(val) - cfg.context - 1, (8,), generator=gen).tolist()
    xb = torch.stack([val[s : s + cfg.context] for s in starts])
    return model(input_ids=xb, labels=xb).loss.item()


@torch.inference_mode()
def _sample(model, tok, device: str, n: int = 40) -> str:
    n = min(n, model.config.n_positions - 1)
    model.eval()
    start = torch.tensor([[tok.eos_token_id]], device=device)
    out = model.generate(
        start, max_new_tokens=n, do_sample=True, top_k=40, pad_token_id=tok.eos_token_id
    )
    return tok.decode(out[0, 1:], skip_special_tokens=True)


# ---- recording runs (core.runs, MLflow) ------------------------------------------------------


class NotRecorded(Exception):
    """The run store could not record a run; the message says why. Nothing else is lost."""


def record_run(tool: str, run: RunRecord) -> str:
    """`runs.record(tool, RunRecord(**run))`; NotRecorded with the store's message on failure."""
    try:
        from core import runs  # lazily: it brings MLflow, which Home never needs
    except ImportError:
        raise NotRecorded("This copy of the app has no run store (core.runs).") from None
    try:
        return runs.record(tool, run)
    except runs.StoreError as err:
        raise NotRecorded(str(err)) from None


def chat_run(card: dict, messages: list[dict], usd_per_hour: float) -> RunRecord:
    """A saved chat as a run: its run card, per-reply stats and cost, the transcript."""
    replies = [
        {"reply": i, "seed": m["settings"]["seed"]} | m["stats"]
        for i, m in enumerate(messages)
        if m.get("stats")
    ]
    for r in replies:
        tps = r["tokens_per_s"]
        ok = math.isfinite(tps) and tps > 0
        r["usd_per_1k_tokens"] = costs.usd_per_1k_tokens(usd_per_hour, tps) if ok else None
    timed = [r for r in replies if r["usd_per_1k_tokens"] is not None]
    metrics = {"replies": len(replies), "new_tokens": sum(r["new_tokens"] for r in replies)}
    if timed:
        metrics |= {
            "tokens_per_s": sum(r["tokens_per_s"] for r in timed) / len(timed),
            "ttft_s": sum(r["ttft_s"] for r in timed) / len(timed),
            "usd_per_1k_tokens": sum(r["usd_per_1k_tokens"] for r in timed) / len(timed),
        }
    return RunRecord(
        **{
            "name": f"chat with {card['model']}",
            "params": card | {"usd_per_hour": usd_per_hour},
            "metrics": metrics,
            "tables": {"replies": replies, "transcript": turns(messages)},
            "artifacts": {
                "chat.json": transcript_json(card, messages),
                "chat.md": transcript_markdown(card, messages, usd_per_hour),
            },
            "tags": {"device": card["device"]},
        }
    )


def save_chat(card: dict, messages: list[dict], usd_per_hour: float) -> str:
    """Record a chat (tool 'chat'); its run id, or NotRecorded saying why."""
    return record_run("chat", chat_run(card, messages, usd_per_hour))


@dataclass(frozen=True, kw_only=True)
class TrainedModel:
    """A model trained here: where it is saved and the run that records it."""

    folder: Path
    run_id: str | None = None  # None when the store could not record it
    not_recorded: str = ""  # why not (the model itself is saved)


class _KeepRows:
    """A job context that also keeps the rows logged, for the run record."""

    def __init__(self, ctx) -> None:
        self.ctx, self.rows = ctx, []

    def should_stop(self) -> bool:
        return self.ctx is not None and self.ctx.should_stop()

    def report(self, *args, **kwargs) -> None:
        if self.ctx is not None:
            self.ctx.report(*args, **kwargs)

    def log(self, **row) -> None:
        self.rows.append(row)
        if self.ctx is not None:
            self.ctx.log(**row)


def gpt2_run(cfg: TinyGPTConfig, device: str, rows: list[dict], folder, status: str) -> RunRecord:
    """A training of the small GPT-2 as a run: config, loss curve, samples, the model folder."""
    return RunRecord(
        **{  # the losses' latest values come from the history (a final point would be step 0)
            "name": cfg.name,
            "params": asdict(cfg) | {"device": device},
            "metrics": {"steps": rows[-1]["step"] if rows else 0},
            "history": [{k: v for k, v in r.items() if k != "sample"} for r in rows],
            "tables": {"samples": [{"step": r["step"], "sample": r["sample"]} for r in rows]},
            "artifacts": {"model": Path(folder)} if folder else {},
            "tags": {"device": device},
            "status": status,
        }
    )


def train_and_record(text: str, cfg: TinyGPTConfig, device: str, ctx=None) -> TrainedModel:
    """train_small_gpt2, then record the run (tool 'gpt2') from the worker as it ends, so a
    training whose page is gone is recorded too; a store failure leaves the model saved."""
    keep = _KeepRows(ctx)
    try:
        folder = train_small_gpt2(text, cfg, device, keep)
    except Exception:
        with contextlib.suppress(NotRecorded):
            record_run("gpt2", gpt2_run(cfg, device, keep.rows, None, "FAILED"))
        raise
    status = "KILLED" if keep.should_stop() else "FINISHED"
    try:
        run_id = record_run("gpt2", gpt2_run(cfg, device, keep.rows, folder, status))
    except NotRecorded as err:
        return TrainedModel(folder=folder, not_recorded=str(err))
    return TrainedModel(folder=folder, run_id=run_id)
