"""core.text.quant's int8 path: GPT-2's Conv1D layers become nn.Linear with the same outputs,
and the dynamic int8 copy quantizes every linear layer (not only the output one), leaves the
original alone, stays close to it, and keeps torch's deprecation warnings out."""

import warnings

import torch
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.pytorch_utils import Conv1D

from core.text import quant


def tiny_gpt2() -> GPT2LMHeadModel:
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=64, n_positions=32, n_embd=32, n_layer=2, n_head=2)
    return GPT2LMHeadModel(config).eval()


def layers(model: nn.Module, kind) -> list[str]:
    return [name for name, m in model.named_modules() if isinstance(m, kind)]


def test_conv1d_layers_become_linear_layers_with_the_same_outputs():
    model = tiny_gpt2()
    ids = torch.randint(0, 64, (2, 12))
    with torch.inference_mode():
        before = model(ids).logits
    conv_names = layers(model, Conv1D)
    assert len(conv_names) == 8  # 2 blocks x (c_attn, c_proj, mlp.c_fc, mlp.c_proj)
    quant.conv1d_to_linear(model)
    assert layers(model, Conv1D) == []
    assert set(conv_names) <= set(layers(model, nn.Linear))
    with torch.inference_mode():
        assert torch.allclose(model(ids).logits, before, atol=1e-5)


def test_int8_copy_quantizes_every_linear_layer_and_leaves_the_original():
    model = tiny_gpt2()
    wanted = set(layers(model, Conv1D)) | set(layers(model, nn.Linear))  # + the output layer
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        q = quant.int8_dynamic(model)
        ids = torch.randint(0, 64, (1, 16))
        with quant.quiet_quantization(), torch.inference_mode():
            got, full = q(ids).logits, model(ids).logits
    quantized = set(layers(q, torch.ao.nn.quantized.dynamic.Linear))
    assert quantized == wanted and "lm_head" in quantized
    assert len(layers(model, Conv1D)) == 8  # the original still has its own layers
    assert torch.isfinite(got).all()
    assert (got.argmax(-1) == full.argmax(-1)).float().mean() >= 0.9
    assert not [w for w in caught if "deprecated" in str(w.message)]
