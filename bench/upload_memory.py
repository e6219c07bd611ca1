"""Memory of the own GPT-2's text path: an uploaded text read, its tokenizer trained and the
text encoded (core.text.tinygpt's read_corpus, train_tokenizer and encode, as a training
runs them), in a fresh subprocess per size so its peak resident memory is its own.

- peak_mb_per_upload_mb: (peak RSS - RSS after the imports) / the text's MB, for a 5 MB and
  a 20 MB text (target <= 20; the old whole-text encode measured ~216).
- reference_old_encode_mb_per_mb: the same for the old path (one tok(text) call over the
  whole text, Python lists, a long tensor) on a 2 MB text, in the same run.
- max_text_mb: the largest text a training takes (tinygpt.MAX_TEXT_MB), with the peak it
  projects and this machine's memory beside it.
Last line: a JSON object.

    python3 bench/upload_memory.py [--sizes 5 20]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import cpu  # noqa: E402

CHILD = r"""
import resource, sys, json
sys.path.insert(0, sys.argv[1])
import torch
from core.text import tinygpt
mb, old = float(sys.argv[2]), sys.argv[3] == "old"
def rss_mb():  # the peak so far, MB (ru_maxrss is KiB on Linux)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
seed = tinygpt.builtin_corpus()
# a text that is not one paragraph repeated: numbered copies with their words shuffled
import random
rng, words, parts, size = random.Random(0), seed.split(" "), [], 0
while size < mb * 2**20:
    rng.shuffle(words)
    parts.append(" ".join(words[:2000]) + "\n")
    size += len(parts[-1])
raw = "".join(parts).encode()[: int(mb * 2**20)]
del parts
tok0 = tinygpt.train_tokenizer(seed, 1024)  # imports and a tokenizer's fixed cost
base = rss_mb()
text = tinygpt.read_corpus(raw)
if old:
    ids = torch.tensor(tok0(text)["input_ids"], dtype=torch.long)
else:
    tok = tinygpt.train_tokenizer(text, 1024)
    ids = tinygpt.encode(tok, text)
print(json.dumps({"mb": len(raw) / 2**20, "tokens": len(ids), "peak_mb": rss_mb() - base}))
"""


def measure(mb: float, old: bool = False) -> dict:
    """Peak MB above the baseline for a `mb` MB text, in a fresh subprocess."""
    cmd = [sys.executable, "-c", CHILD, str(ROOT), str(mb), "old" if old else "new"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    return got | {"mb_per_mb": round(got["peak_mb"] / got["mb"], 1)}


def machine_mb() -> float:
    """This machine's memory, MB."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="*", default=[5, 20])
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from core.text import tinygpt

    runs = {f"{mb:g}_mb": measure(mb) for mb in args.sizes}
    old = measure(2, old=True)
    for name, r in runs.items():
        print(f"{name}: {r}")
    print(f"old encode, 2 MB: {old}")
    worst = max(r["mb_per_mb"] for r in runs.values())
    result = {
        "peak_mb_per_upload_mb": {name: r["mb_per_mb"] for name, r in runs.items()},
        "reference_old_encode_mb_per_mb": old["mb_per_mb"],
        "max_text_mb": tinygpt.MAX_TEXT_MB,
        "projected_peak_mb_at_max": round(worst * tinygpt.MAX_TEXT_MB),
        "machine_mb": round(machine_mb()),
    }
    print(json.dumps(cpu.stamp(result)))


if __name__ == "__main__":
    main()
