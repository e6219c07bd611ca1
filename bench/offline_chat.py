"""The offline chat: how well the own GPT-2 trained with the Chat page's defaults chats.

Trains core.text.tinygpt's small GPT-2 on the built-in text with the "Train your own GPT-2"
tab's defaults (TinyGPTConfig(), which the tab's widgets start from), in a temporary home,
then measures:

- train_seconds: the training (tokenizer, encoding, steps, save) on this machine's clock;
  steps_per_s beside it (the machine is shared, so seconds inflate; steps/s shows by how
  much against train_seconds_per_step_reference, a fixed matmul loop timed in the same run).
- perplexity: exp(mean next-token loss) over the held-out last tenth of the text, in
  non-overlapping windows of the model's context.
- real_word_share: the share of words in 20 sampled replies (fixed prompts, the chat's
  default settings: chat mode, temperature 0.8, top-k 50, top-p 0.95, repetition penalty
  1.1, max new tokens a third of the window, seed 0..19) that occur in the training text's
  vocabulary. Target >= 0.8 with train_seconds <= 150.
Last line: a JSON object.

    python3 bench/offline_chat.py [--steps N] [--show 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import cpu  # noqa: E402

PROMPTS = (
    "Tell me about wine.",
    "What is a data set?",
    "Hello! Who are you?",
    "How do I read a file in Python?",
    "What does this license allow?",
    "Explain what a function is.",
    "What is the weather like today?",
    "Can you help me with my homework?",
    "What is machine learning?",
    "Describe the iris flowers.",
    "How are houses priced?",
    "What is a good name for a cat?",
    "Why is the sky blue?",
    "What is an error?",
    "Tell me a story.",
    "How do computers work?",
    "What should I cook tonight?",
    "What is the meaning of life?",
    "Summarise the text you learnt from.",
    "Thank you, goodbye.",
)
WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def reference_seconds() -> float:
    """A fixed CPU load (128x128 float matmuls), timed now: how busy the machine is."""
    import torch

    a = torch.randn(16 * 96, 128)
    b = torch.randn(128, 512)
    t0 = time.perf_counter()
    for _ in range(200):
        a @ b
    return time.perf_counter() - t0


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def held_out_perplexity(lm, text: str) -> float:
    """exp(mean loss) over the last tenth of `text` in non-overlapping context windows."""
    import torch

    from core.text import tinygpt

    ids = lm.tokenizer(text)["input_ids"]
    val = torch.tensor(ids[int(len(ids) * (1 - tinygpt.VAL_SHARE)) :])
    n = lm.context
    windows = [val[i : i + n] for i in range(0, len(val) - n, n)]
    losses = []
    with torch.inference_mode():
        for w in windows:
            losses.append(lm.model(input_ids=w[None], labels=w[None]).loss.item())
    return math.exp(sum(losses) / len(losses))


def reply(lm, question: str, seed: int) -> str:
    """The chat's reply to `question` with the page's default settings and `seed`."""
    from core.text import generate, prompt

    s = prompt.Settings(max_new_tokens=prompt.default_max_new_tokens(lm.context), seed=seed)
    p = prompt.build_prompt(lm, [prompt.Turn(role="user", content=question)], s)
    for kind, value in generate.stream_reply(lm, p, s, threading.Event()):
        if kind == "end":
            return value.text
        if kind == "error":
            raise RuntimeError(value)
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=0, help="0: the tab's default")
    parser.add_argument("--show", type=int, default=3, help="replies to print")
    parser.add_argument("--set", nargs="*", default=[], help="config changes: width=192 ...")
    args = parser.parse_args()
    os.environ["DASHBOARD_HOME"] = tempfile.mkdtemp(prefix="bench-offline-chat-")
    import torch

    from core.text import loading, tinygpt

    torch.set_num_threads(os.cpu_count() or 1)
    cfg = tinygpt.TinyGPTConfig(name="bench-offline-chat")
    if args.steps:
        cfg = dataclasses.replace(cfg, steps=args.steps)
    changes = dict(kv.split("=", 1) for kv in args.set)
    types = {f.name: f.type for f in dataclasses.fields(cfg)}
    cast = {"int": int, "float": float, "str": str}
    cfg = dataclasses.replace(cfg, **{k: cast[types[k]](v) for k, v in changes.items()})
    text = tinygpt.builtin_corpus()
    ref_before = reference_seconds()
    t0 = time.perf_counter()
    folder = tinygpt.train_small_gpt2(text, cfg, "cpu")
    train_s = time.perf_counter() - t0
    ref = (ref_before + reference_seconds()) / 2
    lm = loading.load_model(str(folder), "cpu")
    vocab = set(words(text))
    replies = [reply(lm, q, seed) for seed, q in enumerate(PROMPTS)]
    said = [w for r in replies for w in words(r)]
    for q, r in list(zip(PROMPTS, replies, strict=True))[: args.show]:
        print(f"User: {q}\nAssistant: {r}\n")
    result = {
        "cpu_flags": cpu.flags(),
        "config": dataclasses.asdict(cfg),
        "parameters": lm.parameters,
        "corpus_chars": len(text),
        "train_seconds": round(train_s, 1),
        "steps_per_s": round(cfg.steps / train_s, 2),
        "reference_matmul_s": round(ref, 3),
        "train_seconds_per_reference": round(train_s / ref, 1),
        "perplexity": round(held_out_perplexity(lm, text), 1),
        "reply_words": len(said),
        "real_word_share": round(sum(w in vocab for w in said) / max(1, len(said)), 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
