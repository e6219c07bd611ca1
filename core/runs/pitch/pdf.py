"""The pitch pack printed to PDF by headless Chromium, where Chromium is installed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"  # Debian's package; to_pdf returns None without it
PDF_TIMEOUT_S = 90.0  # Chromium gets this long to print
PAPERS = ("A4", "Letter")  # the paper sizes offered (CSS @page size names)


def chromium() -> str | None:
    """The Chromium that prints PDFs, or None where it is not installed."""
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


def _print_command(exe: str, folder: str, source: Path, out: Path) -> list[str]:
    """Chromium's command line that prints `source` to `out`, its profile under `folder`."""
    return [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-pdf-header-footer",
        "--virtual-time-budget=10000",  # let the charts draw before printing
        f"--user-data-dir={folder}/profile",
        f"--print-to-pdf={out}",
        source.as_uri(),
    ]


def to_pdf(page: str, timeout_s: float = PDF_TIMEOUT_S, paper: str = "A4") -> bytes | None:
    """The HTML `page` printed to PDF on `paper` (one of PAPERS) by headless Chromium; None
    without Chromium or on failure."""
    exe = chromium()
    if exe is None:
        return None
    if paper not in PAPERS:
        raise ValueError(f"Paper must be one of {', '.join(PAPERS)}, not {paper!r}.")
    page = page.replace("</style>", f"@page {{ size: {paper}; }}</style>", 1)
    with tempfile.TemporaryDirectory(prefix="pitch-") as tmp:
        source, out = Path(tmp) / "pitch.html", Path(tmp) / "pitch.pdf"
        source.write_text(page, encoding="utf-8")
        proc = subprocess.Popen(
            _print_command(exe, tmp, source, out),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # Chromium's helpers share its process group
            proc.wait()
            return None
        data = out.read_bytes() if out.exists() else b""
    return data if data.startswith(b"%PDF") else None
