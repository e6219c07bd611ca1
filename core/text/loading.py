"""A causal LM in memory: `load_model` (a folder or a hub id, never remote code) gives a
`LoadedModel`, and `fast_variant` its fast path (on a CPU the engine measured fastest within
the quality bar, core.text.fastpath; half precision with a static KV cache on CUDA), built
once and generating under the same lock.

One loaded model serves every session (`core.cache.causal_lm`); its `lock` serialises
generation, because two threads calling `generate` on one model can corrupt each other
(transformers #32217).
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from core import device as dev
from core.text import memory, sources

MIN_VOCAB = 16  # fewer tokens than this is no tokenizer (a folder without its files gives 1)
TOKENIZER_PROBE = "Hello, world! 123"
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer.model", "vocab.txt")


@dataclass(kw_only=True)
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
    engine: str = ""  # the CPU fast path's engine (core.text.fastpath.ENGINES), "" otherwise
    choice: object = None  # its fastpath.Choice: every candidate's measured figures
    _fast_copy: LoadedModel | None = field(default=None, init=False, repr=False)

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    @property
    def lowered_precision(self) -> bool:
        """The fast path runs this model in lower precision than it was loaded in."""
        return "precision lowered" in self.fast


def load_model(source: str, device: str) -> LoadedModel:
    """A causal LM from a local folder (save_pretrained layout) or a hub id (the local hub
    cache first, then a download). Never runs remote code. Half precision on GPUs."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = source.strip()
    if memory.is_memory(source):
        return _from_memory(source, device)
    path, kwargs = _where(source)
    dtype = dev.preferred_dtype(device) if device != "cpu" else torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kwargs)
    except (OSError, ValueError) as err:
        raise sources.ModelLoadError(f"Cannot load {source!r}: {err}") from None
    check_tokenizer(source, tokenizer)
    model = model.to(device).eval()
    return LoadedModel(
        name=source,
        model=model,
        tokenizer=tokenizer,
        device=device,
        context=context_length(model.config, tokenizer),
        parameters=sum(p.numel() for p in model.parameters()),
    )


def check_tokenizer(source: str, tokenizer) -> None:
    """ModelLoadError unless `tokenizer` has more than a handful of tokens and encodes and
    decodes a test string (a folder without its tokenizer files loads a 1-token one)."""
    folder = Path(source).expanduser()
    found = [f for f in TOKENIZER_FILES if (folder / f).is_file()] if folder.is_dir() else []
    missing = (
        f" The folder has no tokenizer files (none of {', '.join(TOKENIZER_FILES)}): copy the "
        "files the tokenizer's save_pretrained wrote next to config.json."
        if folder.is_dir() and not found
        else ""
    )
    try:
        size = len(tokenizer)
        ids = tokenizer(TOKENIZER_PROBE, add_special_tokens=False)["input_ids"]
        back = tokenizer.decode(ids) if ids else ""
    except Exception as err:  # a broken tokenizer file: any failure is the message
        raise sources.ModelLoadError(
            f"Cannot load {source!r}: its tokenizer fails on a test string ({err}).{missing}"
        ) from None
    if size < MIN_VOCAB or not ids or not back.strip():
        raise sources.ModelLoadError(
            f"Cannot load {source!r}: its tokenizer has {size} token(s) in its vocabulary and "
            f"turns {TOKENIZER_PROBE!r} into {len(ids)} token(s), so it cannot read or write "
            f"text.{missing or ' Its tokenizer files are empty or broken: save them again.'}"
        )


def _from_memory(source: str, device: str) -> LoadedModel:
    """A model kept in memory (core.text.memory), on `device` (a copy when it moves)."""
    kept = memory.get(source)
    if kept is None:
        raise sources.ModelLoadError(
            f"{source} is gone: a model kept in memory lasts until the app restarts."
        )
    model = kept.model if device == "cpu" else copy.deepcopy(kept.model).to(device)
    return LoadedModel(
        name=source,
        model=model.eval(),
        tokenizer=kept.tokenizer,
        device=device,
        context=context_length(model.config, kept.tokenizer),
        parameters=sum(p.numel() for p in model.parameters()),
    )


def _where(source: str) -> tuple[str, dict]:
    """(path, from_pretrained keywords) for a checked source: a folder or a cached hub id
    load offline; an uncached hub id downloads, unless there is no network (ModelLoadError)."""
    from transformers import AutoTokenizer

    checked = sources.check_source(source)
    kwargs = {"trust_remote_code": False}
    if isinstance(checked, Path):
        return str(checked), kwargs | {"local_files_only": True}
    try:
        AutoTokenizer.from_pretrained(source, local_files_only=True)
        return source, kwargs | {"local_files_only": True}
    except (OSError, ValueError):
        if not sources.hub_reachable():
            raise sources.ModelLoadError(
                f"Cannot load {source!r}: there is no network and no cached copy. On a "
                f"machine with a network run `huggingface-cli download {source}` (or "
                f"save_pretrained) and copy the folder into {sources.models_dir()}; or train "
                "your own small GPT-2 on the Train tab - it needs no network."
            ) from None
    return source, kwargs


def context_length(config, tokenizer) -> int:
    """Tokens a model with `config` attends to (2,048 when neither it nor the tokenizer says)."""
    for attr in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", 2048)
    return limit if limit < 1_000_000 else 2048


# ---- the fast path --------------------------------------------------------------------


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def fast_path_pays(device: str, parameters: int = 124_000_000) -> bool:
    """Whether the fast path is on by default for a model of `parameters` on `device`: on
    CUDA (half precision, static cache) and on CPUs, where the engine is chosen by measuring
    (core.text.fastpath), plain fp32 included, so it can cost no speed."""
    return device in ("cuda", "cpu")


_fast_lock = threading.Lock()


def fast_variant(lm: LoadedModel, engine: str | None = None, progress=None) -> LoadedModel:
    """The fast path of `lm`, built once and shared, generating under `lm`'s lock. On CPU the
    engine measured fastest within the quality bar on this machine (core.text.fastpath: fp16
    weights, torch int8, CTranslate2 fp32/int8, or plain when none beats it), or `engine` when
    given; on CUDA half-precision weights with a static KV cache (which transformers
    compiles). Elsewhere, or for a CPU model not in fp32, `lm` itself. `progress(stage)`
    hears which engine a first calibration is timing."""
    if lm.device not in ("cpu", "cuda") or lm.fast:
        return lm
    if lm.device == "cpu" and lm.model.dtype != torch.float32:
        return lm
    with _fast_lock:
        if lm._fast_copy is None or (engine and lm._fast_copy.engine != engine):
            cpu = lm.device == "cpu"
            lm._fast_copy = _cpu_fast(lm, engine, progress) if cpu else _cuda_fast(lm)
    return lm._fast_copy


def _cpu_fast(lm: LoadedModel, engine: str | None, progress=None) -> LoadedModel:
    """The CPU fast path: the measured choice (or `engine`), and what it is, for the page."""
    from core.text import fastpath, generate

    threads = generate.generation_threads(lm)
    if engine is None:
        choice = fastpath.cached_choice(lm, threads, progress=progress)
        fast = choice.describe()
    else:
        choice = fastpath.Choice(engine=engine, speedup=float("nan"), measured=[])
        lowered = " (precision lowered)" if engine in fastpath.LOWERED else ""
        fast = fastpath.LABELS[engine] + lowered
    try:
        model = fastpath.build(lm, choice.engine, choice.threads or threads)
    except Exception as err:  # e.g. CTranslate2 missing or its conversion failing
        failed = fastpath.LABELS.get(choice.engine, choice.engine)
        fast = f"plain fp32 ({failed} failed here: {err})"
        model, choice = lm.model, fastpath.Choice(engine="plain", speedup=1.0, measured=[])
    if choice.engine == "plain":
        return replace(lm, fast=fast or "plain fp32", engine="plain", choice=choice)
    return replace(lm, model=model, fast=fast, engine=choice.engine, choice=choice)


def _cuda_fast(lm: LoadedModel) -> LoadedModel:
    if lm.model.dtype == torch.float32:  # GPUs load in half precision already
        # a real copy: .to() on shared parameters would convert the loaded model too
        model = copy.deepcopy(lm.model).to(torch.bfloat16).eval()
        fast = "bf16 weights (precision lowered), static KV cache, compiled"
    else:
        model, fast = lm.model, "static KV cache, compiled"
    return replace(lm, model=model, fast=fast, static_cache=True)
