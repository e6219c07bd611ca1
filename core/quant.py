"""Int8 weight-only linear layers for decoding on a CPU: a quarter of fp32's bytes per token.

Decoding one token at a time reads every weight once per token, so its speed is bounded by
memory bandwidth over weight bytes. `torch._weight_int8pack_mm` multiplies bf16 activations
by int8 weights with one scale per output channel (the kernel gpt-fast and torchao use on
CPUs); on this project's 2-core AVX2 machine it ran GPT-2 124M's layers 2.2-3.1x faster than
fp32 at one row. torchao's own `Int8WeightOnlyConfig` was tried first: without
`torch.compile` it generated at 0.40x plain fp32 here (and leaves GPT-2's Conv1D layers
alone), so this module wraps the kernel directly.

The kernel is slower than fp32 for many rows at once (a 256-token prompt: 1.8x slower), so a
layer keeps a reference to the original fp32 weight (shared with the loaded model, no copy)
and uses it for the prompt, int8 for the tokens generated one by one.
"""

from __future__ import annotations

import torch
from torch import nn

DECODE_ROWS = 16  # at most this many rows (tokens x batch) go through the int8 kernel


class Int8Linear(nn.Module):
    """y = x W^T + b with W stored as int8 and one bf16 scale per output row."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.out_features, self.in_features = weight.shape  # weight: (out, in)
        with torch.no_grad():
            w = weight.detach().float()
            scales = w.abs().amax(dim=1).clamp(min=1e-12) / 127
            q = torch.round(w / scales[:, None]).clamp(-127, 127).to(torch.int8)
        self.register_buffer("qweight", q.contiguous(), persistent=False)  # (out, in) int8
        self.register_buffer("scales", scales.to(torch.bfloat16), persistent=False)  # (out,)
        self.full = weight.detach()  # the loaded model's own fp32 weight, for long prompts
        self.bias = None if bias is None else bias.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features)
        if rows.shape[0] > DECODE_ROWS:
            return nn.functional.linear(x, self.full.to(x.dtype), self.bias)
        y = torch._weight_int8pack_mm(rows.to(torch.bfloat16), self.qweight, self.scales)
        y = y.to(x.dtype)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features)


def int8_available() -> bool:
    """Whether this torch build has the int8 weight-only CPU kernel."""
    return hasattr(torch, "_weight_int8pack_mm")


def quantize_linears(model: nn.Module) -> nn.Module:
    """Replace every nn.Linear and transformers Conv1D (GPT-2's layers, weight (in, out)) of
    `model` in place by an Int8Linear sharing the original weights; returns `model`.

    Tied input and output embeddings stay tied in the original model: only the output
    layer's matrix product changes here."""
    from transformers.pytorch_utils import Conv1D

    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, Conv1D):
                setattr(module, name, Int8Linear(child.weight.t(), child.bias))
            elif isinstance(child, nn.Linear):
                setattr(module, name, Int8Linear(child.weight, child.bias))
    return model
