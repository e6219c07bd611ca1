"""The compute device: chosen once (CUDA > MPS > CPU), its dtype, autocast and memory.

Two layers, so that Home and the calculator never pay for `import torch`:
- `probe_hardware()` and `memory_report()` look at the machine without importing torch
  (nvidia-smi, the platform, /proc); once a page has imported torch they ask torch instead.
- `choose_device()`, `preferred_dtype()` and `autocast()` import torch when first called.

The choice can be overridden with the DASHBOARD_DEVICE environment variable
(auto, cuda, mps or cpu) or, per browser session, with the selector in the sidebar.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import shutil
import subprocess
import sys
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

ENV_VAR = "DASHBOARD_DEVICE"
KINDS = ("cuda", "mps", "cpu")  # best first
CHOICES = ("auto", *KINDS)
GIB = 1024**3


def torch_loaded() -> bool:
    """True once some page has imported torch in this process."""
    return "torch" in sys.modules


def own_threads() -> None:
    """Put this thread on the process's count (cpu_threads): a thread started while another
    ran inside torch_threads inherited that thread's count (a training job begun during a
    one-thread reply would have trained on one thread)."""
    if torch_loaded():
        sys.modules["torch"].set_num_threads(cpu_threads())


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the block on `n` torch CPU threads, then restore the count. torch keeps it per
    thread, and a thread started meanwhile inherits the last value set: restoring keeps
    other work's threads as they were."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


_process_threads: list[int] = []  # torch's count for CPU work, when first asked


def cpu_threads() -> int:
    """Threads torch uses for CPU work (the cores this process may run on): torch's count
    when first asked, which a reply decoding on fewer (torch_threads) does not change."""
    if torch_loaded():
        if not _process_threads:
            _process_threads.append(sys.modules["torch"].get_num_threads())
        return _process_threads[0]
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Hardware:
    """What this machine offers, probed without importing torch."""

    kinds: tuple[str, ...]  # device kinds present, best first; always ends with "cpu"
    gpu_name: str | None  # e.g. "NVIDIA H100 80GB HBM3"; None without a CUDA GPU


def _nvidia_smi(fields: str) -> list[str] | None:
    """One CSV row of `nvidia-smi --query-gpu=fields` for GPU 0, or None without a GPU."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, f"--query-gpu={fields}", "--format=csv,noheader,nounits", "-i", "0"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    row = [cell.strip() for cell in out.strip().splitlines()[0].split(",")] if out.strip() else []
    return row or None


def _is_apple_silicon() -> bool:
    return platform.system() == "Darwin" and platform.machine() == "arm64"


@functools.lru_cache(maxsize=1)
def probe_hardware() -> Hardware:
    """The machine's devices, best first, found once per process without importing torch."""
    smi = _nvidia_smi("name")
    kinds = (("cuda",) if smi else ()) + (("mps",) if _is_apple_silicon() else ()) + ("cpu",)
    return Hardware(kinds=kinds, gpu_name=smi[0] if smi else None)


def requested_choice(choice: str | None = None) -> str:
    """The device asked for: the argument, else $DASHBOARD_DEVICE, else 'auto' (validated)."""
    raw = choice if choice is not None else os.environ.get(ENV_VAR, "")
    wanted = raw.strip().lower() or "auto"
    if wanted not in CHOICES:
        source = "device" if choice is not None else f"{ENV_VAR}={raw!r}"
        raise ValueError(f"Unknown {source}: choose one of {', '.join(CHOICES)}.")
    return wanted


def available_kinds() -> tuple[str, ...]:
    """Device kinds torch can use here, best first; imports torch."""
    import torch

    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    return (("cuda",) if cuda else ()) + (("mps",) if mps else ()) + ("cpu",)


def choose_device(choice: str | None = None) -> str:
    """'cuda', 'mps' or 'cpu': the requested kind if torch can use it, the best one for 'auto'."""
    wanted = requested_choice(choice)
    kinds = available_kinds()
    if wanted == "auto":
        return kinds[0]
    if wanted not in kinds:
        raise ValueError(
            f"{wanted.upper()} was requested but torch cannot use it on this machine "
            f"(available: {', '.join(kinds)}). Pick another device in the sidebar."
        )
    return wanted


def preferred_dtype(device: str) -> torch.dtype:
    """Compute dtype for autocast: bf16 on GPUs that support it, else fp16 on GPUs, fp32 on CPU."""
    import torch

    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32


def autocast(device: str) -> AbstractContextManager:
    """Mixed-precision context for `device`; a no-op where the dtype is fp32."""
    import torch

    dtype = preferred_dtype(device)
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device, dtype=dtype)


@dataclass(frozen=True, kw_only=True)
class MemoryReport:
    """Memory in use on one device, in bytes."""

    device: str  # "cuda", "mps" or "cpu"
    used: int  # bytes in use (GPU: whole card; CPU: this process's resident set)
    total: int  # bytes the device has
    by_us: int | None = None  # bytes torch in this process holds (GPU only, once torch is loaded)

    @property
    def label(self) -> str:
        """'1.2 / 80.0 GiB'."""
        return f"{self.used / GIB:.1f} / {self.total / GIB:.1f} GiB"


def _process_rss() -> int:
    """Resident set size of this process in bytes."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def _total_ram() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def _cuda_memory() -> MemoryReport | None:
    if torch_loaded() and sys.modules["torch"].cuda.is_available():
        torch = sys.modules["torch"]
        free, total = torch.cuda.mem_get_info()
        return MemoryReport(
            device="cuda", used=total - free, total=total, by_us=torch.cuda.memory_reserved()
        )
    row = _nvidia_smi("memory.used,memory.total")
    if row is None or len(row) < 2:
        return None
    try:
        used_mib, total_mib = float(row[0]), float(row[1])
    except ValueError:
        return None
    return MemoryReport(device="cuda", used=int(used_mib * 2**20), total=int(total_mib * 2**20))


def _mps_memory() -> MemoryReport:
    if torch_loaded():
        mps = sys.modules["torch"].mps
        used = mps.driver_allocated_memory()
        return MemoryReport(device="mps", used=used, total=mps.recommended_max_memory(), by_us=used)
    return MemoryReport(device="mps", used=_process_rss(), total=_total_ram())


def memory_report(device: str) -> MemoryReport:
    """Memory in use on `device` ('cuda', 'mps' or 'cpu'), without importing torch."""
    if device == "cuda":
        report = _cuda_memory()
        if report is not None:
            return report
    if device == "mps":
        return _mps_memory()
    return MemoryReport(device="cpu", used=_process_rss(), total=_total_ram())
