"""core.compress.gpt2 on a tiny GPT-2: every Conv1D becomes a linear layer and is quantized,
perplexity with a stated window and stride scores every token once, the variants report
finite figures, and a folder that is not a causal LM (or has no weights) gets a message."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from core.compress import gpt2
from core.compress.cnn import CompressError
from tests.helpers import save_tiny_gpt2

TEXT = "the cat sat on the mat and the dog sat on the log. " * 40


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = save_tiny_gpt2(tmp_path_factory.mktemp("gpt2"), TEXT, positions=128)
    return gpt2.load(folder)


def test_int8_quantizes_every_linear_layer(tiny):
    from transformers.pytorch_utils import Conv1D

    model, _ = tiny
    n_conv = sum(isinstance(m, Conv1D) for m in model.modules())
    n_linear = sum(isinstance(m, nn.Linear) for m in model.modules())
    variants = gpt2.variants_of(model)
    _, int8 = variants["dynamic int8"]
    quantized = [
        m
        for m in int8.modules()
        if type(m).__name__ == "Linear" and "quantized" in type(m).__module__
    ]
    assert len(quantized) == n_conv + n_linear
    assert not any(isinstance(m, Conv1D) for m in int8.modules())


def test_perplexity_scores_each_token_once(tiny):
    model, tok = tiny
    ids = torch.tensor(tok(TEXT)["input_ids"][:100])
    whole = gpt2.perplexity(model, ids, window=100, stride=100)
    with torch.no_grad():
        direct = math.exp(model(input_ids=ids[None], labels=ids[None]).loss.item())
    assert whole == pytest.approx(direct, rel=1e-4)
    sliding = gpt2.perplexity(model, ids, window=40, stride=20)
    assert math.isfinite(sliding) and sliding > 1


def test_compare_reports_finite_figures(tiny):
    model, tok = tiny
    ids = torch.tensor(tok(TEXT)["input_ids"])
    s = gpt2.TextSettings(window=32, stride=16, new_tokens=4, rounds=2)
    rows = gpt2.compare(model, ids[:8], ids[-80:], s)
    assert [v.method for v in rows] == ["original", "dynamic int8", "fp16 weights"]
    for v in rows[1:]:
        assert math.isfinite(v.quality["perplexity"]) and 0 <= v.quality["greedy_agreement"] <= 1
        assert v.throughput > 0 and "perplexity" in v.verdict and "window 32, stride 16" in v.notes
    assert rows[1].size_ratio < 1  # int8 weights


def test_folders_that_are_not_a_causal_lm(tmp_path):
    with pytest.raises(CompressError, match="no weights"):
        gpt2.check_folder(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"x")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "vit"}))
    with pytest.raises(CompressError, match="not a causal LM"):
        gpt2.check_folder(tmp_path)
