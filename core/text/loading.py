"""A causal LM in memory: `load_model` (a folder or a hub id, never remote code) gives a
`LoadedModel`, and `fast_variant` its fast path (fp16 weights on a CPU, half precision
with a static KV cache on CUDA), built once and generating under the same lock.

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

FAST_CPU_MIN_PARAMS = 5_000_000  # fp16 decoding measured 1.1x at 1.3M parameters, 1.8x at 5.3M


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
    model = model.to(device).eval()
    return LoadedModel(
        name=source,
        model=model,
        tokenizer=tokenizer,
        device=device,
        context=context_length(model.config, tokenizer),
        parameters=sum(p.numel() for p in model.parameters()),
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
    memo = {id(t): t for t in [*model.parameters(), *model.buffers()]}
    return copy.deepcopy(model, memo)


def fast_variant(lm: LoadedModel) -> LoadedModel:
    """The fast path of `lm`, built once and shared, generating under `lm`'s lock: on CPU
    fp16 weights (core.text.quant: decode is memory-bound, and fp16 reads half of fp32's bytes;
    prompts still run in fp32); on CUDA half-precision weights with a static KV cache (which
    transformers compiles). Elsewhere, or for a CPU model not in fp32, `lm` itself."""
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
