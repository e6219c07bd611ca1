"""The pitch pack's sections, one function each, each returning its HTML: the story on
page 1 (what was built and measured, the headline figures with units, hardware and date),
one section per tool (image classifier, own language model, chat, optimizers, what
compression saves, the business case) and the methods appendix. Every figure is labelled
for a reader (core.runs.pitch.words); text from users and models is escaped; no path, host
name or run id appears outside the appendix."""

from __future__ import annotations

from core.runs.pitch import business, words
from core.runs.pitch.markup import Charts, escape, section, source, table
from core.runs.pitch.story import Facts
from core.runs.types import RunDetail

EXCERPT_TURNS = 6  # chat turns quoted when the founder chose none
METRICS_SHOWN = 10  # figures listed per run
TABLE_ROWS = 12  # rows of a recorded table quoted per run
SKIPPED_TABLES = {"confusion", "samples", "replies", "transcript"}  # drawn or quoted otherwise
CURVE_GROUPS = (("loss", "Loss during training"), ("accuracy", "Accuracy during training"))


def _figures_table(run: RunDetail, skip: tuple[str, ...] = ()) -> str:
    shown = [words.figure(k, v) for k, v in sorted(run.metrics.items()) if k not in skip]
    return table(("Figure", "Value"), shown[:METRICS_SHOWN], numeric={1})


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "infinite" if words.is_never(value) else words.value_text(value, "plain")
    return str(value)


def _rows_table(name: str, rows: list[dict]) -> str:
    """A recorded table (its first TABLE_ROWS rows) under a reader's name."""
    more = f" (first {TABLE_ROWS} of {len(rows)} rows)" if len(rows) > TABLE_ROWS else ""
    keys = list(dict.fromkeys(k for r in rows[:TABLE_ROWS] for k in r))
    header = [words.humanize(k) if "_" in k else k for k in keys]
    body = ([_cell(r.get(k, "")) for k in keys] for r in rows[:TABLE_ROWS])
    return f"<p><b>{escape(words.humanize(name))}</b>{escape(more)}</p>{table(header, body)}"


def _curves(run: RunDetail, charts: Charts) -> list[str]:
    """The run's stored charts, or its recorded history drawn per group (loss, accuracy)."""
    if run.figures:
        return [charts.div(run.figure(name)) for name in run.figures]
    out = []
    for word, title in CURVE_GROUPS:
        series = {words.label_of(m).label: run.history[m] for m in sorted(run.history) if word in m}
        if series:
            out.append(charts.lines(series, title))
    return out


def _run_block(run: RunDetail, charts: Charts, title: str, lines: list[str]) -> str:
    """One run: a reader's title, what it is, its figures, tables and charts, its source."""
    parts = [f"<h3>{escape(title)}</h3>"] + [f"<p>{escape(x)}</p>" for x in lines]
    parts.append(_figures_table(run))
    parts += [
        _rows_table(name, rows)
        for name, rows in run.tables.items()
        if rows and name not in SKIPPED_TABLES
    ]
    parts += _curves(run, charts)
    parts.append(f'<p class="source">{source(run)}</p>')
    return "\n".join(parts)


def classifier(runs: list[RunDetail], charts: Charts) -> str:
    body = []
    for r in runs:
        lines = [f"Data: {r.params.get('data.label', r.params.get('data.name', '-'))}."]
        body.append(_run_block(r, charts, words.run_name(r.summary.name), lines))
    return section("Image classifier", "\n".join(body))


def language_model(runs: list[RunDetail], charts: Charts) -> str:
    body = []
    for r in runs:
        title = words.model_title(r.summary.name, words.gpt2_parameters(r.params))
        samples = r.tables.get("samples") or []
        lines = [f"A GPT-2 trained from scratch on {words.device_text(r.summary.device)}."]
        block = _run_block(r, charts, title, lines)
        if samples:
            last = samples[-1]
            block += (
                f"<p><b>A sample of its text after {escape(last.get('step', '-'))} steps</b></p>"
                f'<div class="turn">{escape(last.get("sample", ""))}</div>'
            )
        body.append(block)
    return section("Our own language model", "\n".join(body))


def optimizers(runs: list[RunDetail], charts: Charts) -> str:
    body = []
    for r in runs:
        lines = [f"What was raced: {r.params.get('kind', 'optimizers')}."]
        body.append(_run_block(r, charts, words.run_name(r.summary.name), lines))
    return section("Optimizer comparison", "\n".join(body))


def _turns(run: RunDetail, chosen: list[int] | None) -> list[dict]:
    rows = run.tables.get("transcript") or []
    if chosen is None:
        return rows[:EXCERPT_TURNS]
    return [rows[i] for i in chosen if 0 <= i < len(rows)]


def chat_title(run: RunDetail) -> str:
    """'Chat with my-gpt2 (0.54M parameters)' or 'Chat with a served model'."""
    model = run.params.get("model", "")
    size = run.params.get("parameters")
    try:
        size = float(size) if size not in (None, "") else None
    except ValueError:
        size = None
    return f"Chat with {words.model_title(model, size)}" if model else "Chat"


def chat(runs: list[RunDetail], chosen: dict[str, list[int]]) -> str:
    """Each saved chat: the chosen turns with the model's size beside them, speed and cost."""
    body = []
    for r in runs:
        turns = _turns(r, chosen.get(r.summary.id))
        quoted = "".join(
            f'<div class="turn"><b>{escape(str(t.get("role", "")).capitalize())}</b>'
            f"{escape(t.get('content', ''))}</div>"
            for t in turns
        )
        where = "a served model" if "server" in r.params else words.device_text(r.summary.device)
        body.append(
            f"<h3>{escape(chat_title(r))}</h3><p>Run on {escape(where)}.</p>"
            + (quoted or '<p class="muted">No turns were chosen from this chat.</p>')
            + _figures_table(r)
            + f'<p class="source">{source(r)} Cost: the hardware\'s price per hour divided by '
            "the tokens it generates per hour.</p>"
        )
    return section("Chat demo", "\n".join(body))


# what an investor reads of a variant: (header, row key, how its value reads)
VARIANT_COLUMNS = (
    ("Variant", "method", str),
    ("Accuracy", "accuracy_pct", lambda v: f"{v:.1f} %"),
    ("Perplexity change", "perplexity_change_pct", lambda v: f"{v:+.1f} %"),
    ("Speed", "speedup_x", lambda v: f"{v:.2f}x the original"),
    ("Size", "size_x", lambda v: f"{v:.2f}x the original"),
    ("Fewer parameters", "params_x", lambda v: f"{v:.2f}x"),
    ("Verdict on this machine", "verdict", str),
)


def _reads(value: object, text) -> str:
    """One cell of the variants table: '-' when missing, a number in its words."""
    if value is None:
        return "-"
    return text(float(value)) if isinstance(value, int | float) and text is not str else str(value)


def _variants_table(rows: list[dict]) -> str | None:
    """A compress run's variants in a reader's words: quality, speed and size against the
    original, and the verdict; None when the rows are not a comparison's (older tables)."""
    columns = [c for c in VARIANT_COLUMNS if any(r.get(c[1]) is not None for r in rows)]
    if not any(key == "speedup_x" for _, key, _ in columns) or columns[0][1] != "method":
        return None
    body = ([_reads(r.get(key), text) for _, key, text in columns] for r in rows[:TABLE_ROWS])
    return table([header for header, _, _ in columns], body)


def compression(runs: list[RunDetail]) -> str:
    """Each compress run: one row per variant (quality, speed and size against the original,
    the verdict), and the machine it was measured on."""
    body = []
    for r in runs:
        rows = next((t for t in r.tables.values() if t), [])
        body.append(f"<h3>{escape(words.run_name(r.summary.name))}</h3>")
        shown = _variants_table(rows) if rows else None
        if shown is None:
            shown = _rows_table("variants", rows) if rows else _figures_table(r)
        body.append(shown)
        if machine := r.summary.tags.get("machine"):
            body.append(f"<p>Measured on {escape(machine)}, each variant beside the original.</p>")
        body.append(f'<p class="source">{source(r)}</p>')
    return section("What compression saves", "\n".join(body))


def business_case(run: RunDetail) -> str:
    """Every result of the case in words, grouped, then the inputs a reader needs."""
    case = business.read_case(run)
    parts = [
        f"<h3>{escape(title)}</h3>" + table(("Figure", "Value"), rows, numeric={1})
        for title, rows in business.result_rows(case)
    ]
    inputs = business.input_rows(case)
    if inputs:
        parts.append("<h3>Inputs</h3>" + table(("Input", "Value"), inputs, numeric={1}))
    parts.append(f'<p class="source">{source(run)} Formulas and price sources: see Methods.</p>')
    return section("Business case", "\n".join(parts))


METHODS = (
    "Training compute: FLOPs = 6 x parameters x training tokens.",
    "Training time: GPU-hours = FLOPs / (GPU peak FLOP/s x utilisation x 3,600).",
    "Serving speed: decoding bound by memory bandwidth (weights and KV cache read per "
    "token), or the speed measured here where one was given.",
    "Serving cost: GPUs for the load x price per GPU-hour x 730 hours a month.",
    "Break-even: the daily requests at which self-hosting costs what the API charges.",
    "Runway: cash / net monthly burn, month by month with user growth.",
    "Chat cost per 1,000 tokens: hardware price per hour / (tokens per second x 3,600) x 1,000.",
)


def appendix(facts: Facts, runs: list[RunDetail], case: RunDetail | None) -> str:
    """Formulas, catalog sources with dates, the app's version, and the run references."""
    parts = ["<h3>Formulas</h3><ul>" + "".join(f"<li>{escape(m)}</li>" for m in METHODS) + "</ul>"]
    if case is not None:
        sources = business.catalog_sources(business.read_case(case))
        parts.append(
            "<h3>Prices and sources</h3><ul>"
            + "".join(f"<li>{escape(s)}</li>" for s in sources)
            + "</ul>"
        )
    refs = [
        (words.run_name(r.summary.name), r.summary.start.strftime("%Y-%m-%d %H:%M"), r.summary.id)
        for r in runs
    ]
    parts.append(
        f"<h3>Run references</h3><p>AI Prototyping Dashboard {escape(facts.version)}; "
        "figures from the runs it recorded:</p>"
        + table(("Run", "Recorded (UTC)", "Reference"), refs)
    )
    return section("Methods", "\n".join(parts))
