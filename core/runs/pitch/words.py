"""Plain words for the pitch pack, in one place: every metric key a tool records -> a
reader's label and unit (`LABELS`), a humanized label for keys it does not know (never
snake_case), values that mean "never" or "not applicable" said in words, a model named by
its display name and size, a device in words, and the catalog's sources with their dates.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import PurePath

from core import units

NEVER = 1e300  # at or above: the store's stand-in for infinity (MLflow keeps 1.798e308)


@dataclass(frozen=True)
class Label:
    """How a metric reads: its label and the kind of number it is (a formatter below)."""

    label: str
    kind: str = "plain"  # a key of FORMATS


def _never(words: str):
    return lambda x: words if is_never(x) else None


FORMATS = {  # kind -> (unit shown in a table, formatter of a finite value)
    "plain": ("", lambda x: f"{x:,.4g}"),
    "count": ("", lambda x: f"{x:,.0f}"),
    "percent": ("%", lambda x: units.percent(x)),
    "usd": ("USD", units.usd),
    "usd_month": ("USD per month", lambda x: units.usd(x) + " a month"),
    "usd_1m": ("USD per 1M tokens", lambda x: units.usd(x) + " per 1M tokens"),
    "usd_1k": ("USD per 1,000 tokens", lambda x: units.usd(x) + " per 1,000 tokens"),
    "tokens_s": ("tokens per second", lambda x: f"{units.compact(x)} tokens/s"),
    "images_s": ("images per second", lambda x: f"{units.compact(x)} images/s"),
    "seconds": ("seconds", lambda x: f"{x:,.3g} s" if x < 120 else f"{x / 60:,.3g} min"),
    "months": ("months", units.months),
    "loss": ("nats per token", lambda x: f"{x:.3g}"),
    "mb": ("MB", lambda x: f"{x:,.3g} MB"),
    "ms": ("ms", lambda x: f"{x:,.3g} ms"),
    "ratio": ("times", lambda x: f"{x:,.3g}x"),
}
NEVER_WORDS = {  # kind -> how an infinite value reads
    "months": "does not run out at these numbers",
}
LABELS = {  # every metric key the tools record
    "test_accuracy": Label("Test accuracy", "percent"),
    "test_loss": Label("Test loss (cross-entropy)", "loss"),
    "best_epoch": Label("Best epoch", "count"),
    "wall_seconds": Label("Training time", "seconds"),
    "images_per_s": Label("Training speed", "images_s"),
    "cost_usd": Label("Cost of the training on this hardware", "usd"),
    "train_loss": Label("Training loss", "loss"),
    "val_loss": Label("Validation loss", "loss"),
    "train_accuracy": Label("Training accuracy", "percent"),
    "val_accuracy": Label("Validation accuracy", "percent"),
    "seconds": Label("Time taken", "seconds"),
    "steps": Label("Training steps", "count"),
    "lr": Label("Learning rate"),
    "replies": Label("Replies", "count"),
    "new_tokens": Label("Tokens generated", "count"),
    "tokens_per_s": Label("Speed", "tokens_s"),
    "ttft_s": Label("Time to first token", "seconds"),
    "usd_per_1k_tokens": Label("Cost", "usd_1k"),
    "best_final_loss": Label("Best final loss on the test surface"),
    "best_val_loss": Label("Best validation loss", "loss"),
    "training_cost_usd": Label("Cost to train", "usd"),
    "serving_monthly_usd": Label("Serving cost", "usd_month"),
    "usd_per_m_tokens": Label("Serving cost per 1M tokens", "usd_1m"),
    "net_burn_usd_per_month": Label("Net burn", "usd_month"),
    "runway_months": Label("Runway", "months"),
    "months_to_profit": Label("Months to profitability", "months"),
    "size_mb": Label("Size", "mb"),
    "latency_ms": Label("Latency", "ms"),
}
WORDS = {  # words inside unknown keys
    "usd": "USD",
    "val": "validation",
    "ttft": "time to first token",
    "mb": "MB",
    "ms": "ms",
    "s": "seconds",
    "kb": "kB",
    "gb": "GB",
    "acc": "accuracy",
    "lr": "learning rate",
    "1k": "1,000",
    "m": "1M",
    "onnx": "ONNX",
    "int8": "INT8",
    "fp32": "FP32",
    "fp16": "FP16",
}
SUFFIX_KINDS = (  # how an unknown key's ending says its kind
    ("_usd_per_month", "usd_month"),
    ("_usd", "usd"),
    ("_months", "months"),
    ("_accuracy", "percent"),
    ("_tokens_per_s", "tokens_s"),
    ("_ms", "ms"),
    ("_mb", "mb"),
    ("_seconds", "seconds"),
)
DEVICES = (("cuda", "GPU"), ("mps", "Apple GPU"), ("cpu", "CPU"))


def is_never(x: float | None) -> bool:
    """True for infinity or the store's stand-in for it."""
    return x is not None and not math.isnan(x) and abs(x) >= NEVER


def humanize(key: str) -> str:
    """'val_loss_mean' -> 'Validation loss mean': never snake_case."""
    words = [WORDS.get(w.lower(), w) for w in re.split(r"[_\s]+", key.strip()) if w]
    text = " ".join(words) or "Figure"
    return text[0].upper() + text[1:]


def label_of(key: str) -> Label:
    """The reader's label of metric `key`, humanized with a kind guessed when unknown."""
    if key in LABELS:
        return LABELS[key]
    kind = next((k for suffix, k in SUFFIX_KINDS if key.endswith(suffix)), "plain")
    return Label(humanize(key), kind)


def value_text(value: float | None, kind: str) -> str:
    """A figure in words: '$12k', '18.2 months', 'does not run out at these numbers'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not recorded"
    if is_never(value):
        return NEVER_WORDS.get(kind, "not reached at these numbers")
    return FORMATS.get(kind, FORMATS["plain"])[1](float(value))


def figure(key: str, value: float | None) -> tuple[str, str]:
    """(label, value in words) of metric `key`."""
    lab = label_of(key)
    return lab.label, value_text(value, lab.kind)


def profit_text(months: float | None) -> str:
    """Months to profitability in words."""
    if months is None:
        return "not recorded"
    if is_never(months):
        return "not within the case's horizon at these numbers"
    return "already profitable" if months == 0 else f"in {units.months(months)}"


def model_name(name: str) -> str:
    """A model's display name: the folder's name for a path on this machine, else as given."""
    if name.startswith(("/", "~", ".")) or re.match(r"^[A-Za-z]:[\\/]", name):
        return PurePath(name.replace("\\", "/")).name
    return name


PATH = re.compile(r"(?<![\w.])(?:~|[A-Za-z]:)?[\\/][^\s,;()]*[\\/]([^\s,;()\\/]+)")


def run_name(name: str) -> str:
    """A run's name with any path on this machine cut to its last part."""
    return PATH.sub(lambda m: m.group(1), name)


def model_title(name: str, parameters: float | None) -> str:
    """'my-gpt2 (0.54M parameters)', or the display name alone when the size is unknown."""
    shown = model_name(name)
    if not parameters:
        return shown
    n = float(parameters)
    size = f"{n / 1e9:.3g}B" if n >= 1e9 else f"{n / 1e6:.3g}M" if n >= 1e6 else f"{n / 1e6:.2g}M"
    return f"{shown} ({size} parameters)"


def device_text(device: str) -> str:
    """'cuda:0' -> 'GPU', 'cpu' -> 'CPU'."""
    return next((w for k, w in DEVICES if device.lower().startswith(k)), "this machine")


def gpt2_parameters(params: dict) -> float | None:
    """Parameters of a small GPT-2 from its recorded config (tied embeddings, 4x MLP)."""
    try:
        v, w = float(params["vocab_size"]), float(params["width"])
        c, n = float(params["context"]), float(params["layers"])
    except (KeyError, TypeError, ValueError):
        return None
    return v * w + c * w + n * (12 * w * w + 13 * w) + 2 * w
