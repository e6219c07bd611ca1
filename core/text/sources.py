"""Where a causal LM comes from: a hub id or a model folder, checked before anything loads;
the folders the app saved or a user copied in; and the hub download, with progress.

Only the hub (huggingface.co) is ever contacted, and only for a hub id not already in the
local hub cache.
"""

from __future__ import annotations

import functools
import re
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from core import paths
from core.progress import QUIET, Progress


@dataclass(frozen=True, kw_only=True)
class Suggestion:
    """A hub model the picker suggests, with what it needs (from its model card and files)."""

    hub_id: str
    parameters: int
    licence: str
    download_mb: int  # the config, tokenizer and safetensors weights, MB
    chats: bool  # instruction-tuned, with a chat template; False: a base model continues text


SUGGESTIONS = (  # GPT-2 first: the product is "chat with GPT-2"
    Suggestion(hub_id="gpt2", parameters=124_439_808, licence="MIT", download_mb=551,
               chats=False),
    Suggestion(hub_id="HuggingFaceTB/SmolLM2-135M-Instruct", parameters=134_515_008,
               licence="Apache-2.0", download_mb=273, chats=True),
    Suggestion(hub_id="HuggingFaceTB/SmolLM2-360M-Instruct", parameters=361_821_120,
               licence="Apache-2.0", download_mb=728, chats=True),
    Suggestion(hub_id="Qwen/Qwen2.5-0.5B-Instruct", parameters=494_032_768,
               licence="Apache-2.0", download_mb=999, chats=True),
    Suggestion(hub_id="distilgpt2", parameters=81_912_576, licence="Apache-2.0",
               download_mb=356, chats=False),
    Suggestion(hub_id="gpt2-medium", parameters=354_823_168, licence="MIT", download_mb=1_524,
               chats=False),
)  # fmt: skip
SUGGESTED = tuple(s.hub_id for s in SUGGESTIONS)
DEFAULT = "gpt2"
RUNTIME_OVERHEAD = 1.2  # activations, KV cache and the runtime over the weights (a guess)
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


def suggestion(source: str) -> Suggestion | None:
    return next((s for s in SUGGESTIONS if s.hub_id == source), None)


def memory_gb(s: Suggestion, bytes_per_param: float) -> float:
    """Memory the loaded model takes, GB: its weights and some room to run."""
    return s.parameters * bytes_per_param * RUNTIME_OVERHEAD / 1e9


def cached(hub_id: str) -> bool:
    """Whether `hub_id`'s config is in the local hub cache (cheap: no transformers import)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(hub_id, "config.json")
    return isinstance(found, str)


def default_model(network: bool) -> str:
    """The picker's default: GPT-2 where it can load (cached, or a network to fetch it),
    else the newest model in the models folder (or kept in memory), else a cached suggestion,
    else GPT-2 (whose load then says what to do)."""
    if network or cached(DEFAULT):
        return DEFAULT
    from core.text import memory

    kept = memory.sources()  # trained here, no folder: no config.json to date them by
    saved = [f for f in local_models() if f not in kept]
    saved.sort(key=lambda f: (Path(f) / "config.json").stat().st_mtime)
    if saved or kept:
        return (saved or kept)[-1]
    return next((s.hub_id for s in SUGGESTIONS if cached(s.hub_id)), DEFAULT)


def model_label(source: str) -> str:
    """How the picker names a model: a local folder by its name, size (MB) and date; a model
    kept in memory by its name and that it is not saved; a suggestion by whether it chats,
    its size, licence and download."""
    from core.text import memory

    if memory.is_memory(source):
        return f"{source.removeprefix(memory.PREFIX)} - in memory only, not saved"
    folder = Path(source)
    s = suggestion(source)
    if s is not None:
        does = "chats" if s.chats else "completes text"
        got = "cached here" if cached(source) else f"{s.download_mb:,} MB download"
        return f"{source} - {does}, {s.parameters / 1e6:,.0f}M, {s.licence}, {got}"
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
    if folder.is_file():
        where = folder.resolve().parent
        model = " - a model folder, so pick it" if (where / "config.json").is_file() else ""
        raise ModelLoadError(
            f"{source} is a file, not a folder: a model is the folder that holds config.json, "
            f"its weights and tokenizer files. Its folder is {where}{model}."
        )
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


_reach: dict[int, tuple[float, bool]] = {}


def hub_reachable_now(ttl_s: float = 60.0) -> bool:
    """hub_reachable, asked at most once a minute (the picker draws on every page run)."""
    asker = id(hub_reachable)  # (a test that replaces hub_reachable gets its own answers)
    at, ok = _reach.get(asker, (-1e9, False))
    if time.monotonic() - at > ttl_s:
        ok = hub_reachable()
        _reach[asker] = (time.monotonic(), ok)
    return ok


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


# ---- what a suggestion needs on this machine --------------------------------------------


@functools.lru_cache(maxsize=4)
def weight_read_gbs(device: str, rows: int = 8192, cols: int = 2048, repeats: int = 10) -> float:
    """GB/s at which this device reads fp32 weights in a matrix-vector product (measured once
    a process, ~50 ms): what bounds decoding at batch 1."""
    import torch

    w = torch.randn(rows, cols, device=device)
    x = torch.randn(cols, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else lambda: None
    torch.mv(w, x)
    sync()
    t0 = time.perf_counter()
    for _ in range(repeats):
        torch.mv(w, x)
    sync()
    return w.numel() * 4 * repeats / (time.perf_counter() - t0) / 1e9


def decode_bound(s: Suggestion, device: str, gpu_name: str | None = None) -> tuple[float, str]:
    """(the calculator's batch-1 decode bound for `s` on `device` in tokens/s, how it was
    found): memory bandwidth / weight bytes, with the fast path's 2-byte weights; the
    bandwidth from the GPU catalog, else measured here."""
    from core.economics import catalog, costs

    row = catalog.gpu_for_device(gpu_name or "") if device == "cuda" else None
    if row is not None:
        gpu, how = catalog.lookup_gpu(row), f"{row}'s listed bandwidth"
    else:
        gbs = weight_read_gbs(device)
        gpu = catalog.GPU(
            name=device, tflops=1, memory_gb=1, bandwidth_gbs=gbs, power_w=1, price_per_hour=1
        )
        how = f"{gbs:,.0f} GB/s measured here"
    return costs.decode_tokens_per_second_bound(s.parameters, 2, gpu), how
