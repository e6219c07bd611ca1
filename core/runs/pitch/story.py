"""Page 1 of the pitch pack: the story. What was built and measured (one line per tool
used), the headline figures with their units (accuracy and what it was measured on, speed
and USD per 1M tokens on the stated hardware, cost to train, serving cost at the stated
load, break-even against the named API, runway, months to profitability), the hardware and
the date."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from core import units
from core.runs.pitch import business, words
from core.runs.pitch.markup import escape, table
from core.runs.types import RunDetail

ORIGINALS = ("original", "fp32", "baseline", "uncompressed")  # the variant compared against


@dataclass(frozen=True, kw_only=True)
class Facts:
    """What the founder typed and where the figures were measured."""

    product: str  # the company or product name
    summary: str  # the founder's own paragraph ("" for none)
    hardware: str  # the stated hardware
    date: dt.date
    version: str  # the app's version


def _test_images(run: RunDetail) -> int:
    """Images in the test split: the confusion matrix's counts."""
    rows = run.tables.get("confusion") or []
    return int(
        sum(v for r in rows for k, v in r.items() if k != "true" and isinstance(v, int | float))
    )


def _cnn(r: RunDetail) -> tuple[str, list[tuple[str, str]]]:
    acc = words.value_text(r.metrics.get("test_accuracy"), "percent")
    n = _test_images(r)
    on = f"{n:,} held-out test images" if n else "held-out test images"
    data = r.params.get("data.name", "images")
    size = r.metrics.get("parameters")  # recorded since 12-04; older runs are named without
    of = f" of {units.compact(size)} parameters" if size else ""
    line = f"Trained an image classifier{of} on {data}: {acc} accuracy on {on}."
    return line, [("Image classifier accuracy", f"{acc} on {on} ({data})")]


def _gpt2(r: RunDetail) -> tuple[str, list[tuple[str, str]]]:
    title = words.model_title(r.summary.name, words.gpt2_parameters(r.params))
    steps = words.value_text(r.metrics.get("steps"), "count")
    last = (r.history.get("val_loss") or [(0, None)])[-1][1]
    loss = words.value_text(last, "loss")
    return (
        f"Trained our own language model, {title}, for {steps} steps (validation loss {loss}).",
        [],
    )


def _chat(r: RunDetail, hardware: str) -> tuple[str, list[tuple[str, str]]]:
    from core.runs.pitch.sections import chat_title

    speed = r.metrics.get("tokens_per_s")
    per_k = r.metrics.get("usd_per_1k_tokens")
    figs = []
    if speed is not None:
        figs.append(("Chat speed", f"{units.compact(speed)} tokens/s on {hardware}"))
    if per_k is not None:
        figs.append(("Chat cost", f"{units.usd(per_k * 1000)} per 1M tokens on {hardware}"))
    return f"{chat_title(r)}: {words.value_text(speed, 'tokens_s')} on {hardware}.", figs


def _race(r: RunDetail) -> tuple[str, list[tuple[str, str]]]:
    return f"Compared optimizers ({words.run_name(r.summary.name)}).", []


def _column(row: dict, *words_in: str) -> str | None:
    return next((k for k in row if any(w in k.lower() for w in words_in)), None)


def _best_trade_off(r: RunDetail, rows: list[dict]) -> tuple[str, list[tuple[str, str]]] | None:
    """The variant the Compress page marked as the best trade-off (the run's `best_method`
    tag), against the original in words; None when the run has none."""
    method = r.summary.tags.get("best_method")
    best = next((x for x in rows[1:] if method and x.get("method") == method), None)
    if best is None or "speedup_x" not in best:
        return None
    base, size = rows[0], best.get("size_x") or 1.0
    smaller = f" and {1 / size:.1f}x smaller" if size < 0.95 else ""
    if best.get("accuracy_pct") is not None and base.get("accuracy_pct") is not None:
        drop = base["accuracy_pct"] - best["accuracy_pct"]
        kept = "the same accuracy" if abs(drop) < 0.05 else f"accuracy {best['accuracy_pct']:.1f} %"
        quality = f"{kept} (original {base['accuracy_pct']:.1f} %)"
    else:
        quality = (
            f"perplexity {best.get('perplexity_change_pct', 0.0):+.1f} % against the original's"
        )
    saved = f"{best['speedup_x']:.1f}x faster{smaller}"
    on = r.summary.tags.get("machine", "this machine")
    line = f"Compressed a model ({words.run_name(r.summary.name)}): {best['method']} runs {saved}"
    return f"{line}, with {quality}, measured on {on}.", [
        ("What compression saves", f"{best['method']}: {saved}, {quality}")
    ]


def _compress(r: RunDetail) -> tuple[str, list[tuple[str, str]]]:
    """A line, and the best trade-off against the original (the Compress page's pick), or
    else the smallest variant when the table says sizes."""
    name = words.run_name(r.summary.name)
    rows = next((t for t in r.tables.values() if t and isinstance(t[0], dict)), [])
    if (said := _best_trade_off(r, rows)) is not None:
        return said
    size = _column(rows[0], "size") if rows else None
    numeric = [x for x in rows if size and isinstance(x.get(size), int | float) and x[size] > 0]
    if len(numeric) < 2:
        return f"Compressed a model ({name}): size, speed and quality per variant.", []
    label = next((k for k, v in numeric[0].items() if isinstance(v, str)), None)
    original = next(
        (x for x in numeric if label and any(w in str(x[label]).lower() for w in ORIGINALS)),
        numeric[0],
    )
    best = min(numeric, key=lambda x: x[size])
    shown = str(best.get(label, "smallest")) if label else "the smallest variant"
    saved = f"{original[size] / best[size]:.3g}x smaller"
    quality = _column(best, "quality", "accuracy", "agreement")
    extra = f", quality {_number(best[quality])}" if quality else ""
    change = best.get("perplexity_change_pct")  # a language model's quality (Compress, GPT-2)
    if isinstance(change, int | float):
        extra = f", perplexity {change:+.1f} % against the original's"
    line = f"Compressed a model ({name}): {shown} is {saved} than the original{extra}."
    return line, [("What compression saves", f"{shown}: {saved}{extra}")]


def _number(value: object) -> str:
    return words.value_text(value, "plain") if isinstance(value, int | float) else str(value)


def _business(run: RunDetail) -> tuple[str, list[tuple[str, str]]]:
    c = business.read_case(run)
    if not c.results:
        return "Costed the business case.", [
            words.figure(k, v) for k, v in sorted(run.metrics.items())
        ]
    load = c.inputs.get(("serve", "requests_per_day"))
    gpu = c.inputs.get(("serve", "gpu"), "the chosen GPU")
    at = f"at {units.compact(float(load))} requests a day on {gpu}" if load is not None else ""
    figs = [
        ("Cost to train", f"{c.text('train', 'cost')} on {c.inputs.get(('train', 'gpu'), '-')}"),
        ("Serving cost", f"{c.text('serve', 'monthly cost')} {at}".strip()),
        (
            "Serving cost per 1M tokens",
            business.number_text(c.value("serve", "cost per 1M tokens"), "USD per 1M tokens"),
        ),
    ]
    for api in c.apis[:2]:
        even = c.value("api", f"{api} break-even")
        shown = c.text("api", f"{api} break-even")
        figs.append((f"Break-even against {api}", f"above {shown}" if even is not None else shown))
    figs.append(("Runway", c.text("startup", "runway")))
    figs.append(("Months to profitability", c.months_to_profit()))
    return "Costed the business: training, serving at scale, hosted APIs and the runway.", figs


def story(facts: Facts, runs: list[RunDetail], case: RunDetail | None) -> str:
    """Page 1: name, summary, what was built (a line per run), the headline figures."""
    lines, figs = [], []
    for r in runs:
        tool = r.summary.tool
        if tool == "cnn":
            line, f = _cnn(r)
        elif tool == "gpt2":
            line, f = _gpt2(r)
        elif tool == "chat":
            line, f = _chat(r, facts.hardware)
        elif tool == "optimizers":
            line, f = _race(r)
        elif tool == "compress":
            line, f = _compress(r)
        else:
            line, f = f"{words.run_name(r.summary.name)}.", []
        lines.append(line)
        figs += f
    if case is not None:
        line, f = _business(case)
        lines.append(line)
        figs += f
    day = f"{facts.date:%d %B %Y}".lstrip("0")
    summary = f'<p class="lead">{escape(facts.summary)}</p>' if facts.summary.strip() else ""
    built = "".join(f"<li>{escape(x)}</li>" for x in lines) or "<li>No runs chosen.</li>"
    headline = table(("Headline figure", "Value"), figs, numeric=set()) if figs else ""
    return (
        '<section class="title">'
        f"<h1>{escape(facts.product)}</h1>{summary}"
        f"<h3>What we built and measured</h3><ul>{built}</ul>{headline}"
        f'<p class="muted">Measured on {escape(facts.hardware)}, {escape(day)}. '
        "Details follow, one section per tool; formulas and sources in Methods.</p>"
        "</section>"
    )
