"""Half-precision (fp16) weights for decoding on a CPU: half of fp32's bytes per token.

Decoding one token at a time reads every weight once per token, so its speed is bounded by
memory bandwidth over weight bytes. torch multiplies fp16 matrices on a CPU with fp32
accumulation (F16C conversion on AVX2), so fp16 weights halve the bytes read and keep the
result within fp16's rounding (11 significant bits) of fp32's: on GPT-2 124M (random weights)
greedy tokens stayed identical to fp32 over 128 tokens while decoding ran 1.8-2.0x faster on
this project's 2-core AVX2 machine.

Tried and dropped on the same machine: int8 weight-only (`torch._weight_int8pack_mm`, one
scale per output channel) ran 1.7-1.85x but changed greedy tokens (56 % agreement on the
random model, 80 % on a trained small GPT-2); torchao's `Int8WeightOnlyConfig` ran at 0.40x
without `torch.compile`; bf16 weights were slower than fp32 at one row (no native bf16 on
AVX2).

Prompts (many rows at once) run on the original fp32 weight, which a layer shares with the
loaded model (no copy). fp16 overflows past 65504; GPT-2-like models stay far below, but an
arbitrary model might not. Checking every layer's output cost 10-15 % of the speed, so only
the output layer checks: an overflow anywhere reaches it as inf or NaN, it raises
HalfOverflow, and from then on every layer of that model runs on the fp32 weights.

Also here, for int8: `conv1d_to_linear` (GPT-2's `Conv1D` layers as `nn.Linear`, without
which torch's dynamic quantization skips every layer but the output one: transformers #2466,
pytorch #33433) and `int8_dynamic` (a copy with every linear layer in dynamic int8).
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Iterator

import torch
from torch import nn

DECODE_ROWS = 16  # at most this many rows (tokens x batch) go through the fp16 weights


class HalfOverflow(RuntimeError):
    """fp16 overflowed in a model's layers; its fast path is off from now on."""


class HalfLinear(nn.Module):
    """y = x W^T + b with an fp16 copy of W for a few rows at a time, fp32 W for the rest.
    Layers of one model share `state` ({"off": bool}); a layer with `checks` (the output
    layer) raises HalfOverflow on a non-finite fp16 result and turns them all off."""

    def __init__(
        self, weight: torch.Tensor, bias: torch.Tensor | None, state=None, checks: bool = False
    ) -> None:
        super().__init__()
        self.state = {"off": False} if state is None else state
        self.checks = checks
        self.out_features, self.in_features = weight.shape  # weight: (out, in)
        with torch.no_grad():
            self.register_buffer("weight16", weight.detach().half().contiguous(), persistent=False)
            half_bias = None if bias is None else bias.detach().half()
            self.register_buffer("bias16", half_bias, persistent=False)
        self.full = weight.detach()  # the loaded model's own fp32 weight (a view, no copy)
        self.bias = None if bias is None else bias.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.numel() > DECODE_ROWS * self.in_features or self.state["off"]:
            return nn.functional.linear(x, self.full.to(x.dtype), self.bias)
        y = nn.functional.linear(x.half(), self.weight16, self.bias16).to(x.dtype)
        if self.checks and not torch.isfinite(y).all():
            self.state["off"] = True
            raise HalfOverflow(
                "This model's values overflowed half precision (fp16 stops at 65504), so its "
                "fast path is now off: send the message again for a reply in full precision."
            )
        return y


def half_linears(model: nn.Module) -> nn.Module:
    """Replace every nn.Linear and transformers Conv1D (GPT-2's layers, weight (in, out)) of
    `model` in place by a HalfLinear sharing the original weights; returns `model`.

    Tied input and output embeddings stay tied in the original model: only the output
    layer's matrix product changes here. The output layer checks for overflow (HalfLinear)."""
    from transformers.pytorch_utils import Conv1D

    state = {"off": False}
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            checks = child is output
            if isinstance(child, Conv1D):
                setattr(module, name, HalfLinear(child.weight.t(), child.bias, state, checks))
            elif isinstance(child, nn.Linear):
                setattr(module, name, HalfLinear(child.weight, child.bias, state, checks))
    return model


def conv1d_to_linear(model: nn.Module) -> nn.Module:
    """Replace every transformers `Conv1D` of `model` (GPT-2's layers; weight (in, out)) in
    place by the equivalent `nn.Linear` (weight (out, in)); returns `model`. The outputs are
    the same: y = x W + b either way."""
    from transformers.pytorch_utils import Conv1D

    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, Conv1D):
                linear = nn.Linear(child.nx, child.nf, device=child.weight.device)
                with torch.no_grad():
                    linear.weight.copy_(child.weight.t())
                    linear.bias.copy_(child.bias)
                setattr(module, name, linear)
    return model


@contextlib.contextmanager
def quiet_quantization() -> Iterator[None]:
    """torch's eager quantization warns on every call that it is deprecated (pytorch #153892,
    #184982); those warnings say nothing a user can act on, so they stay out of pages and tests."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization is deprecated")
        warnings.filterwarnings("ignore", message=r".*quantized tensor creation functions")
        yield


def int8_dynamic(model: nn.Module) -> nn.Module:
    """A copy of `model` (CPU, fp32) whose every linear layer holds int8 weights (one scale per
    tensor) and quantizes its input per call (torch's dynamic quantization); GPT-2's Conv1D
    layers are converted first, so they are quantized too. The original is left as it was.
    Call the copy under `quiet_quantization()` too: its layers warn on every call."""
    converted = conv1d_to_linear(copy.deepcopy(model))
    with quiet_quantization():
        return torch.ao.quantization.quantize_dynamic(converted, {nn.Linear}, dtype=torch.qint8)


def sharing_copy(model: nn.Module) -> nn.Module:
    """A copy of `model`'s module tree that shares every weight with it (no memory copied)."""
    memo = {id(t): t for t in [*model.parameters(), *model.buffers()]}
    return copy.deepcopy(model, memo)
