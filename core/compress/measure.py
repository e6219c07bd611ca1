"""What one compressed variant measured beside its original, on which machine, and the verdict
in words.

Timing interleaves the original and the variant round by round in one loop (a noisy, shared
machine slows both alike), and the noise is the spread of the original's own rounds: a
difference smaller than it reads "no measurable change", a variant measured slower says
"slower on this hardware", one no smaller says "no smaller".
"""

from __future__ import annotations

import math
import os
import platform
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.runs.types import Recorded

FLAGS = ("avx2", "avx512f", "avx512_vnni", "amx_tile")


@dataclass(frozen=True, kw_only=True)
class Machine:
    """Where a figure was measured: the verdict depends on it."""

    cpu: str
    flags: tuple[str, ...]  # of FLAGS, those the CPU has
    threads: int  # intra-op threads the measurement ran with
    device: str = "cpu"  # "cpu" or "cuda"
    gpu: str = ""

    def describe(self) -> str:
        """'CPU, 2 threads (AVX2, AVX512F, no VNNI, no AMX)'."""
        have = [f.upper().replace("_TILE", "") for f in self.flags]
        extras = (("avx512_vnni", "VNNI"), ("amx_tile", "AMX"))
        missing = [n for f, n in extras if f not in self.flags]
        words = ", ".join(have + [f"no {m}" for m in missing]) or "no AVX2"
        where = f"GPU {self.gpu}" if self.device == "cuda" else "CPU"
        return f"{where}, {self.threads} threads ({words})"


def cpu_flags(cpuinfo: str | None = None) -> tuple[str, ...]:
    """Which of FLAGS /proc/cpuinfo lists (none where it cannot be read)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    words = set(cpuinfo.split())
    return tuple(f for f in FLAGS if f in words)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(threads: int, device: str = "cpu", gpu: str = "") -> Machine:
    return Machine(cpu=cpu_name(), flags=cpu_flags(), threads=threads, device=device, gpu=gpu)


@dataclass(frozen=True, kw_only=True)
class Timing:
    """Seconds per call of one model, from interleaved rounds."""

    p50_s: float
    p95_s: float
    rounds: list[float] = field(default_factory=list)  # median of each round, seconds

    @property
    def noise(self) -> float:
        """Relative spread of the round medians: their median absolute deviation over their
        median (robust to one round that a neighbour's burst slowed)."""
        if len(self.rounds) < 2:
            return 0.0
        mid = statistics.median(self.rounds)
        mad = statistics.median(abs(r - mid) for r in self.rounds)
        return mad / mid if mid > 0 else 0.0


def side_by_side(
    original: Callable[[], object],
    variant: Callable[[], object],
    rounds: int = 5,
    calls: int = 20,
    warmup: int = 3,
) -> tuple[Timing, Timing]:
    """(original, variant) timings: `rounds` rounds, each timing `calls` calls of one then the
    other, so both see the same machine load."""
    for _ in range(warmup):
        original()
        variant()
    times: tuple[list[float], list[float]] = ([], [])
    medians: tuple[list[float], list[float]] = ([], [])
    for r in range(rounds):
        order = (0, 1) if r % 2 == 0 else (1, 0)
        for which in order:
            fn = (original, variant)[which]
            got = []
            for _ in range(calls):
                t0 = time.perf_counter()
                fn()
                got.append(time.perf_counter() - t0)
            times[which].extend(got)
            medians[which].append(statistics.median(got))
    return _timing(times[0], medians[0]), _timing(times[1], medians[1])


def _timing(times: list[float], medians: list[float]) -> Timing:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return Timing(p50_s=statistics.median(ordered), p95_s=p95, rounds=medians)


@dataclass(frozen=True, kw_only=True)
class Variant:
    """One model (the original or a compressed variant) as measured beside the original."""

    method: str  # "original", "ONNX Runtime fp32", "static int8", ...
    engine: str  # "torch eager", "ONNX Runtime"
    precision: str  # "fp32", "int8 (QDQ U8S8, per channel)", "fp16"
    machine: Machine
    accuracy: float | None = None  # test accuracy, fraction
    agreement: float | None = None  # top-1 agreement with the original, fraction
    quality: dict[str, float] = field(default_factory=dict)  # further figures (perplexity, ...)
    file_bytes: int = 0  # exported file
    params: int = 0  # parameters (nonzero ones in `nonzero_params`)
    nonzero_params: int | None = None
    latency_p50_s: float = 0.0  # batch 1
    latency_p95_s: float = 0.0
    throughput: float = 0.0  # items per second at `batch`
    batch: int = 64
    memory_bytes: int = 0  # weights in memory (CPU) or peak allocated (CUDA)
    speedup: float = 1.0  # original's batch-1 p50 over this one's, x (same loop)
    size_ratio: float = 1.0  # file bytes over the original's
    param_ratio: float = 1.0  # original's parameters over this one's, x
    noise: float = 0.0  # relative noise of the timing loop
    verdict: str = ""
    notes: str = ""  # e.g. what was skipped and why
    files: dict[str, bytes] = field(default_factory=dict, repr=False)  # name -> content

    def figures(self) -> dict[str, float]:
        """Every number, for the run store and the bench."""
        out = {
            "file_bytes": self.file_bytes,
            "params": self.params,
            "latency_p50_ms": self.latency_p50_s * 1e3,
            "latency_p95_ms": self.latency_p95_s * 1e3,
            "throughput": self.throughput,
            "memory_bytes": self.memory_bytes,
            "speedup": self.speedup,
            "size_ratio": self.size_ratio,
            "param_ratio": self.param_ratio,
            "noise": self.noise,
        }
        if self.accuracy is not None:
            out["accuracy"] = self.accuracy
        if self.agreement is not None:
            out["agreement"] = self.agreement
        return out | self.quality


def verdict(
    *,
    speedup: float,
    size_ratio: float,
    noise: float,
    accuracy_drop_pts: float | None = None,
    accuracy_noise_pts: float = 0.0,
) -> str:
    """The variant in words: faster/slower (or "no measurable change" within `noise`),
    smaller/no smaller, and what it cost in accuracy."""
    band = max(2 * noise, 0.03)
    if speedup > 1 + band:
        speed = f"{speedup:.2f}x faster"
    elif speedup < 1 / (1 + band):
        slower = f"{1 / speedup:.1f}x" if speedup > 0 else "far"
        speed = f"slower on this hardware ({slower} slower)"
    else:
        speed = "no measurable change in speed"
    if size_ratio < 0.98:
        size = f"{1 / size_ratio:.1f}x smaller" if size_ratio > 0 else "smaller"
    elif size_ratio > 1.02:
        size = f"larger ({size_ratio:.2f}x the file)"
    else:
        size = "no smaller"
    parts = [speed, size]
    if accuracy_drop_pts is not None:
        if abs(accuracy_drop_pts) <= max(accuracy_noise_pts, 1e-9):
            parts.append("no measurable change in accuracy")
        elif accuracy_drop_pts > 0:
            parts.append(f"accuracy -{accuracy_drop_pts:.2f} points")
        else:
            parts.append(f"accuracy +{-accuracy_drop_pts:.2f} points")
    return ", ".join(parts)


def threads() -> int:
    """The intra-op threads torch uses here."""
    import torch

    return torch.get_num_threads() or os.cpu_count() or 1


@dataclass(kw_only=True)
class Compared:
    """What a comparison of variants is, whatever the model: the machine, the original and
    each variant as measured in one run, what failed and why, and where it was recorded.
    Each kind says when a variant's quality is good enough (`good_enough`)."""

    machine: Machine
    variants: list[Variant] = field(default_factory=list)  # the original first
    failed: list[tuple[str, str]] = field(default_factory=list)  # (method, why)
    stopped: bool = False
    seconds: float = 0.0
    recorded: Recorded | None = None  # the run store's answer, once recorded

    def good_enough(self, v: Variant) -> bool:
        raise NotImplementedError

    def best(self) -> Variant | None:
        """The fastest variant of good enough quality (not the original); None when none
        is faster than the original."""
        ok = [v for v in self.variants[1:] if self.good_enough(v)]
        best = max(ok, key=lambda v: v.speedup, default=None)
        return best if best is not None and best.speedup > 1 else None

    def metrics(self) -> dict[str, float]:
        """What its run records as metrics: each variant's finite figures, named
        '<method slug>_<figure>', and the best trade-off's speed-up and size."""
        out = {}
        for v in self.variants:
            out |= {f"{slug(v.method)}_{k}": x for k, x in v.figures().items() if finite(x)}
        if (best := self.best()) is not None:
            out |= {"best_speedup": best.speedup, "best_size_ratio": best.size_ratio}
        return out

    def tags(self, device: str, source_run: str | None) -> dict[str, str]:
        """Its run's tags: the machine in words, the device, the source run, the best
        trade-off's method (what the pitch pack tells), what failed."""
        tags = {"machine": self.machine.describe(), "device": device}
        if (best := self.best()) is not None:
            tags["best_method"] = best.method
        if source_run:
            tags["source_run"] = source_run
        if self.failed:
            tags["failed"] = "; ".join(f"{m}: {why}" for m, why in self.failed)[:4000]
        return tags


def slug(method: str) -> str:
    """'static int8' -> 'static_int8' (metric, folder and widget-key names)."""
    return re.sub(r"[^a-z0-9]+", "_", method.lower()).strip("_")


def finite(x) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)
