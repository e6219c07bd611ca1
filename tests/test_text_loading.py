"""core.text.loading with a tiny GPT-2 built here: loading through the real code, and the
fast path (core.text.quant's fp16 layers sharing the loaded weights, under the same lock;
an fp16 overflow turns it off)."""

import dataclasses

import pytest
import torch

from core.text import loading, quant
from tests import text_fixtures
from tests.text_fixtures import GREEDY, ask, run

tiny_dir, lm = text_fixtures.tiny_dir, text_fixtures.lm  # pytest fixtures


def test_loads_through_the_real_code(lm):
    assert lm.context == 64 and lm.parameters > 0 and not lm.has_chat_template
    assert lm.model.training is False


def test_the_cpu_fast_path_is_a_shared_fp16_copy_under_the_same_lock(lm):
    fast = loading.fast_variant(lm, "fp16")
    assert fast is loading.fast_variant(lm) and fast.lock is lm.lock
    layers = [m for m in fast.model.modules() if isinstance(m, quant.HalfLinear)]
    assert len(layers) == 2 * 4 + 1  # 4 per block (attention in/out, MLP in/out) + output
    assert [m.checks for m in layers] == [False] * 8 + [True]  # only the output layer checks
    assert len({id(m.state) for m in layers}) == 1
    assert all(m.weight16.dtype == torch.float16 for m in layers)
    assert not any(isinstance(m, quant.HalfLinear) for m in lm.model.modules())
    shared = {p.data_ptr() for p in lm.model.parameters()}
    assert all(p.data_ptr() in shared for p in fast.model.parameters())  # no fp32 copy
    assert fast.lowered_precision and "fp16" in fast.fast and not fast.static_cache
    assert loading.fast_variant(fast) is fast
    assert loading.fast_path_pays("cpu", 124_000_000)
    assert loading.fast_path_pays("cpu", lm.parameters)  # measured: plain is a candidate
    assert loading.fast_path_pays("cuda") and not loading.fast_path_pays("mps")
    p = ask(lm, "The quick brown")
    plain, quick = run(lm, p, GREEDY)[-1][1], run(fast, p, GREEDY)[-1][1]
    assert quick.new_tokens == plain.new_tokens == 12
    assert all(0 <= t.probability <= 1 for t in quick.tokens)
    assert quick.text == plain.text  # greedy tokens unchanged (fp16 rounding is small)


def test_fp16_layers_match_fp32_within_half_precision():
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48)
    half = quant.HalfLinear(linear.weight, linear.bias)
    for rows in (1, quant.DECODE_ROWS, quant.DECODE_ROWS + 1):  # fp16 weights, then fp32
        x = torch.randn(1, rows, 64) if rows > 1 else torch.randn(1, 64)
        want, got = linear(x), half(x)
        assert got.shape == want.shape and got.dtype == torch.float32
        # fp16 rounding of weights, inputs and outputs (2**-11 each), fp32 accumulation
        assert (got - want).abs().max() <= 4e-3 * want.abs().max()
    long = torch.randn(1, 40, 64)
    assert torch.equal(half(long), linear(long))  # a prompt runs on the original weights
    huge = torch.full((1, 64), 1e5)  # past fp16's 65504
    assert not torch.isfinite(half(huge)).all()  # a middle layer passes it on; the output:
    out = quant.HalfLinear(linear.weight, linear.bias, half.state, checks=True)
    with pytest.raises(quant.HalfOverflow, match="overflowed half precision"):
        out(huge)
    assert half.state["off"] and torch.equal(half(huge), linear(huge))  # fp32 from now on
    assert torch.equal(out(x), linear(x))


def test_an_fp16_overflow_is_a_clear_error_and_the_next_reply_runs_in_fp32(lm):
    fast = loading.fast_variant(dataclasses.replace(lm), "fp16")  # its own fast copy
    output = [m for m in fast.model.modules() if isinstance(m, quant.HalfLinear)][-1]
    output.weight16 = output.weight16 * 1e6  # values past fp16's 65504
    p = ask(lm, "The quick brown")
    kind, message = run(fast, p, GREEDY)[-1]
    assert kind == "error" and "overflowed half precision" in message and "again" in message
    kind, reply = run(fast, p, GREEDY)[-1]
    assert kind == "end" and reply.text == run(lm, p, GREEDY)[-1][1].text  # fp32 now


def test_a_cpu_model_already_in_half_precision_has_no_fast_copy(lm):
    low = dataclasses.replace(lm, model=lm.model, fast="")
    low.model = type(lm.model)(lm.model.config).to(torch.bfloat16).eval()
    assert loading.fast_variant(low) is low


def _copy_without(folder, tmp_path, name, drop):
    import shutil

    target = tmp_path / name
    shutil.copytree(folder, target)
    for f in target.iterdir():
        if drop(f.name):
            f.unlink()
    return target


def test_a_folder_without_tokenizer_files_is_refused_at_load_time(tiny_dir, tmp_path):
    from core.text import sources

    bare = _copy_without(tiny_dir, tmp_path, "bare", lambda n: n.startswith(("tokenizer", "spec")))
    assert (bare / "config.json").is_file() and not (bare / "tokenizer.json").exists()
    with pytest.raises(sources.ModelLoadError, match="no tokenizer files") as err:
        loading.load_model(str(bare), "cpu")
    assert "tokenizer.json" in str(err.value) and "1 token(s)" in str(err.value)


def test_a_tokenizer_with_a_tiny_vocabulary_is_refused(tiny_dir, tmp_path):
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    from core.text import sources

    tiny = _copy_without(tiny_dir, tmp_path, "tiny_vocab", lambda n: n.startswith("tokenizer"))
    core = Tokenizer(models.WordLevel({"[UNK]": 0, "a": 1, "b": 2}, unk_token="[UNK]"))
    PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]").save_pretrained(tiny)
    with pytest.raises(sources.ModelLoadError, match="3 token\\(s\\) in its vocabulary"):
        loading.load_model(str(tiny), "cpu")
