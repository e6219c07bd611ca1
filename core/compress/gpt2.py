"""GPT-2 (any causal LM of transformers) made cheaper on a CPU, each variant measured beside
the original: dynamic int8 of every linear layer (GPT-2's `Conv1D` layers become `nn.Linear`
first, or only the output layer is quantized: transformers #2466) and fp16 weights (the
chat fast path's `HalfLinear`).

Quality: perplexity on held-out text with a sliding window (`window` tokens scored with up to
`window - stride` tokens of context before them, as in the transformers docs; both stated) and
greedy-token agreement with the original. Speed: greedy decode tokens/s at batch 1, original
and variant interleaved in one loop.
"""

from __future__ import annotations

import copy
import io
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from core.compress.cnn import CompressError
from core.compress.measure import Variant, machine, side_by_side, verdict
from core.text import quant

WEIGHT_FILES = ("*.safetensors", "*.bin", "*.pt")


def check_folder(folder: str | Path) -> Path:
    """`folder` when it holds a causal LM's config and weights; CompressError saying why not."""
    path = Path(folder)
    if not path.is_dir():
        raise CompressError(f"{folder} is not a folder.")
    if not any(any(path.glob(p)) for p in WEIGHT_FILES):
        raise CompressError(f"{folder} has no weights (.safetensors or .bin files).")
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as err:
        raise CompressError(f"{folder} has no model configuration it can read: {err}") from None
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise CompressError(f"{folder} holds a {config.model_type} model, not a causal LM.")
    return path


def load(folder: str | Path):
    """(model in fp32 on the CPU, eval; tokenizer) of a causal LM folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = check_folder(folder)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(path)


@torch.inference_mode()
def perplexity(model: nn.Module, ids: torch.Tensor, window: int, stride: int) -> float:
    """exp(mean next-token loss) over `ids`, windows of `window` tokens moved by `stride`;
    each token is scored once."""
    if len(ids) < 2:
        raise CompressError("The held-out text is too short to score (fewer than 2 tokens).")
    total, counted, prev_end = 0.0, 0, 0
    for begin in range(0, len(ids), stride):
        end = min(begin + window, len(ids))
        target = end - prev_end  # tokens not scored yet
        chunk = ids[begin:end][None]
        labels = chunk.clone()
        labels[:, :-target] = -100
        n = int((labels[:, 1:] != -100).sum())
        if n:
            total += model(input_ids=chunk, labels=labels).loss.float().item() * n
            counted += n
        prev_end = end
        if end == len(ids):
            break
    return math.exp(total / max(counted, 1))


@torch.inference_mode()
def greedy(model: nn.Module, ids: torch.Tensor, n: int) -> list[int]:
    """`n` greedy tokens after prompt `ids`."""
    out = model.generate(
        ids[None], max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0
    )
    return out[0, len(ids) :].tolist()


def resident_bytes(model: nn.Module) -> int:
    """Bytes of the tensors a model holds in memory: parameters, buffers, and the fp32 weights
    that the fp16 path keeps for prompts (HalfLinear.full)."""
    tensors = list(model.parameters()) + list(model.buffers())
    tensors += [m.full for m in model.modules() if isinstance(m, quant.HalfLinear)]
    return sum(t.numel() * t.element_size() for t in tensors)


def file_bytes(model: nn.Module) -> int:
    """Bytes of the model's saved state dict (torch.save)."""
    buf = io.BytesIO()
    with quant.quiet_quantization():
        torch.save(model.state_dict(), buf)
    return buf.tell()


@dataclass(frozen=True, kw_only=True)
class TextSettings:
    window: int = 96
    stride: int = 48
    new_tokens: int = 32
    rounds: int = 3


BUILDERS = {  # method -> (precision, a copy of the model with it); the original is left as is
    "dynamic int8": ("int8 weights, dynamic activations (torch)", quant.int8_dynamic),
    "fp16 weights": (
        "fp16 weights, fp32 accumulate",
        lambda model: quant.half_linears(copy.deepcopy(model)).eval(),
    ),
}


def variants_of(model: nn.Module) -> dict[str, tuple[str, nn.Module]]:
    """method -> (precision, model) for each method of BUILDERS."""
    return {method: (precision, build(model)) for method, (precision, build) in BUILDERS.items()}


def original(model: nn.Module, held_out: torch.Tensor, s: TextSettings) -> Variant:
    """The original's row before any timing (its speed comes from the variants' loops)."""
    return Variant(
        method="original",
        engine="torch eager",
        precision="fp32",
        machine=machine(decode_threads(model)),
        quality={"perplexity": perplexity(model, held_out, s.window, s.stride)},
        file_bytes=file_bytes(model),
        memory_bytes=resident_bytes(model),
        params=sum(p.numel() for p in model.parameters()),
        verdict="the original",
    )


def compare(model: nn.Module, prompt: torch.Tensor, held_out: torch.Tensor, s: TextSettings):
    """[original, dynamic int8, fp16] as Variants, each measured beside the original."""
    out = [original(model, held_out, s)]
    for method, (precision, variant) in variants_of(model).items():
        out.append(measure(model, variant, method, precision, prompt, held_out, s, out[0]))
        out[0] = with_original_speed(out[0], out[1:])
    return out


def _decode(model: nn.Module, prompt: torch.Tensor, n: int):
    return lambda: greedy(model, prompt, n)


def _sizes(method: str, variant: nn.Module, base: Variant) -> tuple[int, int, int]:
    """(file bytes, memory bytes, parameters) of a variant: fp16 weights are half the file
    (the fp32 copy for prompts stays in memory); int8's file is its saved state dict and
    its weights in memory; any other (a student) its own state dict and tensors."""
    if method == "fp16 weights":
        return base.file_bytes // 2, resident_bytes(variant), base.params
    size = file_bytes(variant)
    if method == "dynamic int8":
        return size, size, base.params
    return size, resident_bytes(variant), sum(p.numel() for p in variant.parameters())


def decode_threads(model: nn.Module) -> int:
    """The CPU threads a decode is timed on: the chat's own rule for its replies
    (core.text.generate.generation_threads), one for a model under SMALL_MODEL_PARAMS. On
    more, a small model's decode in the job's thread, beside the page's OpenMP team, ran at
    432 tokens/s against 993 on one thread, and swung between loops of the same run."""
    from core import device as dev
    from core.text.generate import SMALL_MODEL_PARAMS

    small = sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMS
    return 1 if small else dev.cpu_threads()


def measure(model, variant, method, precision, prompt, held_out, s: TextSettings, base, notes=""):
    """`variant` measured beside `model` (the original, row `base`): perplexity, greedy
    agreement, decode tokens/s in one interleaved loop, on decode_threads(model) threads;
    CompressError when non-finite."""
    from core import device as dev

    with quant.quiet_quantization(), dev.torch_threads(decode_threads(model)):
        return _measure(model, variant, method, precision, prompt, held_out, s, base, notes)


def _measure(model, variant, method, precision, prompt, held_out, s, base, notes):
    rows, quant.DECODE_ROWS = quant.DECODE_ROWS, 10**9  # every position on the fp16 weights
    try:
        ppl = perplexity(variant, held_out, s.window, s.stride)
    finally:
        quant.DECODE_ROWS = rows
    if not math.isfinite(ppl):
        raise CompressError(f"{method} gave a non-finite perplexity: it is not kept.")
    tokens = greedy(variant, prompt, s.new_tokens)
    ref = greedy(model, prompt, s.new_tokens)
    agree = sum(a == b for a, b in zip(tokens, ref, strict=False)) / max(len(ref), 1)
    t_base, t_var = side_by_side(
        _decode(model, prompt, s.new_tokens), _decode(variant, prompt, s.new_tokens), s.rounds, 1, 1
    )
    speedup = t_base.p50_s / t_var.p50_s
    size, memory, params = _sizes(method, variant, base)
    change = ppl / base.quality["perplexity"] - 1
    words = verdict(speedup=speedup, size_ratio=size / base.file_bytes, noise=t_base.noise)
    return Variant(
        method=method,
        engine="torch eager",
        precision=precision,
        machine=machine(torch.get_num_threads()),
        quality={
            "perplexity": ppl,
            "perplexity_change": change,
            "greedy_agreement": agree,
            "base_decode_tokens_per_s": s.new_tokens / t_base.p50_s,
        },
        file_bytes=size,
        params=params,
        memory_bytes=memory,
        latency_p50_s=t_var.p50_s / s.new_tokens,  # per decoded token
        latency_p95_s=t_var.p95_s / s.new_tokens,
        throughput=s.new_tokens / t_var.p50_s,  # decode tokens/s at batch 1
        batch=1,
        speedup=speedup,
        size_ratio=size / base.file_bytes,
        param_ratio=base.params / max(params, 1),
        noise=t_base.noise,
        verdict=f"{words}, perplexity {change:+.2%}, greedy tokens {agree:.0%} the same",
        notes=f"{notes} Perplexity: window {s.window}, stride {s.stride}; decode: "
        f"{s.new_tokens} greedy tokens at batch 1.".strip(),
    )


def with_original_speed(original: Variant, measured: list[Variant]) -> Variant:
    """The original's row with its decode speed: the median of its rates in the `measured`
    variants' interleaved loops (a shared machine's load moves between loops)."""
    from dataclasses import replace

    rate = statistics.median(v.quality["base_decode_tokens_per_s"] for v in measured)
    return replace(original, throughput=rate, latency_p50_s=1 / rate, batch=1)


def rows(variants: list[Variant]) -> list[dict]:
    """The GPT-2 results table."""
    return [
        {
            "method": v.method,
            "engine": v.engine,
            "precision": v.precision,
            "perplexity": v.quality.get("perplexity"),
            "perplexity_change_pct": 100 * v.quality.get("perplexity_change", 0.0),
            "params": v.params,
            "params_x": v.param_ratio,
            "greedy_agreement_pct": 100 * v.quality.get("greedy_agreement", 1.0),
            "decode_tokens_per_s": v.throughput,
            "file_mb": v.file_bytes / 1e6,
            "memory_mb": v.memory_bytes / 1e6,
            "speedup_x": v.speedup,
            "size_x": v.size_ratio,
            "verdict": v.verdict,
        }
        for v in variants
    ]
