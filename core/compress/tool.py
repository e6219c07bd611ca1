"""The Compress tool for a CNN: a `Request` (the original, its data, the methods) ->
`compress_job` (each method built, checked and measured beside the original in the same loop)
-> a `Comparison` (every `Variant`, what failed and why) -> `run_record` (linked to the source
run by the tag `source_run`) and each variant's files.

    job = jobs.submit(tool.compress_job(request), "compress cnn", tool="compress")
    comparison = job.result  # also after Stop: the variants finished so far
    runs.try_record(tool.TOOL, tool.run_record(comparison))
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch

from core.compress import charts, cnn, shrink
from core.compress.measure import Compared, Variant, machine, side_by_side, slug, verdict
from core.compress.sources import Source
from core.progress import QUIET, Progress
from core.runs.types import Recorded, RunRecord
from core.vision.data import ImageTensors, split
from core.vision.model import Classifier

TOOL = "compress"  # its kind of run in the store
BATCH = 64  # throughput is measured at this batch
QUALITY_BAR_PTS = 1.0  # the best trade-off loses at most this many accuracy points

METHODS: dict[str, tuple[str, Callable]] = {  # id -> (label, builder)
    "onnx": ("ONNX Runtime fp32 (export only)", cnn.onnx_fp32),
    "int8": ("Static int8 (ONNX Runtime, QDQ U8S8, per channel)", cnn.int8_static),
    "structured": ("Structured pruning (remove channels) + fine-tune", shrink.structured),
    "unstructured": ("Unstructured magnitude pruning (zeros, dense)", cnn.unstructured),
    "distil": ("Distil into a smaller student", shrink.distil),
    "fp16": ("Half precision (CUDA only)", cnn.fp16_cuda),
}
DEFAULT_METHODS = ("onnx", "int8", "structured", "distil")


@dataclass(frozen=True, kw_only=True)
class Request:
    """What to compress and how."""

    classifier: Classifier
    data: ImageTensors
    seed: int = 0  # the split seed the original was trained with
    methods: tuple[str, ...] = DEFAULT_METHODS
    settings: cnn.Settings = field(default_factory=cnn.Settings)
    source: str = "a CNN"  # in words, for titles
    source_run: str | None = None  # the run it came from
    device: str = "cpu"
    shift: int = 1
    flip: bool = False
    rounds: int = 5  # timing rounds per variant (original and variant interleaved)


@dataclass(kw_only=True)
class Comparison(Compared):
    """A CNN's original and each variant, as measured in one run."""

    request: Request

    def good_enough(self, v: Variant) -> bool:
        """Within QUALITY_BAR_PTS of the original's accuracy."""
        base = self.variants[0].accuracy or 0.0
        return v.accuracy is not None and (base - v.accuracy) * 100 <= QUALITY_BAR_PTS


def _context(request: Request, progress: Progress) -> cnn.Context:
    threads = torch.get_num_threads()
    return cnn.Context(
        classifier=request.classifier,
        data=request.data,
        splits=split(request.data.y, request.seed),
        threads=threads,
        device=request.device,
        shift=request.shift,
        flip=request.flip,
        should_stop=progress.should_stop,
    )


def _logits(built: cnn.Built, x: torch.Tensor) -> np.ndarray:
    return np.concatenate([built.run(part) for part in x.split(256)])


def measure(
    built: cnn.Built, base: cnn.Built, ctx: cnn.Context, reference: Variant, rounds: int
) -> tuple[Variant, tuple[float, float, float]]:
    """`built` measured beside `base` (the original) in one loop; (variant, the original's
    (p50, p95, throughput) in that loop)."""
    test = ctx.splits[2]
    x, y = ctx.data.floats(test).cpu(), ctx.data.y[test].cpu().numpy()
    logits = _logits(built, x)
    if not np.isfinite(logits).all():
        raise cnn.CompressError(f"{built.method} gave non-finite outputs (NaN or inf).")
    top1 = logits.argmax(1)
    one, many = x[:1].contiguous(), x[:BATCH].repeat(1 + BATCH // max(len(x), 1), 1, 1, 1)[:BATCH]
    t_base, t_var = side_by_side(lambda: base.run(one), lambda: built.run(one), rounds=rounds)
    b_base, b_var = side_by_side(lambda: base.run(many), lambda: built.run(many), 3, 5, 1)
    speedup = t_base.p50_s / t_var.p50_s
    size_ratio = built.file_bytes / max(reference.file_bytes, 1)
    accuracy = float((top1 == y).mean()) if len(y) else None
    agreement = float((top1 == _logits(base, x).argmax(1)).mean()) if len(y) else None
    drop = None if accuracy is None else (reference.accuracy - accuracy) * 100
    variant = Variant(
        method=built.method,
        engine=built.engine,
        precision=built.precision,
        machine=machine(ctx.threads, "cuda" if "CUDA" in built.engine else "cpu", _gpu(built)),
        accuracy=accuracy,
        agreement=agreement,
        file_bytes=built.file_bytes,
        params=built.params,
        nonzero_params=built.nonzero_params,
        latency_p50_s=t_var.p50_s,
        latency_p95_s=t_var.p95_s,
        throughput=BATCH / b_var.p50_s,
        batch=BATCH,
        memory_bytes=built.memory_bytes,
        speedup=speedup,
        size_ratio=size_ratio,
        param_ratio=reference.params / max(built.params, 1),
        noise=t_base.noise,
        verdict=verdict(
            speedup=speedup, size_ratio=size_ratio, noise=t_base.noise, accuracy_drop_pts=drop
        ),
        notes=built.notes,
        files=built.files,
    )
    return variant, (t_base.p50_s, t_base.p95_s, BATCH / b_base.p50_s)


def _plain(base: cnn.Built, top1: np.ndarray, y: np.ndarray) -> Variant:
    """The original's own figures, before any timing (for ratios)."""
    return Variant(
        method="original",
        engine=base.engine,
        precision=base.precision,
        machine=machine(torch.get_num_threads()),
        accuracy=float((top1 == y).mean()) if len(y) else None,
        file_bytes=base.file_bytes,
        params=base.params,
    )


def request_of(
    source: Source, methods: tuple[str, ...], settings: cnn.Settings, device: str = "cpu"
) -> Request:
    """The Request that compresses `source` with `methods`."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise cnn.CompressError(f"Unknown methods: {', '.join(unknown)}.")
    return Request(
        classifier=source.classifier,
        data=source.data,
        seed=source.seed,
        methods=methods,
        settings=settings,
        source=source.label,
        source_run=source.run_id,
        device=device,
        shift=source.shift,
        flip=source.flip,
    )


def compress_job(
    make_source: Callable[[Progress], Source],
    methods: tuple[str, ...],
    settings: cnn.Settings,
    device: str = "cpu",
    record: bool = True,
) -> Callable[[Progress], Comparison]:
    """The job target: get the source (load or train it), every method in turn, record the
    comparison; a Comparison back, also when stopped."""

    def target(progress: Progress = QUIET) -> Comparison:
        source = make_source(progress)
        comparison = compress(request_of(source, methods, settings, device), progress)
        if record:
            from core import runs  # the store loads with the first recording

            try:
                comparison.recorded = runs.try_record(TOOL, run_record(comparison))
            except Exception as err:  # a chart or an artifact failed: the results stay
                comparison.recorded = Recorded(reason=f"{type(err).__name__}: {err}")
        return comparison

    return target


def compress(request: Request, progress: Progress = QUIET) -> Comparison:
    """Build and measure every method of `request`; failures are kept with their reason and
    the variants finished so far survive Stop."""
    t0 = time.perf_counter()
    ctx = _context(request, progress)
    base = cnn.original(ctx)
    out = Comparison(request=request, machine=machine(ctx.threads))
    test = ctx.splits[2]
    top1 = _logits(base, ctx.data.floats(test).cpu()).argmax(1)
    reference = _plain(base, top1, ctx.data.y[test].cpu().numpy())
    base_runs: list[tuple[float, float, float]] = []
    n = len(request.methods)
    for i, method in enumerate(request.methods):
        if progress.should_stop():
            out.stopped = True
            break
        label, build = METHODS[method]
        progress.report(i / n, f"Variant {i + 1} of {n}: {label}")
        try:
            built = build(ctx, request.settings)
            variant, timed = measure(built, base, ctx, reference, request.rounds)
        except cnn.Skipped as err:
            out.failed.append((label, f"Skipped: {err}"))
            continue
        except cnn.CompressError as err:
            out.failed.append((label, str(err)))
            continue
        except Exception as err:  # one method's failure costs that method only
            out.failed.append((label, f"{type(err).__name__}: {err}"))
            continue
        base_runs.append(timed)
        out.variants.append(variant)
        progress.log(method=variant.method, speedup=variant.speedup, accuracy=variant.accuracy)
    out.stopped = out.stopped or progress.should_stop()
    out.variants.insert(0, _original_row(reference, base, base_runs, ctx))
    out.seconds = time.perf_counter() - t0
    progress.report(1.0, "Done")
    return out


def _original_row(reference: Variant, base: cnn.Built, timed: list[tuple], ctx) -> Variant:
    """The original's row: the medians of its figures over every variant's loop."""
    p50 = p95 = rate = float("nan")
    if timed:
        p50, p95, rate = (statistics.median(col) for col in zip(*timed, strict=True))
    return replace(
        reference,
        agreement=1.0,
        nonzero_params=base.nonzero_params,
        latency_p50_s=p50,
        latency_p95_s=p95,
        throughput=rate,
        memory_bytes=base.memory_bytes,
        verdict="the original",
        files=base.files,
        machine=machine(ctx.threads),
    )


def _gpu(built: cnn.Built) -> str:
    return torch.cuda.get_device_name() if "CUDA" in built.engine else ""


def rows(comparison: Comparison) -> list[dict]:
    """One row per variant: the results table."""
    out = []
    for v in comparison.variants:
        out.append(
            {
                "method": v.method,
                "engine": v.engine,
                "precision": v.precision,
                "accuracy_pct": None if v.accuracy is None else v.accuracy * 100,
                "agreement_pct": None if v.agreement is None else v.agreement * 100,
                "file_kb": v.file_bytes / 1024,
                "params": v.params,
                "latency_p50_ms": v.latency_p50_s * 1e3,
                "latency_p95_ms": v.latency_p95_s * 1e3,
                f"images_per_s_at_{BATCH}": v.throughput,
                "memory_kb": v.memory_bytes / 1024,
                "speedup_x": v.speedup,
                "size_x": v.size_ratio,
                "verdict": v.verdict,
                "notes": v.notes,
            }
        )
    return out


def run_record(comparison: Comparison) -> RunRecord:
    """What the run store keeps: every figure of every variant, the table, the chart, the files,
    and the source run as the tag `source_run`."""
    r = comparison.request
    metrics = comparison.metrics()
    artifacts = {
        f"variants/{slug(v.method)}/{name}": content
        for v in comparison.variants
        for name, content in v.files.items()
    }
    artifacts["machine.json"] = json.dumps(asdict(comparison.machine), indent=2)
    tags = comparison.tags(r.device, r.source_run)
    return RunRecord(
        name=f"Compress {r.source}",
        params={
            "source": r.source,
            "source_run": r.source_run or "",
            "methods": list(r.methods),
            "settings": asdict(r.settings),
            "machine": asdict(comparison.machine),
        },
        metrics=metrics,
        tables={"variants": rows(comparison)},
        figures={"trade_off": charts.trade_off(comparison.variants, comparison.best())},
        artifacts=artifacts,
        tags=tags,
        status="KILLED" if comparison.stopped else "FINISHED",
    )
