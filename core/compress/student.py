"""Distil a GPT-2 into a smaller GPT-2 student: the user picks its layers and width, the
temperature and the weight on the teacher's soft targets; it trains on text windows with the
small GPT-2's own pieces (core.text.tinygpt: windows, the learning-rate schedule, encoding).

    s = StudentSettings(layers=1, width=64, temperature=2.0, alpha=0.5, steps=200)
    check(teacher.config, s)                        # CompressError when not smaller
    student = distil(teacher, train_ids, s, progress, span=(0.5, 0.9))

Loss: alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * next-token cross-entropy
(Hinton et al. 2015; the T^2 keeps the soft term's gradients on the hard term's scale).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core.compress.cnn import CompressError
from core.progress import QUIET, Progress
from core.text import tinygpt


@dataclass(frozen=True, kw_only=True)
class StudentSettings:
    """The student's shape and how it learns from the teacher; 0 = derived from the teacher
    (half its layers, at least 1; half its width)."""

    layers: int = 0
    width: int = 0
    temperature: float = 2.0
    alpha: float = 0.5  # weight on the teacher's soft targets; 1 - alpha on the text itself
    steps: int = 200
    batch_size: int = 16
    context: int = 64  # tokens per training window (at most the teacher's)
    lr: float = 3e-3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.layers < 0 or self.width < 0:
            raise CompressError("The student's layers and width must be positive.")
        if not (0 < self.temperature <= 20) or not math.isfinite(self.temperature):
            raise CompressError("The temperature must be above 0 and at most 20.")
        if not (0 <= self.alpha <= 1):
            raise CompressError("The weight on the teacher must be between 0 and 1.")
        if not (1 <= self.steps <= 20_000 and 1 <= self.batch_size <= 256 and self.context >= 8):
            raise CompressError("Steps 1-20,000, batch 1-256, context at least 8 tokens.")

    def describe(self) -> str:
        return (
            f"temperature {self.temperature:g}, weight {self.alpha:g} on the teacher "
            f"({1 - self.alpha:g} on the text), {self.steps} steps of {self.batch_size} x "
            f"{self.context} tokens"
        )


def shape_of(teacher_config, s: StudentSettings) -> tuple[int, int, int]:
    """(layers, width, heads) of the student; heads: the teacher's, or the most that divide
    the width."""
    layers = s.layers or max(1, teacher_config.n_layer // 2)
    width = s.width or max(8, teacher_config.n_embd // 2)
    heads = max(h for h in range(1, teacher_config.n_head + 1) if width % h == 0)
    return layers, width, heads


def shape_words(layers: int, width: int) -> str:
    """'1 layer x width 64', '6 layers x width 384'."""
    return f"{layers} layer{'' if layers == 1 else 's'} x width {width}"


def student_config(teacher_config, s: StudentSettings):
    """The teacher's GPT2Config with the student's layers, width and heads; CompressError
    unless the teacher is a GPT-2 and the student is smaller in both and not the same."""
    if getattr(teacher_config, "model_type", "") != "gpt2":
        raise CompressError(
            f"Distillation builds a GPT-2 student; this is a {teacher_config.model_type} "
            "model: untick Distil to measure the other methods."
        )
    layers, width, heads = shape_of(teacher_config, s)
    t_layers, t_width = teacher_config.n_layer, teacher_config.n_embd
    if layers > t_layers or width > t_width or (layers, width) == (t_layers, t_width):
        raise CompressError(
            f"A student of {shape_words(layers, width)} is not smaller than its teacher "
            f"({shape_words(t_layers, t_width)}): pick fewer layers or a smaller width."
        )
    cfg = copy.deepcopy(teacher_config)
    cfg.n_layer, cfg.n_embd, cfg.n_head = layers, width, heads
    cfg.n_inner = None  # 4 x width, as GPT-2's own sizes
    return cfg


def check(teacher_config, s: StudentSettings) -> str:
    """'' when the student can be built, else why not (before any job starts)."""
    try:
        student_config(teacher_config, s)
    except CompressError as err:
        return str(err)
    return ""


def build(teacher: nn.Module, s: StudentSettings) -> tuple[nn.Module, str]:
    """(the student, how it was initialised): of the same width, it starts from the teacher's
    embeddings, final norm and evenly spaced blocks (as DistilBERT); narrower, from random
    weights."""
    from transformers import GPT2LMHeadModel

    cfg = student_config(teacher.config, s)
    torch.manual_seed(s.seed)
    student = GPT2LMHeadModel(cfg)
    t, st = teacher.transformer, student.transformer
    if cfg.n_embd != teacher.config.n_embd:
        project(t, st, cfg.n_embd)
        student.tie_weights()
        return student, (
            f"the teacher's embeddings projected on their top {cfg.n_embd} directions (SVD), "
            "random blocks (narrower than the teacher)"
        )
    picked = [round(i * (len(t.h) - 1) / max(cfg.n_layer - 1, 1)) for i in range(cfg.n_layer)]
    with torch.no_grad():
        st.wte.load_state_dict(t.wte.state_dict())
        st.wpe.load_state_dict(t.wpe.state_dict())
        st.ln_f.load_state_dict(t.ln_f.state_dict())
        for mine, theirs in zip(st.h, picked, strict=True):
            mine.load_state_dict(t.h[theirs].state_dict())
    student.tie_weights()
    return student, f"the teacher's embeddings and blocks {', '.join(map(str, picked))}"


@torch.no_grad()
def project(teacher, student, width: int) -> None:
    """The student's token and position embeddings: the teacher's, projected on the `width`
    directions of the token embeddings that carry the most variance (their top right
    singular vectors), so a narrower student starts from what the teacher's tokens mean."""
    wte = teacher.wte.weight.float()
    _, _, v = torch.linalg.svd(wte - wte.mean(0), full_matrices=False)
    basis = v[:width].T  # (teacher width, width)
    student.wte.weight.copy_(wte @ basis)
    student.wpe.weight.copy_(teacher.wpe.weight.float() @ basis)


def loss_of(student_logits, teacher_logits, ids, temperature: float, alpha: float):
    """alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * next-token cross-entropy."""
    vocab = student_logits.shape[-1]
    hard = F.cross_entropy(student_logits[:, :-1].reshape(-1, vocab), ids[:, 1:].reshape(-1))
    soft = F.kl_div(
        (student_logits / temperature).log_softmax(-1).reshape(-1, vocab),
        (teacher_logits / temperature).softmax(-1).reshape(-1, vocab),
        reduction="batchmean",
    )
    return alpha * temperature**2 * soft + (1 - alpha) * hard


def distil(
    teacher: nn.Module,
    train_ids: torch.Tensor,
    s: StudentSettings,
    progress: Progress = QUIET,
    span: tuple[float, float] = (0.0, 1.0),
) -> tuple[nn.Module | None, str]:
    """(the trained student, eval mode, or None when stopped before its last step; what it
    was): `s.steps` AdamW steps on random windows of `train_ids`, reporting within `span` of
    the job's progress."""
    student, init = build(teacher, s)
    context = min(s.context, teacher.config.n_positions - 1, len(train_ids) - 2)
    if context < 8:
        raise CompressError("Too little text to distil on (fewer than 10 tokens).")
    opt = torch.optim.AdamW(student.parameters(), lr=s.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: tinygpt.lr_factor(i, s.steps))
    gen = torch.Generator().manual_seed(s.seed)
    teacher.eval()
    t0 = time.perf_counter()
    for step in range(1, s.steps + 1):
        # a Stop ends the training: a half-trained student is not a variant
        if progress.should_stop():
            return None, f"stopped at step {step - 1} of {s.steps}"
        student.train()
        ids = tinygpt.windows(train_ids, s.batch_size, context, gen)[:, :-1]
        with torch.no_grad():
            target = teacher(input_ids=ids).logits
        loss = loss_of(student(input_ids=ids).logits, target, ids, s.temperature, s.alpha)
        if not torch.isfinite(loss):
            raise CompressError(f"The distillation loss became non-finite at step {step}.")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        sched.step()
        done = span[0] + (span[1] - span[0]) * step / s.steps
        message = f"Distilling the student: step {step}/{s.steps}, loss {loss.item():.3f}"
        progress.report(done, message, rate=step / (time.perf_counter() - t0), unit="steps")
    cfg = student.config
    return student.eval(), (
        f"Student {shape_words(cfg.n_layer, cfg.n_embd)} ({cfg.n_head} heads), from {init}; "
        f"{s.describe()}."
    )
