"""Each GPT-2 variant kept as files a user can take: the distilled student and the fp16
weights as Hugging Face folders under the models folder (so the chat's picker lists them and
its loader loads them), dynamic int8 as a torch state dict beside a note (torch's dynamic
int8 layers are no Hugging Face format: `save_pretrained` cannot write them).

    kept = keep.export("distilled student", student, tok, source, "my-gpt2-student-1x64")
    zip_bytes = keep.zipped(kept.path)
"""

from __future__ import annotations

import copy
import io
import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from core import limits, paths
from core.text import quant

MARK = "compressed.json"  # in each kept folder: where it came from, and its run once recorded
INT8_NOTE = (
    "Dynamic int8 cannot be saved as a Hugging Face folder: torch's quantized linear layers "
    "are not a format transformers loads. Kept instead: the int8 state dict (torch.save), "
    "which reloads onto the original's structure (load the original folder, "
    "core.text.quant.int8_dynamic(model), then model.load_state_dict(torch.load(path, "
    "weights_only=False))). The chat needs none of it: pick the original folder there and "
    "its fast path builds int8 (torch or CTranslate2) from it at load, when int8 measures "
    "fastest on this machine."
)


@dataclass(frozen=True, kw_only=True)
class Kept:
    """Where a variant was kept, and what it is."""

    method: str
    path: Path  # a folder (Hugging Face or the int8 state dict and its note)
    chat: bool  # the chat's picker lists it and its loader loads it
    note: str


def kept_folder(name: str, chat: bool) -> Path:
    """models_dir()/name for a folder the chat loads; HOME/compressed/name otherwise (the
    picker lists only folders with a config.json, so int8 stays out of it either way)."""
    return (paths.models_dir() if chat else paths.home() / "compressed") / name


def export(method: str, model: nn.Module, tok, source: Path, name: str) -> Kept:
    """Save `model` (a variant of the model in folder `source`) for `method`: a Hugging Face
    folder (the student; fp16 weights from `model`, the original) or the int8 state dict."""
    limits.check_room("models", paths.models_dir())
    chat = method != "dynamic int8"
    out = kept_folder(name, chat)
    if out.resolve() == source.resolve():
        raise ValueError(f"{out} is the source folder: it is not overwritten.")
    out = free_folder(out)
    out.mkdir(parents=True)
    if method == "dynamic int8":
        with quant.quiet_quantization():
            torch.save(model.state_dict(), out / "int8_state_dict.pt")
        (out / "README.txt").write_text(INT8_NOTE + f"\n\nOriginal folder: {source}\n")
        note = INT8_NOTE
    elif method == "fp16 weights":
        copy.deepcopy(model).half().save_pretrained(out)
        tok.save_pretrained(out)
        note = (
            "fp16 weights in a Hugging Face folder (half the file); the chat loads them into "
            "fp32 on a CPU and into half precision on a GPU."
        )
    else:
        model.save_pretrained(out)
        tok.save_pretrained(out)
        note = "A Hugging Face folder: pick it in Chat with GPT-2."
    mark(out, {"method": method, "source_folder": str(source)})
    return Kept(method=method, path=out, chat=chat, note=note)


def free_folder(out: Path) -> Path:
    """`out` emptied when this tool kept it before (the same variant measured again); a
    folder someone else made is never touched: `out-2`, `out-3`, ... instead."""
    if out.exists() and marked(out):
        shutil.rmtree(out)
    n, free = 1, out
    while free.exists():
        n += 1
        free = out.with_name(f"{out.name}-{n}")
    return free


def mark(folder: Path, facts: dict) -> None:
    """Add `facts` to the folder's MARK file (where it came from, its run)."""
    file = folder / MARK
    old = json.loads(file.read_text()) if file.is_file() else {}
    file.write_text(json.dumps(old | facts, indent=2))


def marked(folder: str | Path) -> dict:
    """The MARK facts of a folder this tool kept ({} for any other folder)."""
    file = Path(folder) / MARK
    try:
        return json.loads(file.read_text()) if file.is_file() else {}
    except (OSError, ValueError):
        return {}


def zipped(folder: Path) -> bytes:
    """Every file of `folder` in a .zip (names relative to it, under the folder's name)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                zf.write(f, Path(folder.name) / f.relative_to(folder))
    return buf.getvalue()


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
