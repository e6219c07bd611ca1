"""Generation speed on the GPT-2 124M architecture (random weights: nothing to download, and
they cost exactly what the real ones do).

- tokens_per_s_app: through the app's path (core.textgen.stream_reply: worker thread, model
  lock, streaming, per-token probabilities, stats), new tokens / wall time of the call.
- tokens_per_s_plain: plain `model.generate`, same prompt, settings and seed.
- tokens_per_s_ratio = app / plain (target >= 0.95); ttft_app_s / ttft_plain_s: time to
  the first new token (plain: a 1-token generate).
Medians over --repeats, app and plain interleaved. Last line: a JSON object.

    python3 bench/chat.py [--tokens 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core import device as dev  # noqa: E402
from core import textgen  # noqa: E402


def gpt2_124m(device: str) -> textgen.LoadedModel:
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
    return textgen.LoadedModel("gpt2-124m-random", model, tok, device, 1024, n)


def plain(lm, ids: torch.Tensor, n: int, seed: int) -> tuple[float, int]:
    """(seconds, new tokens) of model.generate with the app's sampling settings."""
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = lm.model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=n,
            do_sample=True,
            temperature=0.8,
            top_k=50,
            top_p=1.0,
            repetition_penalty=1.0,
            pad_token_id=50256,
        )
    return time.perf_counter() - t0, out.shape[1] - ids.shape[1]


def app(lm, prompt, n: int, seed: int) -> textgen.Reply:
    s = textgen.Settings(
        temperature=0.8,
        top_k=50,
        top_p=1.0,
        repetition_penalty=1.0,
        max_new_tokens=n,
        seed=seed,
        mode="completion",
    )
    t0 = time.perf_counter()
    *_, (kind, reply) = textgen.stream_reply(lm, prompt, s, threading.Event())
    assert kind == "end", reply
    reply.seconds = time.perf_counter() - t0  # the whole call, as the plain side is timed
    return reply


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = dev.choose_device()
    lm = gpt2_124m(device)
    text = " ".join(f"w{i * 37 % 50000}" for i in range(32))
    prompt = textgen.build_prompt(
        lm,
        [{"role": "user", "content": text}],
        textgen.Settings(mode="completion", max_new_tokens=args.tokens),
    )
    ids = torch.tensor([prompt.ids], device=device)
    plain(lm, ids, 4, 0)  # warm-up
    app(lm, prompt, 4, 0)
    rows = {"app": [], "plain": [], "ttft_app": [], "ttft_plain": []}
    for r in range(args.repeats):
        seconds, count = plain(lm, ids, args.tokens, r)
        rows["plain"].append(count / seconds)
        reply = app(lm, prompt, args.tokens, r)
        rows["app"].append(reply.new_tokens / reply.seconds)
        rows["ttft_app"].append(reply.ttft_s + reply.waited_s)
        rows["ttft_plain"].append(plain(lm, ids, 1, r)[0])
        print(f"repeat {r + 1}: app {rows['app'][-1]:.1f} tokens/s, plain {rows['plain'][-1]:.1f}")
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(
        json.dumps(
            {
                "device": device,
                "parameters": lm.parameters,
                "new_tokens": args.tokens,
                "tokens_per_s_app": round(med["app"], 2),
                "tokens_per_s_plain": round(med["plain"], 2),
                "tokens_per_s_ratio": round(med["app"] / med["plain"], 3),
                "ttft_app_s": round(med["ttft_app"], 4),
                "ttft_plain_s": round(med["ttft_plain"], 4),
                "repeats": args.repeats,
            }
        )
    )


if __name__ == "__main__":
    main()
