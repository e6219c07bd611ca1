"""The chat's CPU fast path against every candidate engine, on the GPT-2 124M architecture
(random weights: they cost what the real ones do), same prompt, greedy, batch 1, same
threads, at the machine's default thread count and at one thread (each in its own process).

- tokens_per_s[engine]: greedy decode tokens/s after the first token. plain = transformers
  fp32 `generate`; fp16 = core.text.quant.half_linears; int8-torch = quantize_dynamic after
  Conv1D -> Linear; ct2-<type> = CTranslate2's own `generate_tokens` (the reference, not the
  app's wrapper) in int8, int8_float32 and float32; app = the chat's fast path
  (core.text.loading.fast_variant, engine chosen by measurement at load) through the app's
  streaming reply (core.text.generate.stream_reply: worker, lock, token view).
  The torch engines here decode in the main thread with no other OpenMP team alive (their
  best case); a reply decodes in a worker beside the page's thread, where torch's OpenMP
  sleeps between parallel regions (core.text.fastpath.like_a_reply), so the app calibrates
  that way, and on more than one thread also times its choice on one thread.
- speedup[engine]: tokens/s over plain's in the same process.
- fast_vs_ctranslate2_int8: app tokens/s over CTranslate2 int8's at the same thread count
  (target >= 0.9); fast_vs_ctranslate2_int8_best_threads: the app at the default count
  over CTranslate2 int8 at its faster count (default or one thread).
- perplexity_change[engine]: relative, on held-out built-in text, for a small GPT-2 trained
  here (window 96, stride 96); every position through the engine's low-precision kernels.
Last line: a JSON object.

    python3 bench/fastpath.py [--tokens 32] [--repeats 2] [--ppl-steps 60]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import cpu  # noqa: E402


def torch_decode(model, ids, n: int, repeats: int) -> float:
    """Greedy decode tokens/s, first new token to last (best of `repeats`, after a warm-up)."""
    from core.text import fastpath

    fastpath.greedy(model, ids, 2, 0)  # warm-up
    rates = []
    for _ in range(repeats):
        stamps = fastpath.Stamps()
        fastpath.greedy(model, ids, n, 0, stamps)
        rates.append(stamps.decode_rate())
    return max(rates)


def ct2_decode(folder, lm, ids, n: int, repeats: int, compute_type: str, threads: int) -> float:
    """CTranslate2's own streaming generation: (n-1) tokens over first-to-last token time."""
    import ctranslate2

    gen = ctranslate2.Generator(
        str(folder), device="cpu", compute_type=compute_type, intra_threads=threads
    )
    tokens = lm.tokenizer.convert_ids_to_tokens(ids)
    rates = []
    for _ in range(repeats + 1):  # the first is a warm-up
        stamps = []
        for _step in gen.generate_tokens(tokens, max_length=n, min_length=n):
            stamps.append(time.perf_counter())
        rates.append((len(stamps) - 1) / (stamps[-1] - stamps[0]))
    return max(rates[1:])


def app_decode(fast, ids, n: int, repeats: int) -> float:
    from core.text import generate, prompt

    p = prompt.Prompt(ids=list(ids), text="", budget=len(ids), dropped_turns=0)
    s = prompt.Settings(temperature=0, repetition_penalty=1.0, max_new_tokens=n, mode="completion")
    rates = []
    for _ in range(repeats + 1):
        *_, (kind, reply) = generate.stream_reply(fast, p, s, threading.Event())
        assert kind == "end", reply
        rates.append(reply.tokens_per_s)
    return max(rates[1:])


def speeds(args) -> dict:
    """Every engine's tokens/s on the 124M model at this process's thread count."""
    import torch

    from bench.chat import gpt2_124m
    from core.text import ct2, fastpath, loading

    threads = torch.get_num_threads()
    lm = gpt2_124m("cpu")
    ids = [(i * 7919) % 50000 for i in range(32)]
    rates = {}
    for engine in ("plain", "fp16", "int8-torch"):
        rates[engine] = torch_decode(
            fastpath.build(lm, engine, threads), ids, args.tokens, args.repeats
        )
    folder = ct2.converted(lm, fastpath.cache_dir())
    for kind in ("int8", "int8_float32", "float32"):
        rates[f"ct2-{kind}"] = ct2_decode(folder, lm, ids, args.tokens, args.repeats, kind, threads)
    t0 = time.perf_counter()
    fast = loading.fast_variant(lm)  # calibrates (once per model and machine) and builds
    load_s = time.perf_counter() - t0
    rates["app"] = app_decode(fast, ids, args.tokens, args.repeats)
    return {
        "threads": threads,
        "tokens_per_s": {k: round(v, 2) for k, v in rates.items()},
        "speedup": {k: round(v / rates["plain"], 3) for k, v in rates.items()},
        "fast_vs_ctranslate2_int8": round(rates["app"] / rates["ct2-int8"], 3),
        "app_engine": fast.engine,
        "app_caption": fast.fast,
        "app_first_load_s": round(load_s, 1),
        "calibration": [dataclasses.asdict(m) for m in fast.choice.measured],
    }


def perplexities(steps: int) -> dict:
    """Relative perplexity change per engine on a small GPT-2 trained on the built-in text."""
    import torch

    from bench.chat import perplexity
    from core.text import ct2, fastpath, loading, quant, tinygpt

    text = tinygpt.builtin_corpus()
    cfg = tinygpt.TinyGPTConfig(name="bench-fastpath", steps=steps, context=96, batch_size=16)
    folder = tinygpt.train_small_gpt2(text, cfg, "cpu")
    lm = loading.load_model(str(folder), "cpu")
    ids = torch.tensor(lm.tokenizer(text[int(len(text) * 0.9) :])["input_ids"])
    base = perplexity(lm.model, ids, 96)
    out = {"fp32": round(base, 3)}
    rows, quant.DECODE_ROWS = quant.DECODE_ROWS, 10**9  # every position on fp16 weights
    try:
        out["fp16"] = perplexity(fastpath.build(lm, "fp16", 1), ids, 96)
    finally:
        quant.DECODE_ROWS = rows
    with quant.quiet_quantization():
        out["int8-torch"] = perplexity(quant.int8_dynamic(lm.model), ids, 96)
    folder = ct2.converted(lm, fastpath.cache_dir())
    blocks = ids[: len(ids) // 96 * 96].view(-1, 96).tolist()
    for kind in ("int8", "float32"):
        model = ct2.CT2Model(lm, folder, kind, 1)
        nll = [math.log(model.perplexity(b)) for b in blocks]
        out[f"ct2-{kind}"] = math.exp(statistics.mean(nll))
    return {
        "perplexity": {k: round(v, 3) for k, v in out.items()},
        "perplexity_change": {k: round(v / base - 1, 5) for k, v in out.items() if k != "fp32"},
        "window": 96,
        "stride": 96,
        "train_steps": steps,
    }


def child(args) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    result = perplexities(args.ppl_steps) if args.part == "ppl" else speeds(args)
    print(json.dumps(result))


def run_child(part: str, threads: int, args, home: str) -> dict:
    cmd = [sys.executable, __file__, "--part", part, "--threads", str(threads)]
    cmd += ["--tokens", str(args.tokens), "--repeats", str(args.repeats)]
    cmd += ["--ppl-steps", str(args.ppl_steps)]
    env = os.environ | {"DASHBOARD_HOME": home, "DASHBOARD_MODELS": home + "/models"}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode:
        raise SystemExit(f"{part} at {threads} threads failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--ppl-steps", type=int, default=60)
    parser.add_argument("--part", choices=("speed", "ppl"), default=None)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.part:
        return child(args)
    print(cpu.describe(), flush=True)
    with tempfile.TemporaryDirectory() as home:
        default = run_child("speed", 0, args, home)
        print(f"default threads ({default['threads']}):", json.dumps(default["tokens_per_s"]))
        one = run_child("speed", 1, args, home)
        print("1 thread:", json.dumps(one["tokens_per_s"]), flush=True)
        quality = run_child("ppl", 1, args, home)
        print("perplexity change:", json.dumps(quality["perplexity_change"]), flush=True)
    result = {
        "cpu_flags": cpu.flags(),
        "fast_vs_ctranslate2_int8": default["fast_vs_ctranslate2_int8"],
        "fast_vs_ctranslate2_int8_1thread": one["fast_vs_ctranslate2_int8"],
        "fast_vs_ctranslate2_int8_best_threads": round(
            default["tokens_per_s"]["app"]
            / max(default["tokens_per_s"]["ct2-int8"], one["tokens_per_s"]["ct2-int8"]),
            3,
        ),
        "app_engine": default["app_engine"],
        "app_caption": default["app_caption"],
        "speedup": default["speedup"],
        "speedup_1thread": one["speedup"],
        "default": default,
        "one_thread": one,
        **quality,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
