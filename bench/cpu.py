"""The CPU a bench ran on, printed with every CPU figure: this machine kind's CPU varies
(AVX512 with VNNI and AMX one day, AVX2 only the next), and whether int8 or bf16 pays
depends on it, so a figure without its instruction sets cannot be compared."""

from __future__ import annotations

import os
from pathlib import Path

FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")


def flags() -> list[str]:
    """The instruction sets of this CPU that matter for matmuls (of FLAGS, in that order)."""
    try:
        words = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    return [f for f in FLAGS if f in words]


def threads() -> int:
    """The CPU threads this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def describe() -> str:
    """'CPU: 2 threads, avx2 avx512f avx512_vnni' (or 'none of ...')."""
    found = " ".join(flags()) or "none of " + ", ".join(FLAGS)
    return f"CPU: {threads()} threads, {found}"


def stamp(result: dict) -> dict:
    """`result` with the CPU's flags and threads added (the JSON a bench prints last)."""
    return {"cpu_flags": flags(), "cpu_threads": threads()} | result
