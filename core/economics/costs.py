"""GPU compute economics, the formula reference: training and serving cost, API break-even,
runway, scaling laws, energy, and the cost of the hardware in front of you.

Pure Python (no torch, no pandas), so the calculator page answers instantly. The formulas
follow EleutherAI's "Transformer Math 101" and Hoffmann et al. 2022 (Chinchilla):
- training compute C = 6 N D FLOPs; GPU-hours = C / (peak FLOP/s x MFU x 3600);
- decode at batch 1 reads every weight once per token: tokens/s <= bandwidth / weight bytes;
- KV cache bytes = 2 x layers x kv_heads x head_dim x context x batch x bytes per value;
- L(N, D) = E + A / N^alpha + B / D^beta, compute-optimal at about 20 tokens per parameter.

The GPUs, model shapes and published runs they price come from `core.economics.catalog`;
every input is checked with `core.economics.checks` (a ValueError that names it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from core.economics.catalog import (
    GPU,
    GPU_CATALOG,
    ModelShape,
    PublishedRun,
    gpu_for_device,
    lookup_gpu,
    published_runs,
)
from core.economics.checks import finite, fraction, non_negative, positive, whole

HOURS_PER_MONTH = 730.0  # 365 x 24 / 12
DAYS_PER_MONTH = 30.4
BYTES_PER_PARAM = MappingProxyType(
    {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "int8": 1.0, "int4": 0.5}
)
USABLE_MEMORY = 0.9  # share of a GPU's memory a job can really use (CUDA context, fragmentation)

# Chinchilla fit (Hoffmann et al. 2022, approach 3)
CHINCHILLA_E, CHINCHILLA_A, CHINCHILLA_B = 1.69, 406.4, 410.7
CHINCHILLA_ALPHA, CHINCHILLA_BETA = 0.34, 0.28
TOKENS_PER_PARAM = 20.0  # compute-optimal ratio


# ---- model size ---------------------------------------------------------------------------


def shape_for(n_params: float) -> ModelShape:
    """A plausible shape for `n_params` when no preset is given: width = 128 x layers
    (GPT-3 / Llama proportions), 12 x layers x width^2 parameters, 128-channel heads, MHA."""
    n_params = positive("Parameters", n_params)
    layers = max(1, round((n_params / (12 * 128**2)) ** (1 / 3)))
    hidden = max(64, math.sqrt(n_params / (12 * layers)))
    head_dim = 64 if hidden < 2048 else 128
    return ModelShape(
        name="custom",
        params=n_params,
        layers=layers,
        kv_heads=max(1, round(hidden / head_dim)),
        head_dim=head_dim,
        context=4096,
    )


# ---- training -----------------------------------------------------------------------------


def training_flops(n_params: float, n_tokens: float) -> float:
    """Training compute in FLOPs: 6 N D (forward 2 N D, backward 4 N D)."""
    return finite(
        "Training compute", 6.0 * positive("Parameters", n_params) * positive("Tokens", n_tokens)
    )


def training_gpu_hours(n_params: float, n_tokens: float, gpu: str | GPU, mfu: float) -> float:
    """GPU-hours to train: 6 N D / (peak dense FLOP/s x MFU x 3600)."""
    spec = lookup_gpu(gpu)
    mfu = fraction("MFU", mfu)
    return finite(
        "GPU-hours", training_flops(n_params, n_tokens) / (spec.peak_flops * mfu * 3600.0)
    )


def energy_kwh(gpu_hours: float, power_w: float, pue: float) -> float:
    """Facility energy in kWh: GPU-hours x board power (kW) x PUE."""
    pue = positive("PUE", pue)
    if pue < 1:
        raise ValueError(f"PUE is at least 1.0 (all power reaches the GPUs), got {pue}.")
    kwh = non_negative("GPU-hours", gpu_hours) * positive("Power", power_w) / 1000.0 * pue
    return finite("Energy", kwh)


def co2_kg(kwh: float, grid_g_per_kwh: float) -> float:
    """Emissions in kg CO2e: kWh x grid intensity (g CO2e per kWh) / 1000."""
    kg = non_negative("Energy", kwh) * non_negative("Grid intensity", grid_g_per_kwh) / 1000.0
    return finite("Emissions", kg)


@dataclass(frozen=True, kw_only=True)
class TrainingMemory:
    """Bytes one model replica needs for training."""

    weights: float
    gradients: float
    optimizer: float  # Adam moments (+ fp32 master weights in mixed precision)
    activations: float  # per GPU, for its micro-batch

    @property
    def states(self) -> float:
        """Weights + gradients + optimizer: what ZeRO-3 shards across GPUs."""
        return self.weights + self.gradients + self.optimizer

    @property
    def total(self) -> float:
        return self.states + self.activations


def training_memory(
    shape: ModelShape,
    seq_len: int = 2048,
    micro_batch: int = 1,
    mixed_precision: bool = True,
    checkpointing: bool = False,
) -> TrainingMemory:
    """Adam training memory. Mixed precision: 2 + 2 + (4 master + 8 moments) = 16 bytes/param;
    fp32: 4 + 4 + 8. Activations (Korthikanti et al. 2022, flash attention):
    34 s b h bytes per layer, or 2 s b h with full activation checkpointing."""
    n = positive("Parameters", shape.params)
    s, b = positive("Sequence length", seq_len), positive("Micro-batch", micro_batch)
    weights, grads = (2 * n, 2 * n) if mixed_precision else (4 * n, 4 * n)
    optimizer = 12 * n if mixed_precision else 8 * n
    per_layer = (2 if checkpointing else 34) * s * b * shape.hidden
    return TrainingMemory(
        weights=weights, gradients=grads, optimizer=optimizer, activations=per_layer * shape.layers
    )


def min_gpus_to_fit(memory: TrainingMemory, gpu: str | GPU, sharded: bool) -> int | None:
    """Fewest GPUs that hold the job: one replica whole (plain data parallel) or, with ZeRO-3,
    the states split over n GPUs plus each GPU's activations. None if it never fits."""
    room = lookup_gpu(gpu).memory_bytes * USABLE_MEMORY
    if not sharded:
        return 1 if memory.total <= room else None
    if memory.activations >= room:
        return None
    return max(1, math.ceil(memory.states / (room - memory.activations)))


@dataclass(frozen=True, kw_only=True)
class TrainingEstimate:
    """What one training run costs."""

    flops: float  # FLOPs
    gpu_hours: float  # GPU-hours
    wall_days: float  # days on n_gpus GPUs
    usd: float  # USD at the given price
    kwh: float  # facility energy, kWh
    co2_kg: float  # kg CO2e


def estimate_training(
    n_params: float,
    n_tokens: float,
    gpu: str | GPU,
    n_gpus: int,
    mfu: float,
    price_per_hour: float,
    pue: float = 1.2,
    grid_g_per_kwh: float = 400.0,
) -> TrainingEstimate:
    """FLOPs, GPU-hours, wall-clock days, USD, energy and CO2 of one training run."""
    spec = lookup_gpu(gpu)
    hours = training_gpu_hours(n_params, n_tokens, spec, mfu)
    n_gpus = positive("GPU count", n_gpus)
    kwh = energy_kwh(hours, spec.power_w, pue)
    return TrainingEstimate(
        flops=training_flops(n_params, n_tokens),
        gpu_hours=hours,
        wall_days=hours / n_gpus / 24.0,
        usd=hours * positive("Price per GPU-hour", price_per_hour),
        kwh=kwh,
        co2_kg=co2_kg(kwh, grid_g_per_kwh),
    )


# ---- serving ------------------------------------------------------------------------------


def kv_cache_bytes(
    n_layers: int,
    n_kv_heads: int,
    head_dim: int,
    context_len: int,
    batch: int,
    bytes_per_value: float,
) -> float:
    """Bytes of keys and values: 2 x layers x kv_heads x head_dim x context x batch x bytes."""
    dims = [
        positive("Layers", n_layers),
        positive("KV heads", n_kv_heads),
        positive("Head dimension", head_dim),
        positive("Context length", context_len),
        positive("Batch", batch),
        positive("Bytes per value", bytes_per_value),
    ]
    return finite("KV cache", 2.0 * math.prod(dims))


def decode_tokens_per_second_bound(
    n_params: float, bytes_per_param: float, gpu: str | GPU
) -> float:
    """Batch-1 decode ceiling in tokens/s: every weight is read once per token, so
    memory bandwidth (bytes/s) / weight bytes."""
    spec = lookup_gpu(gpu)
    weight_bytes = positive("Parameters", n_params) * positive(
        "Bytes per parameter", bytes_per_param
    )
    weight_bytes = positive("Weight bytes", finite("Weight bytes", weight_bytes))
    return finite("Decode speed", spec.bandwidth_gbs * 1e9 / weight_bytes)


@dataclass(frozen=True, kw_only=True)
class ServingEstimate:
    """One serving set-up under a daily load."""

    weight_bytes: float  # model weights, bytes
    kv_bytes_per_request: float  # KV cache of one request at full context, bytes
    gpus_per_replica: int  # GPUs one copy of the model spans (tensor parallel)
    max_batch: int  # concurrent requests one replica holds
    tokens_per_s_batch1: float  # decode tokens/s at batch 1 (bandwidth bound)
    tokens_per_s_full: float  # decode tokens/s of one replica at max_batch
    replicas: int  # replicas the load needs (0: no load, nothing to serve)
    gpus: int  # GPUs in all
    monthly_usd: float  # USD per month, GPUs on around the clock
    usd_per_m_tokens: float | None  # USD per 1M tokens served (None: no tokens served)
    capacity_requests_per_day: float  # requests/day one replica sustains at the utilisation
    replica_monthly_usd: float  # USD per month of one replica, on around the clock


def replica_gpus(weight_bytes: float, kv_one: float, gpu: GPU) -> int:
    """Fewest GPUs whose usable memory holds the weights plus one request's KV cache."""
    return max(1, math.ceil((weight_bytes + kv_one) / (gpu.memory_bytes * USABLE_MEMORY)))


@dataclass(frozen=True, kw_only=True)
class Replica:
    """One copy of a served model: what it holds and the GPUs it spans."""

    params: float  # parameters
    weight_bytes: float  # model weights, bytes
    kv_bytes_per_request: float  # KV cache of one request at full context, bytes
    gpus: int  # GPUs it spans (tensor parallel)
    max_batch: int  # concurrent requests it holds beside the weights
    bandwidth: float  # memory bandwidth of its GPUs together, bytes/s
    peak_flops: float  # dense FLOP/s of its GPUs together


def replica_for(
    shape: ModelShape, precision: str, context_len: int, gpu: GPU, memory_ratio: float = 1.0
) -> Replica:
    """The fewest GPUs that hold `shape`'s weights in `precision` (times `memory_ratio`, a
    measured compression's) and one request's KV cache at `context_len` tokens, and how many
    requests fit beside the weights."""
    if precision not in BYTES_PER_PARAM:
        raise ValueError(
            f"Unknown precision {precision!r}: choose one of {', '.join(BYTES_PER_PARAM)}."
        )
    n = positive("Parameters", shape.params)
    weights = n * BYTES_PER_PARAM[precision] * positive("Memory ratio", memory_ratio)
    kv_one = kv_cache_bytes(shape.layers, shape.kv_heads, shape.head_dim, context_len, 1, 2.0)
    n_gpu = replica_gpus(weights, kv_one, gpu)
    room = n_gpu * gpu.memory_bytes * USABLE_MEMORY - weights
    return Replica(
        params=n,
        weight_bytes=weights,
        kv_bytes_per_request=kv_one,
        gpus=n_gpu,
        max_batch=max(1, int(finite("Concurrent requests", room // kv_one))),
        bandwidth=n_gpu * gpu.bandwidth_gbs * 1e9,
        peak_flops=n_gpu * gpu.peak_flops,
    )


def decode_rate(replica: Replica, batch: int, mfu: float, measured: float | None = None) -> float:
    """Decode tokens/s of `replica` at `batch` concurrent requests. A step reads the weights
    and every active KV cache (bandwidth) or does 2 N FLOPs a token (compute), whichever is
    slower; a `measured` one-stream speed (tokens/s) stands in at every batch size."""
    if measured is not None:
        return positive("Measured tokens/s", measured)
    read_s = (replica.weight_bytes + batch * replica.kv_bytes_per_request) / replica.bandwidth
    step_s = max(read_s, 2 * replica.params * batch / (replica.peak_flops * mfu))
    return positive("Decode speed", batch / finite("Decode step time", step_s))


def prefill_seconds(replica: Replica, prompt_tokens: float, mfu: float) -> float:
    """Seconds of `replica` to read a prompt: 2 N FLOPs per prompt token at `mfu`."""
    return prompt_tokens * 2 * replica.params / (replica.peak_flops * mfu)


def estimate_serving(
    shape: ModelShape,
    precision: str,
    context_len: int,
    requests_per_day: float,
    input_tokens: float,
    output_tokens: float,
    gpu: str | GPU,
    price_per_hour: float,
    utilisation: float = 0.5,
    mfu: float = 0.4,
    measured_tokens_per_s: float | None = None,
    speedup: float = 1.0,
    memory_ratio: float = 1.0,
) -> ServingEstimate:
    """Memory, throughput, GPUs and cost to serve a daily load. Decode steps are bounded by
    reading weights plus every active KV cache (bandwidth) or by 2 N FLOPs a token (compute);
    prefill costs 2 N FLOPs per prompt token at `mfu`. `utilisation` is the average share of
    capacity in use (headroom for peaks). A `measured_tokens_per_s` (one stream, measured on
    real hardware) replaces the decode bounds at every batch size: a conservative stand-in.
    A measured compression scales decode speed by `speedup` and weight bytes by
    `memory_ratio` (ratios: they carry over from the model they were measured on roughly);
    the smaller weights do not speed decode again, the measured speed-up holds that."""
    replica = replica_for(shape, precision, context_len, lookup_gpu(gpu), memory_ratio)
    speedup = positive("Speed-up", speedup)
    # decode timed on the weights as they were: the measured speed-up holds what smaller ones gain
    timed = replace(replica, weight_bytes=replica.weight_bytes / memory_ratio)
    utilisation = fraction("Utilisation", utilisation)
    mfu = fraction("MFU", mfu)
    measured, full = measured_tokens_per_s, replica.max_batch
    out_tok = positive("Output tokens", output_tokens)
    in_tok = non_negative("Input tokens", input_tokens)
    # one replica's time per request: decoding in a full batch, then its share of prefill
    busy_s = out_tok / (decode_rate(timed, full, mfu, measured) * speedup)
    busy_s = finite("Seconds per request", busy_s + prefill_seconds(replica, in_tok, mfu))
    capacity = positive("Requests one replica serves", 86_400 * utilisation / busy_s)
    requests = non_negative("Requests per day", requests_per_day)  # 0: nothing served yet
    replicas = math.ceil(finite("Replicas", requests / capacity))
    price = positive("Price per GPU-hour", price_per_hour)
    replica_usd = finite("Replica cost", replica.gpus * price * HOURS_PER_MONTH)
    monthly = finite("Monthly cost", float(replicas) * replica_usd)
    monthly_tokens = requests * DAYS_PER_MONTH * (in_tok + out_tok)
    return ServingEstimate(
        weight_bytes=replica.weight_bytes,
        kv_bytes_per_request=replica.kv_bytes_per_request,
        gpus_per_replica=replica.gpus,
        max_batch=full,
        tokens_per_s_batch1=decode_rate(timed, 1, mfu, measured) * speedup,
        tokens_per_s_full=decode_rate(timed, full, mfu, measured) * speedup,
        replicas=replicas,
        gpus=replicas * replica.gpus,
        monthly_usd=monthly,
        usd_per_m_tokens=(
            finite("USD per million tokens", monthly / monthly_tokens * 1e6)
            if monthly_tokens > 0
            else None
        ),
        capacity_requests_per_day=capacity,
        replica_monthly_usd=replica_usd,
    )


def api_monthly_usd(
    requests_per_day: float,
    input_tokens: float,
    output_tokens: float,
    input_per_m: float,
    output_per_m: float,
) -> float:
    """USD per month for an API billed per 1M input and output tokens."""
    per_request = (
        non_negative("Input tokens", input_tokens) * non_negative("Input price", input_per_m)
        + non_negative("Output tokens", output_tokens) * non_negative("Output price", output_per_m)
    ) / 1e6
    monthly = non_negative("Requests per day", requests_per_day) * DAYS_PER_MONTH * per_request
    return finite("API cost", monthly)


def self_host_monthly_usd(requests_per_day: float, serving: ServingEstimate) -> float:
    """USD per month to serve `requests_per_day` with replicas sized like `serving`."""
    replicas = math.ceil(requests_per_day / serving.capacity_requests_per_day)
    return replicas * serving.replica_monthly_usd


def break_even_requests_per_day(
    serving: ServingEstimate, api_usd_per_request: float
) -> float | None:
    """Smallest daily volume from which self-hosting costs no more than the API, or None if
    the API stays cheaper at any volume. Self-hosting is a staircase (whole replicas), the API
    a line; the first replica count k whose cost the line reaches within k replicas' capacity."""
    replica_usd = serving.replica_monthly_usd
    per_request_month = positive("API cost per request", api_usd_per_request) * DAYS_PER_MONTH
    if per_request_month * serving.capacity_requests_per_day < replica_usd:
        return None  # even a full replica costs more than the API for the same requests
    return replica_usd / per_request_month  # reached within the first replica


# ---- startup view -------------------------------------------------------------------------


RUNWAY_HORIZON_MONTHS = 120  # how far the month-by-month projection looks ahead


@dataclass(frozen=True, kw_only=True)
class Runway:
    """A startup's cash against its costs and revenue, month by month."""

    monthly_costs: float  # USD per month now: serving + training spread over months + other
    monthly_revenue: float  # USD per month now: paying users x price
    net_burn: float  # costs - revenue now, USD per month (negative: profitable)
    runway_months: float  # months until the cash runs out (inf: it never does)
    months_to_profit: float  # months until revenue covers costs (0: now; inf: not in 10 years)
    default_alive: bool  # profit comes before the cash runs out
    cost_per_user: float | None  # compute USD per user (paying or not) a month; None: no users
    gross_margin: float | None  # (revenue - compute) / revenue now; None: no revenue yet
    cash_by_month: tuple[float, ...]  # cash at the start of each month, USD


def _users_at(users: float, growth: float, month: float) -> float:
    return users * (1.0 + growth) ** month


@dataclass(frozen=True, kw_only=True)
class _Company:
    """The month-by-month sums behind `runway`; its fields checked as they are given."""

    serving: float  # serving USD per month now
    training: float  # training USD spread per month
    other: float  # other USD per month
    users: float  # paying users now
    free_users: float  # users of a free pilot now: they make load, not revenue
    price: float  # USD per paying user per month
    growth: float  # users added per month, as a share (paying and pilot alike)
    users_per_replica: float  # inf: serving is a fixed cost
    replica_usd: float = field(init=False)  # USD per month of one serving replica

    def __post_init__(self) -> None:
        if self.growth > 10:
            raise ValueError(f"Monthly user growth is a share (0.05 = 5 %), got {self.growth!r}.")
        if self.users_per_replica != math.inf:
            capacity = positive("Users per replica", self.users_per_replica)
            object.__setattr__(self, "users_per_replica", capacity)
        everyone = finite("Users", self.users + self.free_users)
        replicas = max(1, math.ceil(finite("Serving replicas", everyone / self.users_per_replica)))
        object.__setattr__(self, "replica_usd", self.serving / replicas)

    def month(self, month: int) -> tuple[float, float]:
        """(costs, revenue) in USD in `month` (0: now)."""
        paying = _users_at(self.users, self.growth, month)
        load = _users_at(self.users + self.free_users, self.growth, month) / self.users_per_replica
        if not math.isfinite(load):
            return math.inf, paying * self.price
        serving = self.replica_usd * max(1, math.ceil(load))  # the serving now, at the least
        return serving + self.training + self.other, paying * self.price


def _project(company: _Company, cash: float) -> tuple[list[float], float, float]:
    """Cash at the start of each month, the month the cash runs out and the first month in
    profit (inf: not within RUNWAY_HORIZON_MONTHS)."""
    cash_left, history, out_at, profit_at, gap = cash, [], math.inf, math.inf, 0.0
    for month in range(RUNWAY_HORIZON_MONTHS):
        costs_m, revenue_m = company.month(month)
        if not (math.isfinite(costs_m) and math.isfinite(revenue_m)):
            break  # growth took the figures past what a float holds: the projection ends
        history.append(cash_left)
        if revenue_m >= costs_m and math.isinf(profit_at):
            profit_at = float(month)
        gap = costs_m - revenue_m
        if gap > 0 and math.isinf(out_at) and cash_left < gap:
            out_at = month + max(cash_left, 0.0) / gap  # runs out part-way through this month
        cash_left -= gap
    if history and math.isinf(out_at) and gap > 0:  # still burning when the window ends:
        out_at = len(history) + cash_left / gap  # the last month's burn from then on
    return history, out_at, profit_at


def runway(
    cash: float,
    serving_monthly: float,
    training_usd: float,
    retrains_per_year: float,
    other_monthly: float,
    users: float,
    price_per_user: float,
    monthly_growth: float = 0.0,
    users_per_replica: float = math.inf,
    pilot_users: float = 0.0,
) -> Runway:
    """Runway on net burn (costs - revenue), months to profitability and whether the company
    is "default alive". Paying `users` and free `pilot_users` grow by `monthly_growth` a month
    (0.05 = 5 %); serving grows with all of them in whole replicas, each carrying
    `users_per_replica` users (inf: a fixed cost). No paying users, a zero price or zero
    growth are real cases: a pre-revenue company's runway is its cash over its burn."""
    cash = non_negative("Cash", cash)
    company = _Company(  # each input checked in the order the messages name them
        serving=non_negative("Serving cost", serving_monthly),
        training=non_negative("Training cost", training_usd)
        * non_negative("Retrains per year", retrains_per_year)
        / 12.0,
        other=non_negative("Other monthly costs", other_monthly),
        users=non_negative("Paying users", users),
        free_users=non_negative("Pilot users", pilot_users),
        price=non_negative("Price per user", price_per_user),
        growth=non_negative("Monthly user growth", monthly_growth),
        users_per_replica=users_per_replica,
    )
    costs_0, revenue_0 = company.month(0)
    finite("Monthly costs", costs_0)
    finite("Monthly revenue", revenue_0)
    history, out_at, profit_at = _project(company, cash)
    burn = costs_0 - revenue_0
    if company.growth == 0:  # a flat company: the closed form, not the ten-year window
        out_at = cash / burn if burn > 0 else math.inf
    compute = company.serving + company.training
    everyone = company.users + company.free_users
    return Runway(
        monthly_costs=costs_0,
        monthly_revenue=revenue_0,
        net_burn=burn,
        runway_months=out_at,
        months_to_profit=profit_at,
        default_alive=profit_at <= out_at and math.isfinite(profit_at),
        cost_per_user=finite("Compute per user", compute / everyone) if everyone > 0 else None,
        gross_margin=(
            finite("Gross margin", (revenue_0 - compute) / revenue_0) if revenue_0 > 0 else None
        ),
        cash_by_month=tuple(history),
    )


# ---- scaling laws -------------------------------------------------------------------------


def chinchilla_loss(n_params: float, n_tokens: float) -> float:
    """Predicted pre-training loss (nats/token): E + A / N^alpha + B / D^beta."""
    n, d = positive("Parameters", n_params), positive("Tokens", n_tokens)
    return CHINCHILLA_E + CHINCHILLA_A / n**CHINCHILLA_ALPHA + CHINCHILLA_B / d**CHINCHILLA_BETA


def chinchilla_optimal(compute_flops: float) -> tuple[float, float]:
    """Compute-optimal (parameters, tokens) for a FLOP budget at 20 tokens per parameter:
    C = 6 N (20 N) gives N = sqrt(C / 120), D = 20 N."""
    c = positive("Compute budget", compute_flops)
    n = math.sqrt(c / (6.0 * TOKENS_PER_PARAM))
    return n, TOKENS_PER_PARAM * n


def loss_optimal(compute_flops: float) -> tuple[float, float]:
    """(parameters, tokens) with the lowest `chinchilla_loss` at a FLOP budget (D = C / 6N):
    N = (alpha A / (beta B))^(1 / (alpha + beta)) x (C / 6)^(beta / (alpha + beta)). The exact
    minimum of the plotted iso-FLOP curve; the fit's constants put it below 20 tokens/param."""
    c = positive("Compute budget", compute_flops)
    a, b = CHINCHILLA_ALPHA, CHINCHILLA_BETA
    g = (a * CHINCHILLA_A / (b * CHINCHILLA_B)) ** (1 / (a + b))
    n = g * (c / 6.0) ** (b / (a + b))
    if n <= 0:  # a budget so small that the model size underflows to zero
        raise ValueError(f"Compute budget {compute_flops!r} FLOPs is too small to size a model.")
    return n, finite("Compute-optimal tokens", c / (6.0 * n))


# ---- published runs -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RunCheck(PublishedRun):
    """One published training run against this calculator."""

    estimate_gpu_hours: float | None  # at the given MFU
    estimate_flops: float  # 6 N D
    implied_mfu: float | None  # the MFU the reported GPU-hours mean
    error: float  # estimate / reported - 1 (GPU-hours where reported, else FLOPs)


def check_run(run: PublishedRun, mfu: float, catalog: MappingProxyType | dict | None) -> RunCheck:
    """`run` with this calculator's estimate at `mfu` and its error against what was reported."""
    n, d, hours = run.params, run.tokens, run.reported_gpu_hours
    est_flops = training_flops(n, d)
    est_hours = implied = None
    if hours is not None:
        spec = lookup_gpu(run.gpu, catalog)
        est_hours = training_gpu_hours(n, d, spec, mfu)
        implied = est_flops / (hours * 3600.0 * spec.peak_flops)
        error = est_hours / hours - 1
    else:
        error = est_flops / run.reported_flops - 1
    return RunCheck(
        **vars(run),
        estimate_gpu_hours=est_hours,
        estimate_flops=est_flops,
        implied_mfu=implied,
        error=error,
    )


def check_published_runs(
    mfu: float, catalog: MappingProxyType | dict | None = None
) -> list[RunCheck]:
    """Every run in catalog/published_runs.csv with this calculator's estimate and error."""
    mfu = fraction("MFU", mfu)
    return [check_run(run, mfu, catalog) for run in published_runs()]


# ---- the hardware in front of you ---------------------------------------------------------

CPU_USD_PER_THREAD_HOUR = 0.025  # a general-purpose cloud vCPU on demand, 2026 (assumed)


def hardware_rate(device: str, gpu_name: str | None, threads: int) -> tuple[float, str]:
    """(USD per hour, what that price is) for running on this machine: the catalog price of
    its GPU, or a cloud vCPU price per CPU thread; an Apple laptop is priced at zero."""
    if device == "cuda" and gpu_name:
        entry = gpu_for_device(gpu_name)
        if entry is None:
            return 0.0, f"{gpu_name}: not in the price table"
        gpu = GPU_CATALOG[entry]
        return gpu.price_per_hour, f"{entry} at {gpu.price_per_hour:.2f} USD/h ({gpu.price_date})"
    if device == "mps":
        return 0.0, "your own Mac: no hourly price"
    threads = whole("CPU threads", threads)
    rate = finite("CPU price", CPU_USD_PER_THREAD_HOUR * threads)
    return rate, f"{threads} cloud vCPUs at {CPU_USD_PER_THREAD_HOUR} USD/h each"


def usd_per_1k_tokens(usd_per_hour: float, tokens_per_s: float) -> float:
    """USD per 1,000 generated tokens on hardware costing `usd_per_hour` that generates
    `tokens_per_s` tokens per second (the chat page's cost per reply)."""
    usd_per_hour = non_negative("Price per hour", usd_per_hour)
    tokens_per_s = positive("Tokens per second", tokens_per_s)
    return finite("Cost per 1,000 tokens", usd_per_hour / 3600 / tokens_per_s * 1000)
