"""The small GPT-2 trained here: its config (`TinyGPTConfig`), the training text (built in
or uploaded), a byte-level BPE tokenizer, the training loop, and its record in the run
store (`run_record`, one per training, from the page and from `python -m core.train`).

    folder = train_small_gpt2(text, TinyGPTConfig(name="mine", steps=300), "cpu", progress)
    trained = train_and_record(text, cfg, "cpu", progress)   # + the run, or why not
"""

from __future__ import annotations

import math
import re
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from core import limits
from core.distributed import TrainHooks
from core.progress import QUIET, Progress
from core.runs.types import Recorded, RunRecord
from core.text import memory
from core.text.prompt import TRANSCRIPT_TEMPLATE
from core.text.sources import models_dir

MIN_CORPUS_CHARS = 2_000
VAL_SHARE = 0.1  # the last tenth of the text is held out for the validation loss
VAL_BATCHES = 8  # windows the validation loss averages over
SAMPLE_TOKENS = 40  # tokens of each logged sample
WRITABLE_HINT = "Make the folder writable, or set DASHBOARD_MODELS to a folder that is."
MAX_TEXT_MB = 50  # the largest text a training takes (bench/upload_memory.py: ~3 MB per MB)
TOKENIZER_SAMPLE_CHARS = 4_000_000  # a longer text's tokenizer learns from this much of it
ENCODE_CHUNK_CHARS = 256_000  # the text is encoded this many characters at a time


def builtin_corpus() -> str:
    """English text every install has offline (~250 KB): Python's own reference prose
    (pydoc_data's help topics, code examples left out), each topic's first paragraph also as a
    User:/Assistant: exchange so the model learns the chat's turns, and scikit-learn's data
    set descriptions."""
    return "\n\n".join([*_python_topics(), _sklearn_descriptions()])


def _python_topics() -> list[str]:
    """pydoc_data's help topics as prose paragraphs, each topic led by an exchange."""
    try:
        from pydoc_data.topics import topics
    except ImportError:  # some distributions strip it: the data set descriptions remain
        return []
    texts = []
    for name, doc in sorted(topics.items()):
        paragraphs = _prose(doc)
        if paragraphs:
            question = f"User: Tell me about {name.replace('-', ' ')}."
            texts.append(f"{question}\nAssistant: {paragraphs[0]}")
            texts.extend(paragraphs[1:])
    return texts


def _prose(doc: str) -> list[str]:
    """The paragraphs of a help topic that read as prose: no code, headings or tables."""
    kept = []
    for para in re.split(r"\n\s*\n", textwrap.dedent(doc)):
        lines = para.splitlines()
        if any(line.startswith("   ") or line.lstrip().startswith(">>>") for line in lines):
            continue  # a code example
        text = " ".join(line.strip() for line in lines)
        letters = sum(c.isalpha() or c == " " for c in text)
        if len(text) >= 40 and letters >= 0.85 * len(text):
            kept.append(text)
    return kept


def _sklearn_descriptions() -> str:
    """scikit-learn's data set descriptions (~43 KB)."""
    import sklearn

    folder = Path(sklearn.__file__).parent / "datasets" / "descr"
    return "\n\n".join(p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.rst")))


def read_corpus(raw: bytes) -> str:
    """An uploaded .txt/.md as text; ValueError saying why when it cannot be used."""
    if len(raw) > MAX_TEXT_MB * 2**20:
        raise ValueError(
            f"The text is {len(raw) / 2**20:,.0f} MB; a training takes at most {MAX_TEXT_MB} MB "
            "(a few minutes' training sees well under 1 MB of it anyway): upload a part of it."
        )
    if not raw.strip():
        raise ValueError("The file is empty.")
    if b"\0" in raw[:65536]:
        raise ValueError("This looks like a binary file, not text: upload a .txt or .md file.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"The file is not UTF-8 text (byte {err.start} cannot be decoded); "
            "save it as UTF-8 and upload again."
        ) from None
    printable = sum(c.isprintable() or c in "\n\t\r" for c in text[:65536])
    if printable < 0.95 * min(len(text), 65536):
        raise ValueError("Too many control characters for text: upload a .txt or .md file.")
    if len(text) < MIN_CORPUS_CHARS:
        raise ValueError(
            f"Too little text: {len(text):,} characters; give at least {MIN_CORPUS_CHARS:,}."
        )
    return text


@dataclass(frozen=True, kw_only=True)
class TinyGPTConfig:
    """A small GPT-2 and how long to train it."""

    name: str = "my-gpt2"  # folder name under models_dir()
    vocab_size: int = 2048  # byte-level BPE vocabulary
    layers: int = 2
    width: int = 128  # embedding size
    heads: int = 4
    context: int = 96  # tokens
    steps: int = 800  # bench/app_gpt2.py: 100 steps in ~12 s on 2 idle cores
    batch_size: int = 16
    lr: float = 3e-3
    sample_every: int = 50  # steps between sample generations
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.name or any(c in self.name for c in "/\\:") or self.name.startswith("."):
            raise ValueError("Name the model with letters, digits, dashes or dots (no slashes).")
        if self.width % self.heads:
            raise ValueError(f"Width ({self.width}) must be a multiple of heads ({self.heads}).")
        if not (
            256 <= self.vocab_size <= 50_000
            and 1 <= self.layers <= 12
            and 16 <= self.context <= 1024
        ):
            raise ValueError("Vocabulary 256-50,000, layers 1-12, context 16-1,024 tokens.")
        if not (1 <= self.steps <= 100_000 and 1 <= self.batch_size <= 512 and 0 < self.lr <= 1):
            raise ValueError("Steps 1-100,000, batch 1-512, learning rate in (0, 1].")


def lr_factor(step: int, total: int) -> float:
    """Learning-rate multiplier at 0-based `step` of `total`: linear warm-up over the first
    tenth (at least one step), then cosine decay to a tenth. Defined for every total >= 1
    (torch's OneCycleLR divides by zero for fewer than ~20 steps)."""
    warm = max(1, total // 10)
    if step < warm:
        return (step + 1) / warm
    done = (step - warm) / max(1, total - warm)
    return 0.1 + 0.45 * (1 + math.cos(math.pi * min(done, 1.0)))


def pieces(text: str, size: int | None = None):
    """`text` in consecutive pieces of about `size` characters, each cut just after a newline
    that a non-space follows (where the byte-level pre-tokenizer always splits, so encoding
    the pieces gives the tokens of the whole); a text with no such newline is one piece."""
    start, size = 0, size or ENCODE_CHUNK_CHARS
    while start < len(text):
        end = _cut(text, start + size)
        yield text[start:end]
        start = end


def _cut(text: str, at: int) -> int:
    """The first index from `at` just past a newline that a non-space follows, else the end."""
    while True:
        cut = text.find("\n", at)
        if cut < 0 or cut + 1 >= len(text):
            return len(text)
        if not text[cut + 1].isspace():
            return cut + 1
        at = cut + 1


def tokenizer_sample(text: str, limit: int = TOKENIZER_SAMPLE_CHARS) -> list[str]:
    """What the tokenizer learns from: all of a text up to `limit` characters, else 64 pieces
    spread evenly through it, `limit` characters in all."""
    if len(text) <= limit:
        return list(pieces(text))
    step, size = len(text) // 64, limit // 64
    return [text[i : i + size] for i in range(0, 64 * step, step)]


def train_tokenizer(text: str, vocab_size: int, min_frequency: int = 2):
    """A byte-level BPE tokenizer trained on `text` (a sample of a long one), as a
    transformers fast tokenizer."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        tokenizer_sample(text),
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=["<|endoftext|>"],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )


def encode(tok, text: str, progress: Progress = QUIET, size: int | None = None) -> torch.Tensor:
    """`text`'s token ids as a 1-D int32 tensor, encoded a piece at a time (memory about
    four bytes per token plus one piece), reporting the phase as it goes."""
    import numpy as np

    parts, done = [], 0
    for piece in pieces(text, size):
        parts.append(np.asarray(tok(piece)["input_ids"], dtype=np.int32))
        done += len(piece)
        progress.report(0.0, f"Encoding the text: {done / 1e6:,.1f} of {len(text) / 1e6:,.1f} MB")
    return torch.from_numpy(np.concatenate(parts) if parts else np.zeros(0, np.int32))


def _split(tok, text: str, cfg: TinyGPTConfig, device: str, progress: Progress = QUIET):
    """The text as token ids on `device`: (training part, held-out validation part)."""
    ids = encode(tok, text, progress)
    cut = int(len(ids) * (1 - VAL_SHARE))
    train, val = ids[:cut].to(device), ids[cut:].to(device)
    if len(val) <= cfg.context + 1:
        raise ValueError(
            f"Too little text for a {cfg.context}-token context; add text or shorten it."
        )
    return train, val


def unwritable_reason(folder: Path | None = None) -> str:
    """ "" when a model can be saved in `folder` (models_dir()), else why not, as the OS says."""
    folder = folder or models_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as err:
        return f"{folder} cannot be written ({err.strerror or err})"
    return ""


def _new_model(tok, cfg: TinyGPTConfig, device: str):
    """A randomly initialised GPT2LMHeadModel of `cfg`'s shape over `tok`'s vocabulary."""
    from transformers import GPT2Config, GPT2LMHeadModel

    shape = GPT2Config(
        vocab_size=len(tok),
        n_positions=cfg.context,
        n_embd=cfg.width,
        n_layer=cfg.layers,
        n_head=cfg.heads,
        bos_token_id=tok.eos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    return GPT2LMHeadModel(shape).to(device)


def train_small_gpt2(
    text: str,
    cfg: TinyGPTConfig,
    device: str,
    progress: Progress = QUIET,
    hooks: TrainHooks | None = None,
    keep_in_memory: bool = False,
) -> Path | str:
    """Train a byte-level BPE tokenizer and a small GPT2LMHeadModel on `text`; report the
    phase, then loss (train and validation, 90/10 split) and a sample as it goes; save with
    save_pretrained into models_dir()/name, also when stopped. Returns the folder. `hooks`:
    the distributed wrapper and checkpoints of `core.train` (none for the page).
    `keep_in_memory`: when the folder cannot be written, train anyway and keep the model in
    memory (core.text.memory), returning its 'memory:<name>' source; else refuse at once."""
    hooks = hooks or TrainHooks()  # train hook
    _check_folder(hooks, keep_in_memory)
    torch.manual_seed(cfg.seed)  # the same config trains the same model
    progress.report(0.0, f"Training the tokenizer ({cfg.vocab_size:,} tokens)")
    tok = train_tokenizer(text, cfg.vocab_size)
    train, val = _split(tok, text, cfg, device, progress)
    model = _new_model(tok, cfg, device)
    train = hooks.shard(train, contiguous=True)  # train hook: this rank's share of the text
    trained = hooks.wrap(model)  # train hook: the module the steps call
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: lr_factor(i, cfg.steps))
    gen = torch.Generator().manual_seed(cfg.seed)  # batches drawn apart from the model's RNG
    start = hooks.resume(model, opt, sched, gen)  # train hook: from a checkpoint

    t0 = time.perf_counter()
    for step in range(start + 1, cfg.steps + 1):  # train hook: start
        # a Stop ends training between steps; what was learnt so far is saved below
        if progress.should_stop():
            break
        # dropout on, and a fresh batch of random windows of the training text
        model.train()
        xb = windows(train, cfg.batch_size, cfg.context, gen)
        # forward: the labels are the inputs; the model shifts them to score each next token
        loss = trained(input_ids=xb[:, :-1], labels=xb[:, :-1]).loss  # train hook: trained
        # backward; clipping the gradient norm keeps one bad batch from wrecking the weights
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        # step the weights, then the learning rate (warm-up, then cosine decay)
        opt.step()
        sched.step()
        # the job's progress line and speed: tokens per second since this run (re)started
        rate = (step - start) * cfg.batch_size * cfg.context / (time.perf_counter() - t0)
        message = f"Training: step {step}/{cfg.steps}, loss {loss.item():.3f}"
        progress.report(step / cfg.steps, message, rate=rate, unit="tokens")
        # on the first, every sample_every-th and the last step: held-out loss and a sample
        if step % cfg.sample_every == 0 or step == cfg.steps or step == 1:
            val_loss, sample = _val_loss(model, val, cfg, gen), _sample(model, tok, device)
            progress.log(step=step, train_loss=loss.item(), val_loss=val_loss, sample=sample)
        hooks.epoch_end(step, model, opt, sched, gen)  # train hook: checkpoint
    return _save_or_keep(model, tok, cfg, hooks, keep_in_memory)


def _check_folder(hooks: TrainHooks, keep_in_memory: bool) -> None:
    """Refuse before any training when the models folder is full, or cannot be written and
    the model may not be kept in memory instead."""
    limits.check_room("models", models_dir())
    unwritable = unwritable_reason() if hooks.is_main else ""
    if unwritable and not keep_in_memory:
        raise ValueError(f"{unwritable}: the model could not be saved. {WRITABLE_HINT}")


def _save_or_keep(model, tok, cfg: TinyGPTConfig, hooks: TrainHooks, keep: bool) -> Path | str:
    """_save; when the folder will not take it and `keep`, the model kept in memory."""
    try:
        return _save(model, tok, cfg, hooks)
    except OSError as err:  # e.g. a read-only home, or the disk filled meanwhile
        if not keep:
            raise
        reason = f"{err.filename}: {err.strerror}" if err.filename else str(err)
        return memory.keep(cfg.name, model.eval().to("cpu"), tok, reason)


def windows(data: torch.Tensor, batch: int, context: int, gen: torch.Generator) -> torch.Tensor:
    """`batch` random windows of `context` + 1 tokens of `data`: (B, T + 1); a step trains
    on the first T of each (also the Compress tool's distillation batches)."""
    starts = torch.randint(0, len(data) - context - 1, (batch,), generator=gen)
    return torch.stack([data[s : s + context + 1] for s in starts.tolist()]).long()


def _save(model, tok, cfg: TinyGPTConfig, hooks: TrainHooks) -> Path:
    """Save the model and tokenizer (with the transcript as its chat template) on rank 0."""
    out = models_dir() / cfg.name
    if not hooks.is_main:  # train hook: rank 0 alone saves
        return out
    tok.chat_template = TRANSCRIPT_TEMPLATE  # so a server can chat with it
    model.eval().to("cpu").save_pretrained(out)
    tok.save_pretrained(out)
    return out


@torch.inference_mode()
def _val_loss(model, val: torch.Tensor, cfg: TinyGPTConfig, gen) -> float:
    """Mean next-token loss on VAL_BATCHES held-out windows (nats per token)."""
    model.eval()
    starts = torch.randint(0, len(val) - cfg.context - 1, (VAL_BATCHES,), generator=gen).tolist()
    xb = torch.stack([val[s : s + cfg.context] for s in starts]).long()
    return model(input_ids=xb, labels=xb).loss.item()


@torch.inference_mode()
def _sample(model, tok, device: str, n: int = SAMPLE_TOKENS) -> str:
    """A sampled text of up to `n` tokens from end-of-text (the window allowing)."""
    n = min(n, model.config.n_positions - 1)
    model.eval()
    start = torch.tensor([[tok.eos_token_id]], device=device)
    out = model.generate(
        start, max_new_tokens=n, do_sample=True, top_k=40, pad_token_id=tok.eos_token_id
    )
    return tok.decode(out[0, 1:], skip_special_tokens=True)


# ---- its record in the run store ------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TrainedModel:
    """A model trained here: where it is saved and what came of recording the run."""

    folder: Path | str  # or 'memory:<name>' for a model its folder could not take
    recorded: Recorded  # the run's id, or why it was not recorded (the model is saved)

    @property
    def not_saved(self) -> str:
        """Why the model is only in memory ("" when it is saved in its folder)."""
        kept = memory.get(str(self.folder)) if memory.is_memory(str(self.folder)) else None
        return kept.reason if kept else ""


def run_record(
    cfg: TinyGPTConfig, device: str, rows: list[dict], folder: Path | str | None, status: str
) -> RunRecord:
    """A training of the small GPT-2 as a run: config, loss curve, samples, the model folder.
    The losses' latest values come from the history (a final point would be step 0)."""
    return RunRecord(
        name=cfg.name,
        params=asdict(cfg) | {"device": device},
        metrics={"steps": rows[-1]["step"] if rows else 0},
        history=[{k: v for k, v in r.items() if k != "sample"} for r in rows],
        tables={"samples": [{"step": r["step"], "sample": r["sample"]} for r in rows]},
        artifacts={"model": Path(folder)} if folder and not memory.is_memory(str(folder)) else {},
        tags={"device": device} | ({"folder": str(folder)} if folder else {}),
        status=status,
    )


def train_and_record(
    text: str, cfg: TinyGPTConfig, device: str, progress: Progress = QUIET
) -> TrainedModel:
    """train_small_gpt2 (a model its folder cannot take is kept in memory), then record the
    run (kind 'gpt2') from the worker as it ends, so a training whose page is gone is
    recorded too; a store failure leaves the model saved."""
    from core import runs  # lazily: it brings MLflow, which Home never needs

    followed = runs.follow(  # in the store from the start: a crash keeps the steps so far
        "gpt2",
        progress,
        name=cfg.name,
        params=run_record(cfg, device, [], None, "FINISHED").params,
        tags={"device": device},
    )
    with followed:  # a failure ends the run FAILED with what it logged
        folder = train_small_gpt2(text, cfg, device, followed, keep_in_memory=True)
    status = "KILLED" if followed.should_stop() else "FINISHED"
    recorded = followed.finish(run_record(cfg, device, followed.rows, folder, status))
    return TrainedModel(folder=folder, recorded=recorded)
