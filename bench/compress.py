"""Compression of the digits CNN with the Compress page's defaults, measured in one run.

- cnn_int8_size_ratio (target <= 0.3): static int8 ONNX file over the original's file, with
  cnn_int8_accuracy_drop_pts (<= 0.5).
- cnn_best_latency_speedup (>= 2): the best trade-off's batch-1 latency (the fastest variant
  within 1 accuracy point) against torch fp32 eager, timed in the same loop, with
  cnn_best_accuracy_drop_pts (<= 1).
- cnn_student_param_ratio (>= 5): teacher over distilled student parameters, with
  cnn_student_accuracy_drop_pts (<= 1).
- tool_overhead_ratio (<= 1.10): the page path's batch-1 p50 of the original over this
  bench's plain timing of the same model (a bare loop of calls, median).
- GPT-2 (core.compress.gpt2): gpt2_int8_decode_speedup and gpt2_fp16_decode_speedup (greedy
  decode tokens/s at batch 1 against plain fp32 `generate`, GPT-2 124M's shape with random
  weights, in the same loop), at the default thread count and at one thread (`_1t`);
  gpt2_int8_perplexity_change and gpt2_fp16_perplexity_change (relative, target <= 0.02) on a
  small GPT-2 trained here on the built-in text (held-out last tenth, window 96, stride 48).
- The distilled student of that small GPT-2 (the page's defaults): gpt2_student_param_ratio,
  gpt2_student_perplexity_change (relative) and the same for the student trained alone
  (gpt2_student_alone_perplexity_change), decode speed-up, greedy agreement, seconds.
Also the CPU's instruction sets and the thread count. Last line: a JSON object.

    python3 bench/compress.py [--threads N] [--part all|cnn|gpt2] [--ppl-steps 150]

`--part cnn` (the same as --no-gpt2) measures the CNN figures and tool_overhead_ratio alone
(about a minute on an idle 2-core CPU); `--part gpt2` (--only-gpt2) the GPT-2 figures alone.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.compress import cnn, measure, sources, tool  # noqa: E402


def plain_p50(model: torch.nn.Module, x: torch.Tensor, calls: int = 300) -> float:
    """Median seconds of a bare loop of batch-1 calls."""
    times = []
    with torch.inference_mode():
        for _ in range(20):
            model(x)
        for _ in range(calls):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=0, help="0: torch's default")
    parser.add_argument("--part", choices=("all", "cnn", "gpt2"), default="all")
    parser.add_argument("--no-gpt2", action="store_true", help="the same as --part cnn")
    parser.add_argument("--only-gpt2", action="store_true", help="the same as --part gpt2")
    parser.add_argument("--ppl-steps", type=int, default=150, help="training for perplexity")
    args = parser.parse_args()
    args.no_gpt2 = args.no_gpt2 or args.part == "cnn"
    args.only_gpt2 = args.only_gpt2 or args.part == "gpt2"
    if args.threads:
        torch.set_num_threads(args.threads)
    m = measure.machine(torch.get_num_threads())
    print(f"CPU: {m.cpu}; {m.describe()}")
    if args.only_gpt2:
        print(json.dumps({"cpu_flags": list(m.flags), **gpt2_figures(args.ppl_steps)}))
        return
    t0 = time.perf_counter()
    source = sources.train_digits()
    print(f"trained the digits CNN in {time.perf_counter() - t0:.1f} s")
    request = tool.request_of(source, tool.DEFAULT_METHODS, cnn.Settings())
    t0 = time.perf_counter()
    c = tool.compress(request)
    x = source.data.floats(c.request.data.y.new_tensor([0]))
    plain = plain_p50(source.classifier.model, x)
    print(f"compressed in {time.perf_counter() - t0:.1f} s")
    for row in tool.rows(c):
        print(
            f"  {row['method']:<26} acc {row['accuracy_pct']:.2f} %  {row['file_kb']:7.1f} KB  "
            f"{row['latency_p50_ms']:.4f} ms  {row['speedup_x']:.2f}x  {row['verdict']}"
        )
    for method, why in c.failed:
        print(f"  failed: {method}: {why}")
    by = {v.method: v for v in c.variants}
    base = c.variants[0]
    int8 = by.get("static int8")
    student = next((v for v in c.variants if v.method.startswith("distilled")), None)
    best = c.best() or max(c.variants[1:], key=lambda v: v.speedup)

    def drop(v):
        return None if v is None else round((base.accuracy - v.accuracy) * 100, 3)

    out = {
        "cpu_flags": list(m.flags),
        "threads": m.threads,
        "original_accuracy": base.accuracy,
        "cnn_int8_size_ratio": int8 and round(int8.size_ratio, 3),
        "cnn_int8_accuracy_drop_pts": drop(int8),
        "cnn_int8_speedup": int8 and round(int8.speedup, 3),
        "cnn_best_method": best.method,
        "cnn_best_latency_speedup": round(best.speedup, 3),
        "cnn_best_accuracy_drop_pts": drop(best),
        "cnn_student_param_ratio": student and round(student.param_ratio, 2),
        "cnn_student_accuracy_drop_pts": drop(student),
        "tool_overhead_ratio": round(base.latency_p50_s / plain, 3),
    }
    if not args.no_gpt2:
        out |= gpt2_figures(args.ppl_steps)
    print(json.dumps(out))


def gpt2_figures(ppl_steps: int) -> dict:
    """Decode speed-ups (default threads and one thread) and perplexity changes."""
    from bench import chat as chat_bench
    from core.compress import gpt2

    out = {}
    lm = chat_bench.gpt2_124m("cpu")
    g = torch.Generator().manual_seed(0)
    prompt = torch.randint(0, 50256, (16,), generator=g)
    held = torch.randint(0, 50256, (97,), generator=g)
    fast = gpt2.TextSettings(window=96, stride=96, new_tokens=32, rounds=2)
    default = torch.get_num_threads()
    for threads, tail in ((default, ""), (1, "_1t")):
        torch.set_num_threads(threads)
        rows = {v.method: v for v in gpt2.compare(lm.model, prompt, held, fast)}
        for key, method in (("int8", "dynamic int8"), ("fp16", "fp16 weights")):
            out[f"gpt2_{key}_decode_speedup{tail}"] = round(rows[method].speedup, 3)
        out[f"gpt2_fp32_tokens_per_s{tail}"] = round(rows["original"].throughput, 2)
        print(f"GPT-2 124M at {threads} threads:", {m: v.verdict for m, v in rows.items()})
    torch.set_num_threads(default)
    small, text, _ = chat_bench.trained_gpt2("cpu", ppl_steps)
    ids = torch.tensor(small.tokenizer(text[int(len(text) * 0.9) :])["input_ids"])
    quality = gpt2.TextSettings(window=96, stride=48, new_tokens=16, rounds=1)
    rows = {v.method: v for v in gpt2.compare(small.model, ids[:16], ids, quality)}
    for key, method in (("int8", "dynamic int8"), ("fp16", "fp16 weights")):
        q = rows[method].quality
        out[f"gpt2_{key}_perplexity_change"] = round(q["perplexity_change"], 5)
        out[f"gpt2_{key}_greedy_agreement_trained"] = round(q["greedy_agreement"], 3)
    out["gpt2_perplexity_fp32"] = round(rows["original"].quality["perplexity"], 3)
    out["gpt2_perplexity_window_stride"] = [96, 48]
    return out | student_figures(small, text, ids, quality, rows["original"])


def student_figures(small, text: str, ids: torch.Tensor, quality, base) -> dict:
    """The page's default student (half the layers and width, T 2, weight 0.5, 200 steps)
    distilled from the small GPT-2, and the same student trained on the text alone (weight
    0 on the teacher), measured beside the teacher as the page does."""
    from core.compress import gpt2, student, textjob
    from core.text import tinygpt

    train = tinygpt.encode(small.tokenizer, textjob.split_text(text)[0]).long()
    out = {}
    for tail, alpha in (("", 0.5), ("_alone", 0.0)):
        s = student.StudentSettings(alpha=alpha)
        t0 = time.perf_counter()
        made, notes = student.distil(small.model, train, s)
        seconds = time.perf_counter() - t0
        v = gpt2.measure(small.model, made, textjob.STUDENT, "fp32", ids[:16], ids, quality, base)
        print(f"student (weight {alpha} on the teacher): {v.verdict}; {notes} {seconds:.1f} s")
        out[f"gpt2_student{tail}_perplexity_change"] = round(v.quality["perplexity_change"], 4)
        out[f"gpt2_student{tail}_train_s"] = round(seconds, 1)
        if not tail:
            out["gpt2_student_param_ratio"] = round(v.param_ratio, 3)
            out["gpt2_student_decode_speedup"] = round(v.speedup, 3)
            out["gpt2_student_greedy_agreement"] = round(v.quality["greedy_agreement"], 3)
            cfg = made.config
            out["gpt2_student_shape"] = [cfg.n_layer, cfg.n_embd, small.model.config.n_layer,
                                         small.model.config.n_embd]  # fmt: skip
    return out


if __name__ == "__main__":
    main()
