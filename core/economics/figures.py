"""What the calculator shows of a case and its report, tab by tab: headline figures as
(label, value with its unit, help) for st.metric, sentences, display tables and the data of
each chart (plotted by `core.economics.charts`).

Text and numbers only: no Streamlit, no plotly. A new headline figure is one entry in its
tab's list here; the page draws whatever the list holds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from core import units
from core.economics import costs
from core.economics.case import (
    ApiComparison,
    Case,
    Report,
    ServeInputs,
    StartupInputs,
    TrainInputs,
    api_usd_per_request,
    assess,
)
from core.economics.catalog import ApiPrice, ModelShape, lookup_gpu

Figure = tuple[str, str, str]  # (label, value with its unit, help text)


# ---- Train ----------------------------------------------------------------------------


def train_figures(train: TrainInputs, r: Report) -> list[Figure]:
    """The Train tab's headline figures; units in the labels keep the values short."""
    t, m = r.train, r.memory
    plain = units.count(r.gpus_plain, "GPU") if r.gpus_plain else "does not fit one GPU"
    return [
        ("Training cost", units.usd(t.usd), ""),
        ("GPU time (GPU-hours)", units.compact(t.gpu_hours), ""),
        (f"Wall clock on {units.count(train.n_gpus, 'GPU')}", units.days(t.wall_days), ""),
        ("Compute (FLOPs)", units.flops(t.flops).removesuffix(" FLOPs"), ""),
        ("Energy (kWh)", units.compact(t.kwh), ""),
        ("Emissions", units.co2(t.co2_kg), ""),
        ("Training memory", units.gigabytes(m.total), ""),
        (
            "GPUs to fit (ZeRO-3)",
            units.count(r.gpus_sharded, "GPU") if r.gpus_sharded else "never",
            f"Without sharding: {plain}. Never: one GPU cannot hold the activations.",
        ),
    ]


def memory_parts(r: Report) -> dict[str, float]:
    """Training memory per replica by part, GB."""
    m = r.memory
    parts = {"Weights": m.weights, "Gradients": m.gradients, "Adam states": m.optimizer}
    return {**{k: v / 1e9 for k, v in parts.items()}, "Activations": m.activations / 1e9}


def size_curve(train: TrainInputs, catalog: dict | None = None) -> dict[str, list[float]]:
    """Training USD against model size at compute-optimal tokens (20 per parameter), on the
    run's GPU, MFU and price: {'params': [...], 'usd': [...], 'tokens': [...]}."""
    gpu = lookup_gpu(train.gpu, catalog)
    sizes = [10 ** (7 + 0.25 * i) for i in range(21)]  # 10M to 1T parameters
    tokens = [costs.TOKENS_PER_PARAM * n for n in sizes]
    hours = [
        costs.training_gpu_hours(n, d, gpu, train.mfu) for n, d in zip(sizes, tokens, strict=True)
    ]
    return {"params": sizes, "tokens": tokens, "usd": [h * train.price_per_hour for h in hours]}


# ---- Serve vs API ---------------------------------------------------------------------


def serve_figures(serve: ServeInputs, r: Report) -> list[Figure]:
    """The Serve tab's headline figures."""
    s = r.serve
    speed = "measured, applied to every batch" if serve.measured_tokens_per_s else "bound"
    per_m = "no tokens served yet" if s.usd_per_m_tokens is None else units.usd(s.usd_per_m_tokens)
    return [
        ("Monthly serving cost", units.usd(s.monthly_usd), "Zero load: nothing to serve yet."),
        ("Cost per 1M tokens", per_m, ""),
        (
            "GPUs for the load",
            units.count(s.gpus, "GPU"),
            f"{units.count(s.replicas, 'replica')} x {units.count(s.gpus_per_replica, 'GPU')}, "
            f"at {units.percent(serve.utilisation)} average utilisation.",
        ),
        ("Concurrent requests per replica", f"{s.max_batch:,}", ""),
        ("Weights", units.gigabytes(s.weight_bytes), ""),
        ("KV cache per request", units.gigabytes(s.kv_bytes_per_request), ""),
        (
            "Decode at batch 1 (tokens/s)",
            units.compact(s.tokens_per_s_batch1),
            f"{speed}: memory-bandwidth bound, every weight read once per token.",
        ),
        (
            f"Decode at batch {s.max_batch:,} (tokens/s)",
            units.compact(s.tokens_per_s_full),
            f"{speed}: the whole replica, all requests together.",
        ),
    ]


def measured_speed_warning(label: str, params: float | None, shape: ModelShape) -> str:
    """What a measured speed means when it prices another model."""
    if params and abs(params / shape.params - 1) < 0.1:
        return f"Using the speed measured on {label} for {shape.name}: the same size."
    size = f" ({units.params(params)})" if params else ""
    return (
        f"This speed was measured on {label}{size}, not on {shape.name} "
        f"({units.params(shape.params)}). Decode speed falls roughly in proportion to the bytes "
        "of weights read per token, so unless it is the same model the cost below is off by "
        "about their size ratio."
    )


def saving_text(case: Case, r: Report) -> str:
    """What the applied compression changed: replicas, USD per 1M tokens and the first API's
    break-even, against the same case without it."""
    serve = case.serve
    plain = replace(case, serve=replace(serve, saving="", speedup=1.0, memory_ratio=1.0))
    before = assess(plain)
    if before.serve is None or r.serve is None:
        return f"With {serve.saving}."
    b, a = before.serve, r.serve

    def per_m(s: costs.ServingEstimate) -> str:
        return "-" if s.usd_per_m_tokens is None else units.usd(s.usd_per_m_tokens)

    if a.replicas == b.replicas and per_m(a) == per_m(b):  # the load fits either way
        one = f"{units.compact(b.tokens_per_s_batch1)} -> {units.compact(a.tokens_per_s_batch1)}"
        return (
            f"With {serve.saving}: no change at this load. {units.count(b.replicas, 'replica')} "
            f"serves it with or without the compression (decode {one} tokens/s for one "
            "stream); the saving shows once the load needs more than that."
        )
    text = (
        f"With {serve.saving}: {units.count(a.replicas, 'replica')} instead of "
        f"{b.replicas}, {per_m(a)} per 1M tokens instead of {per_m(b)}"
    )
    if r.apis and before.apis:
        text += (
            f"; against {r.apis[0].api.name} self-hosting breaks even at "
            f"{break_even_text(r.apis[0])} instead of {break_even_text(before.apis[0])}"
        )
    return text + "."


def break_even_text(c: ApiComparison) -> str:
    """'12.3k requests/day' or a sentence saying there is none."""
    if c.break_even_requests_per_day is None:
        return "never (the API is cheaper at any volume)"
    return f"{units.compact(c.break_even_requests_per_day)} requests/day"


def api_table(report: Report) -> list[dict]:
    """One row per API: its monthly cost at the load, self-hosting's, and the break-even."""
    return [
        {
            "API": c.api.name,
            "API at this load": units.usd(c.api_monthly) + "/month",
            "Self-hosted": units.usd(c.self_host_monthly) + "/month",
            "Self-hosting breaks even at": break_even_text(c),
        }
        for c in report.apis
    ]


def volume_curve(
    serve: ServeInputs,
    served: costs.ServingEstimate,
    apis: Sequence[ApiPrice],
    points: int = 60,
) -> dict[str, list[float]]:
    """Monthly USD against requests/day (log grid, 10 to 100x the load) for self-hosting
    and each API: {'requests_per_day': [...], 'Self-hosted': [...], api name: [...]}."""
    top = max(serve.requests_per_day * 100, 1e3)
    grid = [10 ** (1 + (math.log10(top) - 1) * i / (points - 1)) for i in range(points)]
    curve = {"requests_per_day": grid}
    curve["Self-hosted"] = [costs.self_host_monthly_usd(v, served) for v in grid]
    for api in apis:
        per_request = api_usd_per_request(api, serve)
        curve[api.name] = [per_request * v * costs.DAYS_PER_MONTH for v in grid]
    return curve


# ---- Startup view ---------------------------------------------------------------------


def profit_text(u: costs.Runway) -> str:
    """'now', 'in 7.0 months', 'not within 10 years', or why there is no profit to come."""
    if u.months_to_profit == 0:
        return "now"
    if math.isinf(u.months_to_profit) and u.monthly_revenue == 0:
        return "no revenue yet"
    if math.isinf(u.months_to_profit):
        return f"not within {costs.RUNWAY_HORIZON_MONTHS // 12} years"
    return f"in {units.months(u.months_to_profit)}"


def startup_figures(startup: StartupInputs, r: Report) -> list[Figure]:
    """The Startup tab's headline figures."""
    u = r.startup
    return [
        ("Monthly costs", units.usd(u.monthly_costs), "Serving + training spread + other."),
        ("Monthly revenue", units.usd(u.monthly_revenue), "Paying users x price."),
        ("Net burn (per month)", units.usd(u.net_burn), "Costs - revenue; negative: profit."),
        ("Runway", units.months(u.runway_months), "Until the cash runs out, with growth."),
        ("Months to profitability", profit_text(u), ""),
        (
            "Compute cost per user",
            "no users yet" if u.cost_per_user is None else f"{units.usd(u.cost_per_user)}/month",
            "Serving + training spread, over paying and pilot users.",
        ),
        (
            "Gross margin",
            "no revenue yet" if u.gross_margin is None else units.percent(u.gross_margin),
            "(Revenue - compute) / revenue, this month.",
        ),
        ("User growth", f"{units.percent(startup.monthly_growth)}/month", ""),
    ]


def verdict(startup: StartupInputs, r: Report) -> str:
    """One sentence: default alive or default dead, and why."""
    u = r.startup
    if u.default_alive and math.isinf(u.runway_months):
        return f"Default alive: profitable {profit_text(u)}, and the cash never runs out."
    if u.default_alive:
        return (
            f"Default alive: profitable {profit_text(u)}, before the cash runs out "
            f"({units.months(u.runway_months)} of runway)."
        )
    if u.monthly_revenue == 0:
        return (
            f"Pre-revenue: the cash lasts {units.months(u.runway_months)} at this burn; profit "
            "needs paying users (set them and their price above)."
        )
    return (
        f"Default dead: at {units.percent(startup.monthly_growth)} user growth a month the cash "
        f"runs out in {units.months(u.runway_months)}, and profit comes {profit_text(u)}."
    )


def burn_breakdown(report: Report, startup: StartupInputs) -> dict[str, float]:
    """USD per month by cause, and revenue as a negative cost."""
    return {
        "Serving": report.serve.monthly_usd,
        "Training (spread per month)": report.train.usd * startup.retrains_per_year / 12,
        "Other": startup.other_monthly,
        "Revenue": -report.startup.monthly_revenue,
    }


# ---- Scaling laws ---------------------------------------------------------------------


def scaling_figures(r: Report) -> list[Figure]:
    """The Scaling tab's headline figures."""
    return [
        ("Predicted loss of this run", f"{r.chinchilla_loss:.3f} nats/token", ""),
        ("Loss-optimal size", units.params(r.optimal_params), "Lowest point of the curve."),
        ("Loss-optimal data", units.tokens(r.optimal_tokens), ""),
    ]


def isoflop_curve(compute_flops: float, points: int = 41) -> dict[str, list[float]]:
    """Chinchilla loss against model size at a fixed FLOP budget (D = C / 6N), spanning
    1/30x to 30x the loss-optimal size (its middle point): {'params': [...], 'loss': [...]}."""
    n_opt, _ = costs.loss_optimal(compute_flops)
    sizes = [n_opt * 30 ** (-1 + 2 * i / (points - 1)) for i in range(points)]
    losses = [costs.chinchilla_loss(n, compute_flops / (6 * n)) for n in sizes]
    return {"params": sizes, "loss": losses}


# ---- Published runs -------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RunsSummary:
    """How far the published-run estimates land from what was reported."""

    worst_hours_error: float  # largest |estimate / reported - 1| over GPU-hour rows
    median_hours_error: float  # median of the same
    worst_flops_error: float  # largest |6ND / reported FLOPs - 1|
    worst_model: str  # the run furthest off in GPU-hours
    worst_implied_mfu: float  # the MFU that run's reported hours imply


def summarise_runs(runs: list[costs.RunCheck]) -> RunsSummary:
    """Worst and median errors of the published-runs check."""
    hour_rows = sorted((c for c in runs if c.reported_gpu_hours), key=lambda c: abs(c.error))
    flop_errors = [abs(c.error) for c in runs if not c.reported_gpu_hours]
    return RunsSummary(
        worst_hours_error=abs(hour_rows[-1].error),
        median_hours_error=abs(hour_rows[len(hour_rows) // 2].error),
        worst_flops_error=max(flop_errors),
        worst_model=hour_rows[-1].model,
        worst_implied_mfu=hour_rows[-1].implied_mfu,
    )


def runs_sentence(train: TrainInputs, r: Report) -> str:
    """How well the estimates match published runs, in one paragraph."""
    summary = summarise_runs(r.runs)
    return (
        f"At **MFU {train.mfu:.2f}** (set on the Train tab) the GPU-hour estimates land within "
        f"**{units.percent(summary.worst_hours_error)}** of what was reported (median "
        f"{units.percent(summary.median_hours_error)}). The furthest is {summary.worst_model}, "
        f"whose reported hours imply an MFU of {summary.worst_implied_mfu:.2f}. 6ND matches "
        f"the FLOPs papers report within **{units.percent(summary.worst_flops_error)}**."
    )


def runs_table(runs: list[costs.RunCheck]) -> list[dict]:
    """The published-runs check as display rows, every figure with its unit."""

    def count(x: float | None, unit: str) -> str:
        return f"{x:,.0f} {unit}" if x else "-"

    return [
        {
            "Model": c.model,
            "Size": units.params(c.params),
            "Data": units.tokens(c.tokens),
            "GPU": c.gpu or "-",
            "Reported": count(c.reported_gpu_hours, "GPU-h")
            if c.reported_gpu_hours
            else units.flops(c.reported_flops),
            "Estimated": count(c.estimate_gpu_hours, "GPU-h")
            if c.reported_gpu_hours
            else units.flops(c.estimate_flops),
            "Error": units.percent(c.error),
            "Implied MFU": f"{c.implied_mfu:.2f}" if c.implied_mfu else "-",
            "Source": c.source,
        }
        for c in runs
    ]
