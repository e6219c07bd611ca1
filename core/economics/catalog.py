"""The calculator's tables and their loading: GPUs, hosted-API prices, model shapes and
published training runs, each a dated, sourced CSV in core/economics/catalog/.

A row of gpus.csv is a GPU everywhere (the calculator, its Prices tab, the CNN and Chat
pages' cost of the hardware in front of you); `CUDA_NAMES` says which CUDA device names
are priced as which row. The Prices tab's edited rows come back through `gpus_from_rows`
and `apis_from_rows`, which refuse a bad row with a message instead of failing the page.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType

from core.economics.checks import non_negative, positive

CATALOG_DIR = Path(__file__).resolve().parent / "catalog"
CUDA_NAMES = (  # substring of the CUDA device name -> gpus.csv row (first match wins)
    ("H200", "H200"),
    ("H100", "H100-SXM"),
    ("H800", "H100-SXM"),
    ("B200", "B200"),
    ("A100-SXM4-80GB", "A100-80GB"),
    ("A100 80GB", "A100-80GB"),
    ("A100", "A100-40GB"),
    ("A10G", "A10G"),
    ("L4", "L4"),
    ("T4", "T4"),
    ("4090", "RTX-4090"),
)
GPU_NUMBERS = ("tflops", "memory_gb", "bandwidth_gbs", "power_w", "price_per_hour")


def read_csv(name: str) -> list[dict[str, str]]:
    """Rows of core/economics/catalog/`name` as dicts of strings."""
    with open(CATALOG_DIR / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# ---- GPUs -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GPU:
    """One accelerator as the calculator sees it: a row of gpus.csv."""

    name: str  # catalog key, e.g. "H100-SXM"
    tflops: float  # dense BF16/FP16 tensor-core TFLOP/s (no sparsity, not FP32)
    memory_gb: float  # device memory, GB (1e9 bytes)
    bandwidth_gbs: float  # memory bandwidth, GB/s
    power_w: float  # board power, W
    price_per_hour: float  # on-demand USD per GPU-hour
    price_date: str = ""  # when that price was seen, "YYYY-MM"
    source: str = ""  # where the figures come from

    def __post_init__(self) -> None:
        for f in GPU_NUMBERS:
            object.__setattr__(self, f, positive(f"{self.name} {f}", getattr(self, f)))

    @property
    def peak_flops(self) -> float:
        """Dense tensor-core FLOP/s."""
        return self.tflops * 1e12

    @property
    def memory_bytes(self) -> float:
        return self.memory_gb * 1e9


def gpu_from_row(row: dict) -> GPU:
    """A GPU from a dict with the catalog's columns (strings or numbers)."""
    kwargs = {}
    for f in fields(GPU):
        raw = row.get(f.name, "")
        if f.name in GPU_NUMBERS:
            try:
                kwargs[f.name] = float(raw)
            except (TypeError, ValueError):
                msg = f"{row.get('name')!r}: {f.name} must be a number, got {raw!r}."
                raise ValueError(msg) from None
        else:
            kwargs[f.name] = "" if raw is None else str(raw)
    return GPU(**kwargs)


def load_gpu_catalog() -> MappingProxyType:
    """name -> GPU from core/economics/catalog/gpus.csv, read-only."""
    return MappingProxyType({r["name"]: gpu_from_row(r) for r in read_csv("gpus.csv")})


GPU_CATALOG = load_gpu_catalog()


def lookup_gpu(gpu: str | GPU, catalog: MappingProxyType | dict | None = None) -> GPU:
    """A GPU by catalog name (or a GPU passed straight through)."""
    if isinstance(gpu, GPU):
        return gpu
    catalog = GPU_CATALOG if catalog is None else catalog
    if gpu not in catalog:
        raise ValueError(f"Unknown GPU {gpu!r}: choose one of {', '.join(catalog)}.")
    return catalog[gpu]


def gpu_for_device(cuda_name: str) -> str | None:
    """The catalog row a CUDA device called `cuda_name` is priced as, or None."""
    return next((row for hint, row in CUDA_NAMES if hint in cuda_name), None)


def gpus_from_rows(rows: list[dict]) -> tuple[dict[str, GPU], list[str]]:
    """name -> GPU from edited table rows, and a message per row that was refused."""
    catalog, problems = {}, []
    for row in rows:
        try:
            catalog[str(row["name"])] = gpu_from_row(row)
        except ValueError as err:
            problems.append(str(err))
    return catalog, problems


# ---- hosted APIs ----------------------------------------------------------------------


@dataclass(frozen=True)
class ApiPrice:
    """A hosted API's list price."""

    name: str
    input_per_m: float  # USD per 1M input tokens
    output_per_m: float  # USD per 1M output tokens


def default_apis() -> list[ApiPrice]:
    """API prices from core/economics/catalog/api_prices.csv."""
    return [
        ApiPrice(r["name"], float(r["input_per_m"]), float(r["output_per_m"]))
        for r in read_csv("api_prices.csv")
    ]


def apis_from_rows(rows: list[dict]) -> tuple[list[ApiPrice], list[str]]:
    """API prices from edited table rows, and a message per row that was refused."""
    apis, problems = [], []
    for row in rows:
        name = str(row.get("name"))
        try:
            price_in = non_negative(f"{name} input price", float(row["input_per_m"]))
            price_out = non_negative(f"{name} output price", float(row["output_per_m"]))
        except (TypeError, ValueError, KeyError) as err:
            problems.append(str(err))
            continue
        apis.append(ApiPrice(name, price_in, price_out))
    return apis, problems


# ---- models and published runs --------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ModelShape:
    """A decoder-only transformer, enough of it for memory and KV-cache sums."""

    name: str  # e.g. "8B class (Llama 3 8B)"
    params: float  # parameters
    layers: int  # transformer blocks
    kv_heads: int  # key/value heads (fewer than query heads with grouped-query attention)
    head_dim: int  # channels per head
    context: int  # longest context the model was trained for, tokens

    @property
    def hidden(self) -> int:
        """Model width, assuming as many query heads as fit head_dim into the width."""
        return round(math.sqrt(self.params / (12 * self.layers)))


def model_presets() -> dict[str, ModelShape]:
    """Name -> ModelShape from core/economics/catalog/models.csv."""
    return {
        r["name"]: ModelShape(
            name=r["name"],
            params=float(r["params_b"]) * 1e9,
            layers=int(r["layers"]),
            kv_heads=int(r["kv_heads"]),
            head_dim=int(r["head_dim"]),
            context=int(r["context"]),
        )
        for r in read_csv("models.csv")
    }


@dataclass(frozen=True, kw_only=True)
class PublishedRun:
    """A training run whose paper reports its GPU-hours or its FLOPs."""

    model: str
    params: float  # parameters
    tokens: float  # training tokens
    gpu: str  # catalog name, "" where only FLOPs were reported
    reported_gpu_hours: float | None
    reported_flops: float | None
    source: str


def _number(raw: str) -> float | None:
    return float(raw) if raw and raw.strip() else None


def published_runs() -> list[PublishedRun]:
    """The runs of core/economics/catalog/published_runs.csv."""
    return [
        PublishedRun(
            model=r["model"],
            params=float(r["params_b"]) * 1e9,
            tokens=float(r["tokens_b"]) * 1e9,
            gpu=r["gpu"],
            reported_gpu_hours=_number(r["reported_gpu_hours"]),
            reported_flops=_number(r["reported_flops"]),
            source=r["source"],
        )
        for r in read_csv("published_runs.csv")
    ]
