"""Where a causal LM comes from: a hub id or a model folder, checked before anything loads;
the folders the app saved or a user copied in; and the hub download, with progress.

Only the hub (huggingface.co) is ever contacted, and only for a hub id not already in the
local hub cache.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path

from core import paths
from core.progress import QUIET, Progress

SUGGESTED = ("gpt2", "distilgpt2", "gpt2-medium")
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,95})?$")
WEIGHT_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken", "tokenizer*"]


class ModelLoadError(ValueError):
    """A model that cannot be loaded, with what to do about it."""


def models_dir() -> Path:
    """Trained and hand-copied models: $DASHBOARD_MODELS or $DASHBOARD_HOME/models."""
    return paths.models_dir()


def local_models() -> list[str]:
    """Folders under models_dir() that hold a saved model (config.json), then the models
    kept in memory only (core.text.memory: trained here, their folder not writable)."""
    from core.text import memory

    root = models_dir()
    saved = sorted(str(p.parent) for p in root.glob("*/config.json")) if root.is_dir() else []
    return saved + memory.sources()


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under `folder` (0 when it does not exist)."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.is_dir() else 0


def model_label(source: str) -> str:
    """How the picker names a model: a local folder by its name, size (MB) and date; a model
    kept in memory by its name and that it is not saved."""
    from core.text import memory

    if memory.is_memory(source):
        return f"{source.removeprefix(memory.PREFIX)} - in memory only, not saved"
    folder = Path(source)
    if not (folder / "config.json").is_file():
        return source
    stamp = time.strftime(
        "%Y-%m-%d %H:%M", time.localtime((folder / "config.json").stat().st_mtime)
    )
    return f"{folder.name} - {folder_bytes(folder) / 1e6:,.1f} MB, {stamp}"


def model_exists(name: str) -> bool:
    """Whether a trained model called `name` is already saved (training would replace it)."""
    return (models_dir() / name / "config.json").is_file()


def check_source(source: str) -> Path | str:
    """A model folder (Path) or a hub id (str); ModelLoadError saying why it is neither."""
    source = source.strip()
    if not source:
        raise ModelLoadError("Type a Hugging Face model id (e.g. gpt2) or pick a local folder.")
    if "://" in source:
        raise ModelLoadError(
            f"{source!r} is a web address, not a model: type a hub id such as gpt2 or "
            "openai-community/gpt2, or a folder on this machine."
        )
    folder = Path(source).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise ModelLoadError(
                f"{source} is not a model folder: it has no config.json. Pick the folder "
                "that save_pretrained wrote (config.json, weights and tokenizer files)."
            )
        return folder
    if not HUB_ID.match(source) or ".." in source:
        raise ModelLoadError(
            f"No folder {source!r} exists here, and it is not a hub id (those look like "
            "gpt2 or org/name)."
        )
    return source


def hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    """Whether the model hub answers at all (a quick check before a slow, retrying download)."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def needs_download(source: str) -> bool:
    """True for a hub id that is neither a local folder nor in the local hub cache."""
    from transformers import AutoConfig

    try:
        if isinstance(check_source(source), Path):
            return False
    except ModelLoadError:
        return False  # loading explains what is wrong with it
    try:
        AutoConfig.from_pretrained(source, local_files_only=True)
        return False
    except (OSError, ValueError):
        return True


def download_model(repo_id: str, progress: Progress = QUIET) -> str:
    """Fetch a hub model's config, tokenizer and safetensors weights into the local hub
    cache, reporting bytes against the repository's listed sizes; returns the local path.
    huggingface_hub offers no way to interrupt a download; what arrived stays in the cache
    and a second attempt resumes from it."""
    from huggingface_hub import HfApi, constants, snapshot_download

    if not hub_reachable():
        raise ModelLoadError(f"Cannot download {repo_id!r}: there is no network.")
    info = HfApi().model_info(repo_id, files_metadata=True)
    names = [s.rfilename for s in info.siblings]
    patterns = WEIGHT_PATTERNS + (
        [] if any(n.endswith(".safetensors") for n in names) else ["*.bin"]
    )
    total = sum(
        s.size or 0 for s in info.siblings if any(Path(s.rfilename).match(p) for p in patterns)
    )
    blobs = Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}" / "blobs"
    before, finished = folder_bytes(blobs), threading.Event()

    def watch() -> None:
        while not finished.wait(0.5):
            got = folder_bytes(blobs) - before
            fraction = got / total if total else 0.0
            progress.report(fraction, f"{got / 2**20:,.0f} of {total / 2**20:,.0f} MiB")

    threading.Thread(target=watch, daemon=True).start()
    try:
        return snapshot_download(repo_id, allow_patterns=patterns)
    finally:
        finished.set()
