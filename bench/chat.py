"""Generation speed on the GPT-2 124M architecture (random weights: nothing to download, and
they cost exactly what the real ones do), the app's path against plain `generate`, and the
fast path against plain fp32.

- tokens_per_s_app / tokens_per_s_plain / tokens_per_s_ratio: the app's path
  (core.text.generate.stream_reply: worker thread, model lock, streaming, per-token
  probabilities) against plain `model.generate`, same prompt, settings and seed (target
  ratio >= 0.95).
- tokens_per_s_fast / fast_vs_plain_ratio: the app's path on core.text.loading.fast_variant (CPU:
  the engine measured fastest at load, core.text.fastpath - bench/fastpath.py compares every
  candidate; CUDA: half precision + static cache, compiled) against plain
  fp32 `generate`, after warm-up (target >= 1.5); fast_first_call_s: the warm-up call
  (compile time on CUDA).
- greedy_agreement: share of greedy tokens identical to plain fp32 over the prompts, position
  by position (one early difference makes the rest of that continuation differ), on the
  random-weight 124M model, whose next-token scores are nearly tied (target >= 0.95);
  greedy_agreement_trained: the same on the small GPT-2 trained here, prompts cut from text
  it did not train on.
- perplexity_change: relative change of perplexity, fast vs fp32, on held-out built-in text
  for a small GPT-2 trained on the built-in text here, every position through the fast
  path's kernels (target <= 0.01).
- weight_read_gb_per_s: a matrix-vector product's weight-read speed (fp32), and the decode
  bound it implies for fp32 and half-precision weights (tokens/s <= bandwidth / weight bytes).
Medians over --repeats, interleaved. Last line: a JSON object.

    python3 bench/chat.py [--tokens 64] [--repeats 3] [--ppl-steps 300]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import cpu  # noqa: E402
from core import device as dev  # noqa: E402
from core.text import generate, loading, prompt, tinygpt  # noqa: E402

SAMPLING = dict(temperature=0.8, top_k=50, top_p=1.0, repetition_penalty=1.0)


def gpt2_124m(device: str) -> loading.LoadedModel:
    """GPT-2 small's exact shape with random weights and a 50,257-entry word tokenizer."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab = {f"w{i}": i for i in range(50256)} | {"<|endoftext|>": 50256}
    core_tok = Tokenizer(WordLevel(vocab, unk_token="<|endoftext|>"))
    core_tok.pre_tokenizer = WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=core_tok, eos_token="<|endoftext|>")
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config()).to(device).eval()  # 124M parameters, 1,024 positions
    n = sum(p.numel() for p in model.parameters())
    return loading.LoadedModel(
        name="gpt2-124m-random",
        model=model,
        tokenizer=tok,
        device=device,
        context=1024,
        parameters=n,
    )


def plain(lm, ids: torch.Tensor, n: int, seed: int, greedy: bool = False) -> tuple[float, list]:
    """(seconds, new token ids) of model.generate with the app's sampling settings, called
    from a thread as the app calls it: on an oversubscribed machine OpenMP's main-thread
    team ran the same call 3-6x slower than a thread did (12 s vs 2-4 s, load 16 on 2 cores),
    which would flatter the app."""
    out: dict = {}
    worker = threading.Thread(target=lambda: out.update(r=_generate(lm, ids, n, seed, greedy)))
    worker.start()
    worker.join()
    return out["r"]


def _generate(lm, ids: torch.Tensor, n: int, seed: int, greedy: bool) -> tuple[float, list]:
    torch.manual_seed(seed)
    # greedy comparisons need equal lengths; the timed (sampling) calls get no extra processor
    sampling = (
        dict(do_sample=False, min_new_tokens=n) if greedy else dict(do_sample=True, **SAMPLING)
    )
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = lm.model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=n,
            pad_token_id=50256,
            **sampling,
        )
    return time.perf_counter() - t0, out[0, ids.shape[1] :].tolist()


def app(lm, fitted, n: int, seed: int) -> generate.Reply:
    """A reply through the app's streaming path; seconds = the whole call."""
    s = prompt.Settings(max_new_tokens=n, seed=seed, mode="completion", **SAMPLING)
    t0 = time.perf_counter()
    *_, (kind, reply) = generate.stream_reply(lm, fitted, s, threading.Event())
    assert kind == "end", reply
    reply.seconds = time.perf_counter() - t0  # the whole call, as the plain side is timed
    return reply


def prompt_of(lm, i: int) -> prompt.Prompt:
    text = " ".join(f"w{(i * 7919 + j * 37) % 50000}" for j in range(32))
    settings = prompt.Settings(mode="completion", max_new_tokens=64)
    return prompt.build_prompt(lm, [prompt.Turn(role="user", content=text)], settings)


def speeds(lm, fast, fitted, args) -> dict:
    """Median tokens/s of plain, app and fast-app, interleaved; TTFTs; the fast warm-up."""
    ids = torch.tensor([fitted.ids], device=lm.device)
    plain(lm, ids, 4, 0)  # warm-up
    app(lm, fitted, 4, 0)
    t0 = time.perf_counter()
    app(fast, fitted, 4, 0)  # first call: fp16 copies warm / compilation
    first = time.perf_counter() - t0
    rows = {"app": [], "plain": [], "fast": [], "ttft_app": [], "ttft_plain": []}
    for r in range(args.repeats):
        seconds, new = plain(lm, ids, args.tokens, r)
        rows["plain"].append(len(new) / seconds)
        reply = app(lm, fitted, args.tokens, r)
        rows["app"].append(reply.new_tokens / reply.seconds)
        reply_fast = app(fast, fitted, args.tokens, r)
        rows["fast"].append(reply_fast.new_tokens / reply_fast.seconds)
        rows["ttft_app"].append(reply.ttft_s + reply.waited_s)
        rows["ttft_plain"].append(plain(lm, ids, 1, r)[0])
        print(
            f"repeat {r + 1}: plain {rows['plain'][-1]:.1f} tokens/s, app {rows['app'][-1]:.1f}, "
            f"fast {rows['fast'][-1]:.1f}",
            flush=True,
        )
    return {k: statistics.median(v) for k, v in rows.items()} | {"first": first, "rows": rows}


def greedy_agreement(lm, fast, prompts: int, n: int) -> float:
    """Share of greedy tokens (position by position) the fast model shares with fp32."""
    same = total = 0
    for i in range(prompts):
        ids = torch.tensor([prompt_of(lm, i).ids], device=lm.device)
        a, b = plain(lm, ids, n, 0, greedy=True)[1], plain(fast, ids, n, 0, greedy=True)[1]
        same += sum(x == y for x, y in zip(a, b, strict=True))
        total += n
    return same / total


@torch.inference_mode()
def perplexity(model, ids: torch.Tensor, window: int) -> float:
    """exp(mean next-token loss) over consecutive `window`-token blocks of `ids`."""
    blocks = ids[: len(ids) // window * window].view(-1, window)
    if hasattr(model, "perplexity"):  # a CTranslate2 fast path scores itself
        nll = [math.log(model.perplexity(b.tolist())) for b in blocks]
        return math.exp(statistics.mean(nll))
    losses = [model(input_ids=b[None], labels=b[None]).loss.float() for b in blocks]
    return math.exp(torch.stack(losses).mean().item())


def trained_gpt2(device: str, steps: int) -> tuple[loading.LoadedModel, str, float]:
    """A small GPT-2 trained on the built-in text here (fp32), the text, the training seconds."""
    text = tinygpt.builtin_corpus()
    with tempfile.TemporaryDirectory() as home:
        os.environ["DASHBOARD_MODELS"] = home
        cfg = tinygpt.TinyGPTConfig(name="bench-ppl", steps=steps, context=96, batch_size=16)
        t0 = time.perf_counter()
        folder = tinygpt.train_small_gpt2(text, cfg, device)
        trained_s = time.perf_counter() - t0
        lm = loading.load_model(str(folder), device)
    if lm.model.dtype != torch.float32:  # GPUs load in half precision: compare with fp32
        lm = dataclasses.replace(lm, model=lm.model.float())
    return lm, text, trained_s


def perplexity_change(lm, text: str) -> dict:
    """Perplexity of fp32 vs the fast variant on the held-out last tenth of the text. On a CPU
    the fast path runs prompts in fp32 and generated tokens on fp16 weights: here every
    position goes through the fp16 weights, as a generated token would."""
    from core.text import quant

    fast = loading.fast_variant(lm)
    held_out = text[int(len(text) * 0.9) :]
    ids = torch.tensor(lm.tokenizer(held_out)["input_ids"], device=lm.device)
    rows, quant.DECODE_ROWS = quant.DECODE_ROWS, 10**9
    try:
        base, low = perplexity(lm.model, ids, 96), perplexity(fast.model, ids, 96)
    finally:
        quant.DECODE_ROWS = rows
    return {"fp32": base, "fast": low, "change": low / base - 1}


def trained_agreement(lm, text: str, prompts: int, n: int) -> float:
    """greedy_agreement's measure on the trained model, prompts cut from the held-out text."""
    fast = loading.fast_variant(lm)
    ids = lm.tokenizer(text[int(len(text) * 0.9) :])["input_ids"]
    same = 0
    for i in range(prompts):
        start = i * (len(ids) - 32) // prompts
        head = torch.tensor([ids[start : start + 24]], device=lm.device)
        a, b = plain(lm, head, n, 0, greedy=True)[1], plain(fast, head, n, 0, greedy=True)[1]
        same += sum(x == y for x, y in zip(a, b, strict=True))
    return same / (prompts * n)


def weight_read(device: str, rows: int = 50257, cols: int = 768, repeats: int = 30) -> float:
    """GB/s at which a matrix-vector product reads fp32 weights (GPT-2's output layer)."""
    w = torch.randn(rows, cols, device=device)
    x = torch.randn(cols, device=device)
    for _ in range(3):
        torch.mv(w, x)
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeats):
        torch.mv(w, x)
    if device == "cuda":
        torch.cuda.synchronize()
    return w.numel() * 4 * repeats / (time.perf_counter() - t0) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=4, help="for greedy_agreement")
    parser.add_argument("--ppl-steps", type=int, default=300, help="training for perplexity")
    args = parser.parse_args()
    device = dev.choose_device()
    lm = gpt2_124m(device)
    fast = loading.fast_variant(lm)
    med = speeds(lm, fast, prompt_of(lm, 0), args)
    agreement = greedy_agreement(lm, fast, args.prompts, 32)
    small, text, trained_s = trained_gpt2(device, args.ppl_steps)
    ppl = perplexity_change(small, text)
    agreement_trained = trained_agreement(small, text, args.prompts * 2, 32)
    gbps = weight_read(device)
    weight_bytes = sum(p.numel() for p in lm.model.parameters()) * 4
    result = {
        "device": device,
        "cpu_native_bf16": loading.cpu_has_bf16(),
        "fast_path": fast.fast,
        "fast_path_on_by_default": loading.fast_path_pays(device, lm.parameters),
        "parameters": lm.parameters,
        "new_tokens": args.tokens,
        "tokens_per_s_app": round(med["app"], 2),
        "tokens_per_s_plain": round(med["plain"], 2),
        "tokens_per_s_ratio": round(med["app"] / med["plain"], 3),
        "tokens_per_s_fast": round(med["fast"], 2),
        "fast_vs_plain_ratio": round(med["fast"] / med["plain"], 3),
        "fast_first_call_s": round(med["first"], 2),
        "ttft_app_s": round(med["ttft_app"], 4),
        "ttft_plain_s": round(med["ttft_plain"], 4),
        "greedy_agreement": round(agreement, 4),
        "greedy_agreement_trained": round(agreement_trained, 4),
        "perplexity_fp32": round(ppl["fp32"], 3),
        "perplexity_fast": round(ppl["fast"], 3),
        "perplexity_change": round(ppl["change"], 5),
        "weight_read_gb_per_s": round(gbps, 2),
        "bound_tokens_per_s_fp32": round(gbps * 1e9 / weight_bytes, 1),
        "bound_tokens_per_s_fp16": round(gbps * 1e9 / (weight_bytes / 2), 1),
        "small_model_train_s": round(trained_s, 1),
        "repeats": args.repeats,
        "runs": {k: [round(x, 2) for x in v] for k, v in med["rows"].items()},
    }
    print(json.dumps(cpu.stamp(result)))


if __name__ == "__main__":
    main()
