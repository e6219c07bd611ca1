"""What several test files build: an AppTest on one page, zips of images, a tiny GPT-2."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import torch
from streamlit.testing.v1 import AppTest

from core.text.tinygpt import train_tokenizer

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def open_page(path: str, timeout: float = 120) -> AppTest:
    """Run app.py and switch to the page at `path` (relative to app.py)."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    if path != "pages/home.py":
        at.switch_page(path).run()
    return at


def open_tab(at: AppTest, key: str, name: str) -> AppTest:
    """Open tab `name` of the lazy `st.tabs` under `key`, as a click on it does, and rerun:
    such a page draws only its open tab."""
    at.session_state[key] = name
    return at.run()


def archive(files: dict[str, bytes]) -> bytes:
    """A .zip holding `files` (name -> content)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()


def save_tiny_gpt2(folder: Path, text: str, positions: int, vocab: int = 300) -> Path:
    """A random 2-layer GPT-2 and a byte-level BPE tokenizer trained on `text`, saved with
    save_pretrained into `folder`."""
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = train_tokenizer(text, vocab, min_frequency=1)
    torch.manual_seed(0)
    cfg = GPT2Config(
        vocab_size=len(tok),
        n_positions=positions,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=tok.eos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    GPT2LMHeadModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def widget_keys(node) -> list[str]:
    """The keys of every widget AppTest found under `node`."""
    keys = []
    key = getattr(node, "key", None)
    if isinstance(key, str):
        keys.append(key)
    for child in getattr(node, "children", {}).values():
        keys += widget_keys(child)
    return keys
