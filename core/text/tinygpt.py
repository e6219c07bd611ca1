"""The small GPT-2 trained here: its config (`TinyGPTConfig`), the training text (built in
or uploaded), a byte-level BPE tokenizer, the training loop, and its record in the run
store (`run_record`, one per training, from the page and from `python -m core.train`).

    folder = train_small_gpt2(text, TinyGPTConfig(name="mine", steps=300), "cpu", progress)
    trained = train_and_record(text, cfg, "cpu", progress)   # + the run, or why not
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from core import limits
from core.distributed import TrainHooks
from core.progress import QUIET, Progress
from core.runs.types import Recorded, RunRecord
from core.text.prompt import TRANSCRIPT_TEMPLATE
from core.text.sources import models_dir

MIN_CORPUS_CHARS = 2_000
VAL_SHARE = 0.1  # the last tenth of the text is held out for the validation loss
VAL_BATCHES = 8  # windows the validation loss averages over
SAMPLE_TOKENS = 40  # tokens of each logged sample


def builtin_corpus() -> str:
    """English text every install has: scikit-learn's data set descriptions (~43 KB)."""
    import sklearn

    folder = Path(sklearn.__file__).parent / "datasets" / "descr"
    return "\n\n".join(p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.rst")))


def read_corpus(raw: bytes) -> str:
    """An uploaded .txt/.md as text; ValueError saying why when it cannot be used."""
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
    vocab_size: int = 1024  # byte-level BPE vocabulary
    layers: int = 2
    width: int = 128  # embedding size
    heads: int = 4
    context: int = 128  # tokens
    steps: int = 300
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


def train_tokenizer(text: str, vocab_size: int, min_frequency: int = 2):
    """A byte-level BPE tokenizer trained on `text`, as a transformers fast tokenizer."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        [text], vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=["<|endoftext|>"]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )


def _split(tok, text: str, cfg: TinyGPTConfig, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The text as token ids on `device`: (training part, held-out validation part)."""
    ids = torch.tensor(tok(text)["input_ids"], dtype=torch.long)
    cut = int(len(ids) * (1 - VAL_SHARE))
    train, val = ids[:cut].to(device), ids[cut:].to(device)
    if len(val) <= cfg.context + 1:
        raise ValueError(
            f"Too little text for a {cfg.context}-token context; add text or shorten it."
        )
    return train, val


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
) -> Path:
    """Train a byte-level BPE tokenizer and a small GPT2LMHeadModel on `text`; report loss
    (train and validation, 90/10 split) and a sample as it goes; save with save_pretrained
    into models_dir()/name, also when stopped. Returns the folder. `hooks`: the distributed
    wrapper and checkpoints of `core.train` (none for the page)."""
    hooks = hooks or TrainHooks()  # train hook
    limits.check_room("models", models_dir())  # a full folder refuses before any training
    torch.manual_seed(cfg.seed)  # the same config trains the same model
    tok = train_tokenizer(text, cfg.vocab_size)
    train, val = _split(tok, text, cfg, device)
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
        xb = _batch(train, cfg, gen)
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
        message = f"step {step}/{cfg.steps}, loss {loss.item():.3f}"
        progress.report(step / cfg.steps, message, rate=rate, unit="tokens")
        # on the first, every sample_every-th and the last step: held-out loss and a sample
        if step % cfg.sample_every == 0 or step == cfg.steps or step == 1:
            val_loss, sample = _val_loss(model, val, cfg, gen), _sample(model, tok, device)
            progress.log(step=step, train_loss=loss.item(), val_loss=val_loss, sample=sample)
        hooks.epoch_end(step, model, opt, sched, gen)  # train hook: checkpoint
    return _save(model, tok, cfg, hooks)


def _batch(data: torch.Tensor, cfg: TinyGPTConfig, gen: torch.Generator) -> torch.Tensor:
    """`cfg.batch_size` random windows of `cfg.context` + 1 tokens of `data`: (B, T + 1); a
    step trains on the first T of each."""
    starts = torch.randint(0, len(data) - cfg.context - 1, (cfg.batch_size,), generator=gen)
    return torch.stack([data[s : s + cfg.context + 1] for s in starts.tolist()])


def _save(model, tok, cfg: TinyGPTConfig, hooks: TrainHooks) -> Path:
    """Save the model and tokenizer (with the transcript as its chat template) on rank 0."""
    out = models_dir() / cfg.name
    if not hooks.is_main:  # train hook: rank 0 alone saves
        return out
    model.eval().to("cpu").save_pretrained(out)
    tok.chat_template = TRANSCRIPT_TEMPLATE  # so a server can chat with it
    tok.save_pretrained(out)
    return out


@torch.inference_mode()
def _val_loss(model, val: torch.Tensor, cfg: TinyGPTConfig, gen) -> float:
    """Mean next-token loss on VAL_BATCHES held-out windows (nats per token)."""
    model.eval()
    starts = torch.randint(0, len(val) - cfg.context - 1, (VAL_BATCHES,), generator=gen).tolist()
    xb = torch.stack([val[s : s + cfg.context] for s in starts])
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

    folder: Path
    recorded: Recorded  # the run's id, or why it was not recorded (the model is saved)


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
        artifacts={"model": Path(folder)} if folder else {},
        tags={"device": device},
        status=status,
    )


def train_and_record(
    text: str, cfg: TinyGPTConfig, device: str, progress: Progress = QUIET
) -> TrainedModel:
    """train_small_gpt2, then record the run (kind 'gpt2') from the worker as it ends, so a
    training whose page is gone is recorded too; a store failure leaves the model saved."""
    from core import runs  # lazily: it brings MLflow, which Home never needs

    followed = runs.follow(  # in the store from the start: a crash keeps the steps so far
        "gpt2",
        progress,
        name=cfg.name,
        params=run_record(cfg, device, [], None, "FINISHED").params,
        tags={"device": device},
    )
    with followed:  # a failure ends the run FAILED with what it logged
        folder = train_small_gpt2(text, cfg, device, followed)
    status = "KILLED" if followed.should_stop() else "FINISHED"
    recorded = followed.finish(run_record(cfg, device, followed.rows, folder, status))
    return TrainedModel(folder=folder, recorded=recorded)
