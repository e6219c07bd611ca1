"""The business case in one call: inputs -> every figure the calculator page shows, its
charts' data, a CSV of inputs and results and a one-page Markdown summary.

Pure Python on top of `core.economics.costs`; no torch, no pandas.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, dataclass, field

from core import units
from core.economics import costs
from core.runs.types import RunRecord

PRICING = {"on-demand": 1.0, "spot": 0.5, "1-yr reserved": 0.7}  # x on-demand (assumed typical)


@dataclass(frozen=True, kw_only=True)
class TrainInputs:
    """One training run."""

    params: float = 1.0e9  # parameters
    tokens: float = 20.0e9  # training tokens
    gpu: str = "H100-SXM"  # catalog name
    n_gpus: int = 8  # GPUs training together
    mfu: float = 0.4  # model FLOPs utilisation, (0, 1]
    price_per_hour: float = 3.0  # USD per GPU-hour
    mixed_precision: bool = True  # bf16 with fp32 master weights (else fp32)
    seq_len: int = 2048  # tokens per sequence
    micro_batch: int = 1  # sequences per GPU per step
    checkpointing: bool = False  # recompute activations in the backward pass
    pue: float = 1.2  # data-centre power usage effectiveness, >= 1
    grid_g_per_kwh: float = 400.0  # grid carbon intensity, g CO2e per kWh


@dataclass(frozen=True, kw_only=True)
class ServeInputs:
    """Serving a model under a daily load."""

    shape: costs.ModelShape = field(
        default_factory=lambda: costs.model_presets()["8B class (Llama 3 8B)"]
    )
    precision: str = "bf16"  # weights: fp32, bf16, fp16, int8 or int4
    context_len: int = 4096  # tokens of context reserved per request
    requests_per_day: float = 50_000  # requests per day (the page: paying users x per user)
    input_tokens: float = 500  # prompt tokens per request
    output_tokens: float = 300  # generated tokens per request
    gpu: str = "H100-SXM"  # catalog name
    price_per_hour: float = 3.0  # USD per GPU-hour
    utilisation: float = 0.5  # average share of capacity in use, (0, 1]
    measured_tokens_per_s: float | None = None  # a speed measured here replaces the bound


@dataclass(frozen=True, kw_only=True)
class StartupInputs:
    """The company around the model."""

    cash: float = 1_000_000  # USD in the bank
    retrains_per_year: float = 4  # training runs like the one above per year
    other_monthly: float = 50_000  # everything that is not compute, USD per month
    users: float = 5_000  # paying users today (they make the serving load)
    price_per_user: float = 20  # USD per user per month
    monthly_growth: float = 0.05  # users added per month, as a share (0.05 = 5 %)


@dataclass(frozen=True)
class ApiPrice:
    """A hosted API's list price."""

    name: str
    input_per_m: float  # USD per 1M input tokens
    output_per_m: float  # USD per 1M output tokens


def gpus_from_rows(rows: list[dict]) -> tuple[dict[str, costs.GPU], list[str]]:
    """name -> GPU from edited table rows, and a message per row that was refused."""
    catalog, problems = {}, []
    for row in rows:
        try:
            catalog[str(row["name"])] = costs.gpu_from_row(row)
        except ValueError as err:
            problems.append(str(err))
    return catalog, problems


def apis_from_rows(rows: list[dict]) -> tuple[list[ApiPrice], list[str]]:
    """API prices from edited table rows, and a message per row that was refused."""
    apis, problems = [], []
    for row in rows:
        name = str(row.get("name"))
        try:
            price_in = costs.non_negative(f"{name} input price", float(row["input_per_m"]))
            price_out = costs.non_negative(f"{name} output price", float(row["output_per_m"]))
        except (TypeError, ValueError, KeyError) as err:
            problems.append(str(err))
            continue
        apis.append(ApiPrice(name, price_in, price_out))
    return apis, problems


def measured_speed_warning(label: str, params: float | None, shape: costs.ModelShape) -> str:
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


def default_apis() -> list[ApiPrice]:
    """API prices from core/economics/catalog/api_prices.csv."""
    return [
        ApiPrice(r["name"], float(r["input_per_m"]), float(r["output_per_m"]))
        for r in costs.read_csv("api_prices.csv")
    ]


@dataclass(frozen=True, kw_only=True)
class ApiComparison:
    """Self-hosting against one API at the given load."""

    api: ApiPrice
    api_monthly: float  # USD per month at the load
    self_host_monthly: float  # USD per month at the load
    break_even_requests_per_day: float | None  # None: the API is cheaper at any volume


@dataclass(frozen=True, kw_only=True)
class Report:
    """Everything the calculator shows."""

    train: costs.TrainingEstimate
    memory: costs.TrainingMemory
    gpus_plain: int | None  # GPUs to fit training without sharding (None: never)
    gpus_sharded: int | None  # with ZeRO-3
    serve: costs.ServingEstimate
    apis: list[ApiComparison]
    startup: costs.Runway
    chinchilla_loss: float  # predicted loss of the training run, nats/token
    optimal_params: float  # N with the lowest predicted loss at the run's FLOPs
    optimal_tokens: float  # its D = C / 6N
    runs: list[costs.RunCheck]  # published training runs checked at the run's MFU


def evaluate(
    train: TrainInputs,
    serve: ServeInputs,
    startup: StartupInputs,
    apis: list[ApiPrice],
    catalog: dict | None = None,
) -> Report:
    """Every figure of the business case; ValueError with a clear message on bad input."""
    check_inputs(train, serve)
    tgpu = costs.lookup_gpu(train.gpu, catalog)
    sgpu = costs.lookup_gpu(serve.gpu, catalog)
    est = costs.estimate_training(
        train.params,
        train.tokens,
        tgpu,
        train.n_gpus,
        train.mfu,
        train.price_per_hour,
        train.pue,
        train.grid_g_per_kwh,
    )
    shape = costs.shape_for(train.params)
    memory = costs.training_memory(
        shape, train.seq_len, train.micro_batch, train.mixed_precision, train.checkpointing
    )
    served = costs.estimate_serving(
        serve.shape,
        serve.precision,
        serve.context_len,
        serve.requests_per_day,
        serve.input_tokens,
        serve.output_tokens,
        sgpu,
        serve.price_per_hour,
        serve.utilisation,
        measured_tokens_per_s=serve.measured_tokens_per_s,
    )
    comparisons = [compare_api(api, serve, served) for api in apis]
    runway = costs.runway(
        cash=startup.cash,
        serving_monthly=served.monthly_usd,
        training_usd=est.usd,
        retrains_per_year=startup.retrains_per_year,
        other_monthly=startup.other_monthly,
        users=startup.users,
        price_per_user=startup.price_per_user,
        monthly_growth=startup.monthly_growth,
        users_per_replica=users_per_replica(served, serve, startup),
    )
    n_opt, d_opt = costs.loss_optimal(est.flops)
    return Report(
        train=est,
        memory=memory,
        gpus_plain=costs.min_gpus_to_fit(memory, tgpu, sharded=False),
        gpus_sharded=costs.min_gpus_to_fit(memory, tgpu, sharded=True),
        serve=served,
        apis=comparisons,
        startup=runway,
        chinchilla_loss=costs.chinchilla_loss(train.params, train.tokens),
        optimal_params=n_opt,
        optimal_tokens=d_opt,
        runs=costs.check_published_runs(train.mfu, {**costs.GPU_CATALOG, **(catalog or {})}),
    )


def users_per_replica(
    served: costs.ServingEstimate, serve: ServeInputs, startup: StartupInputs
) -> float:
    """Paying users one serving replica carries: its capacity over requests per user."""
    per_user = costs.positive("Requests per day", serve.requests_per_day) / costs.positive(
        "Paying users", startup.users
    )
    return served.capacity_requests_per_day / per_user


def api_usd_per_request(api: ApiPrice, serve: ServeInputs) -> float:
    """USD one request costs through `api`."""
    return costs.api_monthly_usd(
        1 / costs.DAYS_PER_MONTH,
        serve.input_tokens,
        serve.output_tokens,
        api.input_per_m,
        api.output_per_m,
    )


def compare_api(api: ApiPrice, serve: ServeInputs, served: costs.ServingEstimate) -> ApiComparison:
    """Monthly cost of `api` against self-hosting at the load, and the break-even volume."""
    per_request = api_usd_per_request(api, serve)
    return ApiComparison(
        api=api,
        api_monthly=per_request * serve.requests_per_day * costs.DAYS_PER_MONTH,
        self_host_monthly=served.monthly_usd,
        break_even_requests_per_day=(
            costs.break_even_requests_per_day(served, per_request) if per_request > 0 else None
        ),
    )


def volume_curve(
    serve: ServeInputs, served: costs.ServingEstimate, apis: list[ApiPrice], points: int = 60
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


def size_curve(train: TrainInputs, catalog: dict | None = None) -> dict[str, list[float]]:
    """Training USD against model size at compute-optimal tokens (20 per parameter), on the
    run's GPU, MFU and price: {'params': [...], 'usd': [...], 'tokens': [...]}."""
    gpu = costs.lookup_gpu(train.gpu, catalog)
    sizes = [10 ** (7 + 0.25 * i) for i in range(21)]  # 10M to 1T parameters
    tokens = [costs.TOKENS_PER_PARAM * n for n in sizes]
    hours = [
        costs.training_gpu_hours(n, d, gpu, train.mfu) for n, d in zip(sizes, tokens, strict=True)
    ]
    return {"params": sizes, "tokens": tokens, "usd": [h * train.price_per_hour for h in hours]}


def isoflop_curve(compute_flops: float, points: int = 41) -> dict[str, list[float]]:
    """Chinchilla loss against model size at a fixed FLOP budget (D = C / 6N), spanning
    1/30x to 30x the loss-optimal size (its middle point): {'params': [...], 'loss': [...]}."""
    n_opt, _ = costs.loss_optimal(compute_flops)
    sizes = [n_opt * 30 ** (-1 + 2 * i / (points - 1)) for i in range(points)]
    losses = [costs.chinchilla_loss(n, compute_flops / (6 * n)) for n in sizes]
    return {"params": sizes, "loss": losses}


def check_inputs(train: TrainInputs, serve: ServeInputs) -> None:
    """ValueError naming the first input the formulas cannot use (the rest check themselves)."""
    for name, value in (
        ("GPUs", train.n_gpus),
        ("Sequence length", train.seq_len),
        ("Micro-batch", train.micro_batch),
        ("Context per request", serve.context_len),
    ):
        if costs.positive(name, value) != int(value):
            raise ValueError(f"{name} must be a whole number, got {value!r}.")
    if serve.context_len > serve.shape.context:
        raise ValueError(
            f"Context per request ({serve.context_len:,} tokens) is longer than "
            f"{serve.shape.name}'s window of {serve.shape.context:,} tokens."
        )


Figure = tuple[str, str, str]  # (label, value with its unit, help text)


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


def serve_figures(serve: ServeInputs, r: Report) -> list[Figure]:
    """The Serve tab's headline figures."""
    s = r.serve
    speed = "measured, applied to every batch" if serve.measured_tokens_per_s else "bound"
    return [
        ("Monthly serving cost", units.usd(s.monthly_usd), ""),
        ("Cost per 1M tokens", units.usd(s.usd_per_m_tokens), ""),
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


def startup_figures(startup: StartupInputs, r: Report) -> list[Figure]:
    """The Startup tab's headline figures."""
    u = r.startup
    return [
        ("Monthly costs", units.usd(u.monthly_costs), "Serving + training spread + other."),
        ("Monthly revenue", units.usd(u.monthly_revenue), "Paying users x price."),
        ("Net burn (per month)", units.usd(u.net_burn), "Costs - revenue; negative: profit."),
        ("Runway", units.months(u.runway_months), "Until the cash runs out, with growth."),
        ("Months to profitability", profit_text(u), ""),
        ("Compute cost per user", f"{units.usd(u.cost_per_user)}/month", ""),
        ("Gross margin per user", units.percent(u.gross_margin), ""),
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
    return (
        f"Default dead: at {units.percent(startup.monthly_growth)} user growth a month the cash "
        f"runs out in {units.months(u.runway_months)}, and profit comes {profit_text(u)}."
    )


def scaling_figures(r: Report) -> list[Figure]:
    """The Scaling tab's headline figures."""
    return [
        ("Predicted loss of this run", f"{r.chinchilla_loss:.3f} nats/token", ""),
        ("Loss-optimal size", units.params(r.optimal_params), "Lowest point of the curve."),
        ("Loss-optimal data", units.tokens(r.optimal_tokens), ""),
    ]


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


def burn_breakdown(report: Report, startup: StartupInputs) -> dict[str, float]:
    """USD per month by cause, and revenue as a negative cost."""
    return {
        "Serving": report.serve.monthly_usd,
        "Training (spread per month)": report.train.usd * startup.retrains_per_year / 12,
        "Other": startup.other_monthly,
        "Revenue": -report.startup.monthly_revenue,
    }


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


def result_rows(
    train: TrainInputs, serve: ServeInputs, startup: StartupInputs, apis: list[ApiPrice], r: Report
) -> list[tuple[str, str, str, object, str]]:
    """(section, kind, name, value, unit) for every input and result: the CSV export."""
    rows = []
    for section, inputs in (("train", train), ("serve", serve), ("startup", startup)):
        for name, value in asdict(inputs).items():
            if name == "shape":
                for k, v in value.items():
                    rows.append((section, "input", f"model {k}", v, ""))
            else:
                rows.append((section, "input", name, value, ""))
    for api in apis:
        rows.append(("api", "input", f"{api.name} input", api.input_per_m, "USD per 1M tokens"))
        rows.append(("api", "input", f"{api.name} output", api.output_per_m, "USD per 1M tokens"))
    t, m, s, u = r.train, r.memory, r.serve, r.startup
    rows += [
        ("train", "result", "compute", t.flops, "FLOPs"),
        ("train", "result", "GPU-hours", t.gpu_hours, "GPU-hours"),
        ("train", "result", "wall clock", t.wall_days, "days"),
        ("train", "result", "cost", t.usd, "USD"),
        ("train", "result", "energy", t.kwh, "kWh"),
        ("train", "result", "emissions", t.co2_kg, "kg CO2e"),
        ("train", "result", "memory weights", m.weights, "bytes"),
        ("train", "result", "memory gradients", m.gradients, "bytes"),
        ("train", "result", "memory optimizer", m.optimizer, "bytes"),
        ("train", "result", "memory activations", m.activations, "bytes"),
        ("train", "result", "GPUs to fit, no sharding", r.gpus_plain, "GPUs"),
        ("train", "result", "GPUs to fit, ZeRO-3", r.gpus_sharded, "GPUs"),
        ("train", "result", "Chinchilla loss", r.chinchilla_loss, "nats/token"),
        ("train", "result", "compute-optimal params", r.optimal_params, "params"),
        ("train", "result", "compute-optimal tokens", r.optimal_tokens, "tokens"),
        ("serve", "result", "weights", s.weight_bytes, "bytes"),
        ("serve", "result", "KV cache per request", s.kv_bytes_per_request, "bytes"),
        ("serve", "result", "GPUs per replica", s.gpus_per_replica, "GPUs"),
        ("serve", "result", "concurrent requests per replica", s.max_batch, "requests"),
        ("serve", "result", "decode at batch 1", s.tokens_per_s_batch1, "tokens/s"),
        ("serve", "result", "decode at full batch", s.tokens_per_s_full, "tokens/s"),
        ("serve", "result", "GPUs for the load", s.gpus, "GPUs"),
        ("serve", "result", "monthly cost", s.monthly_usd, "USD/month"),
        ("serve", "result", "cost per 1M tokens", s.usd_per_m_tokens, "USD"),
    ]
    for c in r.apis:
        rows.append(("api", "result", f"{c.api.name} monthly", c.api_monthly, "USD/month"))
        rows.append(
            (
                "api",
                "result",
                f"{c.api.name} break-even",
                c.break_even_requests_per_day,
                "requests/day",
            )
        )
    rows += [
        ("startup", "result", "monthly costs", u.monthly_costs, "USD/month"),
        ("startup", "result", "monthly revenue", u.monthly_revenue, "USD/month"),
        ("startup", "result", "net burn", u.net_burn, "USD/month"),
        ("startup", "result", "runway", u.runway_months, "months"),
        ("startup", "result", "months to profitability", u.months_to_profit, "months"),
        ("startup", "result", "default alive", u.default_alive, "yes/no"),
        ("startup", "result", "compute cost per user", u.cost_per_user, "USD/month"),
        ("startup", "result", "gross margin", u.gross_margin, "fraction"),
    ]
    return rows


def to_csv(rows: list[tuple]) -> str:
    """The rows as CSV text with a header."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "kind", "name", "value", "unit"])
    writer.writerows(rows)
    return out.getvalue()


def break_even_text(c: ApiComparison) -> str:
    """'12.3k requests/day' or a sentence saying there is none."""
    if c.break_even_requests_per_day is None:
        return "never (the API is cheaper at any volume)"
    return f"{units.compact(c.break_even_requests_per_day)} requests/day"


def profit_text(u: costs.Runway) -> str:
    """'now', 'in 7.0 months' or 'not within 10 years'."""
    if u.months_to_profit == 0:
        return "now"
    if math.isinf(u.months_to_profit):
        return f"not within {costs.RUNWAY_HORIZON_MONTHS // 12} years"
    return f"in {units.months(u.months_to_profit)}"


def summary_markdown(
    train: TrainInputs, serve: ServeInputs, startup: StartupInputs, r: Report
) -> str:
    """A one-page summary to paste into a deck."""
    t, s, u = r.train, r.serve, r.startup
    lines = [
        "# Compute business case",
        "",
        "## Training",
        f"- Model: {units.params(train.params)} trained on {units.tokens(train.tokens)} "
        f"({units.flops(t.flops)})",
        f"- Hardware: {train.n_gpus} x {train.gpu} at {units.percent(train.mfu)} MFU, "
        f"{units.usd(train.price_per_hour)} per GPU-hour",
        f"- Cost: **{units.usd(t.usd)}**, {units.hours(t.gpu_hours)}, "
        f"{units.days(t.wall_days)} wall clock",
        f"- Energy: {units.compact(t.kwh)} kWh, {units.compact(t.co2_kg)} kg CO2e",
        "",
        "## Serving",
        f"- Model: {units.gigabytes(s.weight_bytes)} of {serve.precision} weights on "
        f"{s.gpus} x {serve.gpu}",
        f"- Load: {units.compact(serve.requests_per_day)} requests/day of "
        f"{units.compact(serve.input_tokens)} + {units.compact(serve.output_tokens)} tokens",
        f"- Cost: **{units.usd(s.monthly_usd)} per month**, "
        f"{units.usd(s.usd_per_m_tokens)} per 1M tokens",
        "",
        "## Against hosted APIs",
    ]
    for c in r.apis:
        lines.append(
            f"- {c.api.name}: {units.usd(c.api_monthly)} per month at this load; "
            f"self-hosting breaks even at {break_even_text(c)}"
        )
    lines += [
        "",
        "## Company",
        f"- Costs {units.usd(u.monthly_costs)} and revenue {units.usd(u.monthly_revenue)} per "
        f"month: net burn **{units.usd(u.net_burn)}**; runway {units.months(u.runway_months)} "
        f"on {units.usd(startup.cash)}",
        f"- Profitable {profit_text(u)} at {units.percent(startup.monthly_growth)} user growth "
        f"a month: **{'default alive' if u.default_alive else 'default dead'}**",
        f"- Compute per user: {units.usd(u.cost_per_user)} per month; gross margin "
        f"{units.percent(u.gross_margin)} at {units.usd(startup.price_per_user)} per user",
        "",
        "Estimates from 6ND training compute, memory-bandwidth-bound decoding and dated list "
        "prices; see the calculator for every assumption.",
    ]
    return "\n".join(lines) + "\n"


def record_case(
    train: TrainInputs, serve: ServeInputs, startup: StartupInputs, apis: list[ApiPrice], r: Report
) -> str:
    """Record the case in the run store (tool "business"): every input and result with its
    unit; returns the run id. runs.StoreError says why the store would not take it."""
    from core import runs  # mlflow stays off the calculator's first render

    rows = result_rows(train, serve, startup, apis, r)
    table = [
        {"section": sec, "kind": kind, "name": name, "value": value, "unit": unit}
        for sec, kind, name, value, unit in rows
    ]
    params = {f"{sec}.{name}": value for sec, kind, name, value, _ in rows if kind == "input"}
    return runs.record(
        "business",
        RunRecord(
            name=f"{units.params(train.params)} on {train.gpu}, "
            f"{units.compact(startup.users)} users",
            params=params,
            metrics={
                "training_cost_usd": r.train.usd,
                "serving_monthly_usd": r.serve.monthly_usd,
                "usd_per_m_tokens": r.serve.usd_per_m_tokens,
                "net_burn_usd_per_month": r.startup.net_burn,
                "runway_months": r.startup.runway_months,
                "months_to_profit": r.startup.months_to_profit,
            },
            tables={"inputs_and_results": table},
            artifacts={"business_case.md": summary_markdown(train, serve, startup, r)},
        ),
    )
