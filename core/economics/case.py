"""The business case in one call: its inputs (`Case`: a training run, serving, the company
around them, API prices, the session's GPU table) -> `evaluate` -> a `Report` of every
figure the calculator shows.

Pure Python on top of `core.economics.costs`; no torch, no pandas. What the page shows of a
report is in `figures`, what it exports in `exports`. The defaults of the input dataclasses
are the page's defaults: every widget opens on them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from core.economics import costs
from core.economics.catalog import (
    GPU,
    GPU_CATALOG,
    ApiPrice,
    ModelShape,
    default_apis,
    lookup_gpu,
    model_presets,
)
from core.economics.checks import non_negative, whole

PRICING = {"on-demand": 1.0, "spot": 0.5, "1-yr reserved": 0.7}  # x on-demand (assumed typical)
DEFAULT_MODEL = "8B class (Llama 3 8B)"  # the model served by default, a models.csv row


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

    shape: ModelShape = field(default_factory=lambda: model_presets()[DEFAULT_MODEL])
    precision: str = "bf16"  # weights: fp32, bf16, fp16, int8 or int4
    context_len: int = 4096  # tokens of context reserved per request
    requests_per_day: float = 4_250  # requests per day (the page: all users x per user)
    input_tokens: float = 500  # prompt tokens per request
    output_tokens: float = 300  # generated tokens per request
    gpu: str = "H100-SXM"  # catalog name
    price_per_hour: float = 3.0  # USD per GPU-hour
    utilisation: float = 0.5  # average share of capacity in use, (0, 1]
    measured_tokens_per_s: float | None = None  # a speed measured here replaces the bound
    saving: str = ""  # a compression measured here, "method on hardware" ("": none)
    speedup: float = 1.0  # its decode speed over the original's, x
    memory_ratio: float = 1.0  # its weight bytes over the original's


@dataclass(frozen=True, kw_only=True)
class StartupInputs:
    """The company around the model. The defaults are a seed-stage company (`DEFAULTS_SAID`):
    a pilot, very little revenue yet, growth starting."""

    cash: float = 1_000_000.0  # USD in the bank
    retrains_per_year: float = 4.0  # training runs like the one above per year
    other_monthly: float = 60_000.0  # everything that is not compute, USD per month
    users: float = 25.0  # paying users today (0: pre-revenue)
    price_per_user: float = 40.0  # USD per paying user per month
    monthly_growth: float = 0.15  # users added per month, as a share (0.15 = 15 %)
    pilot_users: float = 400.0  # users of a free pilot: they make load, not revenue


DEFAULTS_SAID = (
    "The inputs open on a seed-stage company: USD 1M raised, a team costing USD 60k a month, "
    "a free pilot of 400 users and the first 25 paying USD 40 a month, users growing 15 % a "
    "month, a 1B model retrained 4 times a year and an 8B model served on one H100. "
    "Replace them with yours."
)


@dataclass(frozen=True, kw_only=True)
class Case:
    """Every input of the business case: what the calculator's widgets set."""

    train: TrainInputs = field(default_factory=TrainInputs)
    serve: ServeInputs = field(default_factory=ServeInputs)
    startup: StartupInputs = field(default_factory=StartupInputs)
    apis: tuple[ApiPrice, ...] = field(default_factory=lambda: tuple(default_apis()))
    catalog: Mapping[str, GPU] | None = None  # the session's GPU table (None: the shipped one)


@dataclass(frozen=True, kw_only=True)
class ApiComparison:
    """Self-hosting against one API at the given load."""

    api: ApiPrice
    api_monthly: float  # USD per month at the load
    self_host_monthly: float  # USD per month at the load
    break_even_requests_per_day: float | None  # None: the API is cheaper at any volume


@dataclass(frozen=True, kw_only=True)
class Report:
    """Everything the calculator shows. A part whose inputs were refused is None and its
    reason is in `problems` (part -> message): the other parts are still there."""

    train: costs.TrainingEstimate | None = None
    memory: costs.TrainingMemory | None = None
    gpus_plain: int | None = None  # GPUs to fit training without sharding (None: never)
    gpus_sharded: int | None = None  # with ZeRO-3
    serve: costs.ServingEstimate | None = None
    apis: list[ApiComparison] | None = None
    startup: costs.Runway | None = None
    chinchilla_loss: float | None = None  # predicted loss of the training run, nats/token
    optimal_params: float | None = None  # N with the lowest predicted loss at the run's FLOPs
    optimal_tokens: float | None = None  # its D = C / 6N
    runs: list[costs.RunCheck] | None = None  # published training runs checked at the run's MFU
    problems: Mapping[str, str] = field(default_factory=dict)  # "train", "serve", "startup"

    @property
    def complete(self) -> bool:
        """Every input accepted: the exports and Save this case can use the report."""
        return not self.problems


PARTS = ("train", "serve", "startup")  # what `problems` names: the inputs of each part


def train_part(case: Case) -> dict:
    """The training run's Report fields; ValueError naming a refused training input."""
    train = case.train
    whole("GPUs", train.n_gpus)
    whole("Sequence length", train.seq_len)
    whole("Micro-batch", train.micro_batch)
    tgpu = lookup_gpu(train.gpu, case.catalog)
    est = train_estimate(train, tgpu)
    memory = costs.training_memory(
        costs.shape_for(train.params),
        train.seq_len,
        train.micro_batch,
        train.mixed_precision,
        train.checkpointing,
    )
    n_opt, d_opt = costs.loss_optimal(est.flops)
    return {
        "train": est,
        "memory": memory,
        "gpus_plain": costs.min_gpus_to_fit(memory, tgpu, sharded=False),
        "gpus_sharded": costs.min_gpus_to_fit(memory, tgpu, sharded=True),
        "chinchilla_loss": costs.chinchilla_loss(train.params, train.tokens),
        "optimal_params": n_opt,
        "optimal_tokens": d_opt,
        "runs": costs.check_published_runs(train.mfu, {**GPU_CATALOG, **(case.catalog or {})}),
    }


def serve_part(case: Case) -> dict:
    """Serving's Report fields; ValueError naming a refused serving input."""
    serve = case.serve
    whole("Context per request", serve.context_len)
    if serve.context_len > serve.shape.context:
        raise ValueError(
            f"Context per request ({serve.context_len:,} tokens) is longer than "
            f"{serve.shape.name}'s window of {serve.shape.context:,} tokens."
        )
    served = serve_estimate(serve, lookup_gpu(serve.gpu, case.catalog))
    return {"serve": served, "apis": [compare_api(api, serve, served) for api in case.apis]}


def assess(case: Case) -> Report:
    """Every figure the inputs allow: a part whose inputs are refused is left out, with the
    reason in `Report.problems`. The company needs the training and serving costs."""
    fields: dict = {}
    problems: dict[str, str] = {}
    for name, part in (("train", train_part), ("serve", serve_part)):
        try:
            fields.update(part(case))
        except ValueError as err:
            problems[name] = str(err)
    try:
        if "train" in fields and "serve" in fields:
            fields["startup"] = startup_runway(
                case.startup, case.serve, fields["serve"], fields["train"]
            )
        else:
            costs.runway(**asdict(case.startup), serving_monthly=0.0, training_usd=0.0)
    except ValueError as err:
        problems["startup"] = str(err)
    return Report(**fields, problems=problems)


def evaluate(case: Case) -> Report:
    """Every figure of the business case; ValueError with the first refused input's message."""
    report = assess(case)
    for name in PARTS:
        if name in report.problems:
            raise ValueError(report.problems[name])
    return report


def train_estimate(train: TrainInputs, gpu: GPU) -> costs.TrainingEstimate:
    """The training run's FLOPs, GPU-hours, days, USD, energy and CO2 on `gpu`."""
    return costs.estimate_training(
        train.params,
        train.tokens,
        gpu,
        train.n_gpus,
        train.mfu,
        train.price_per_hour,
        train.pue,
        train.grid_g_per_kwh,
    )


def serve_estimate(serve: ServeInputs, gpu: GPU) -> costs.ServingEstimate:
    """Memory, speed, GPUs and monthly USD of serving the load on `gpu`."""
    return costs.estimate_serving(
        serve.shape,
        serve.precision,
        serve.context_len,
        serve.requests_per_day,
        serve.input_tokens,
        serve.output_tokens,
        gpu,
        serve.price_per_hour,
        serve.utilisation,
        measured_tokens_per_s=serve.measured_tokens_per_s,
        speedup=serve.speedup,
        memory_ratio=serve.memory_ratio,
    )


def startup_runway(
    startup: StartupInputs,
    serve: ServeInputs,
    served: costs.ServingEstimate,
    train: costs.TrainingEstimate,
) -> costs.Runway:
    """The company's runway with this serving bill and this training run retrained."""
    return costs.runway(
        serving_monthly=served.monthly_usd,
        training_usd=train.usd,
        users_per_replica=users_per_replica(served, serve, startup),
        **asdict(startup),  # cash, retrains, other costs, users, price, growth: runway's names
    )


def users_per_replica(
    served: costs.ServingEstimate, serve: ServeInputs, startup: StartupInputs
) -> float:
    """Paying users one serving replica carries: its capacity over requests per user."""
    everyone = non_negative("Paying users", startup.users) + non_negative(
        "Pilot users", startup.pilot_users
    )
    requests = non_negative("Requests per day", serve.requests_per_day)
    if everyone == 0 or requests == 0:
        return math.inf  # no load that grows with users: serving is what it is now
    return served.capacity_requests_per_day / (requests / everyone)


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
