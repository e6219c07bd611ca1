"""Many people on one server: N page sessions and M chat sessions in headless Chromium.

Starts the app on a free localhost port with a tiny GPT-2 in a temporary models folder,
opens `--pages` sessions on the Business case (each edits one input) and `--chats` sessions
that each load the model and send a message carrying a unique marker, then reports:
errors, sessions that saw another session's marker, the server's CPU seconds per page view
and per chat reply, resident memory per extra session, and the seconds until every session
was answered. Every wait is bounded; only 127.0.0.1 is contacted. Last line: a JSON object.

    python3 bench/load.py --pages 20 --chats 10
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402

from bench import cpu  # noqa: E402
from tests.appserver import (  # noqa: E402
    free_port,
    launch_chromium,
    start_streamlit,
    stop,
    wait_until_serving,
)

TICKS = os.sysconf("SC_CLK_TCK")
WAIT_MS = 120_000  # the longest any one session is waited for


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    """Resident memory of the process, MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def shown_ok(page) -> bool:
    """The page's title is visible and no exception box is shown."""
    try:
        expect(page.get_by_role("heading", level=1).first).to_be_visible(timeout=WAIT_MS)
    except (AssertionError, PlaywrightTimeout):
        return False
    return page.get_by_test_id("stException").count() == 0


def page_sessions(browser, url: str, n: int, pid: int) -> dict:
    """Open n Business case sessions, each editing one input; CPU and memory per session."""
    contexts, errors = [], 0
    cpu0 = cpu_seconds(pid)
    for i in range(n):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        page.goto(f"{url}/business_case", timeout=WAIT_MS)
        errors += not shown_ok(page)
        field = page.get_by_role("spinbutton", name="Parameters (billions)")
        field.fill(str(1 + i))
        field.press("Enter")
        contexts.append(context)
        if i == 0:
            page.wait_for_timeout(1000)
            rss_one = rss_mb(pid)
    for context in contexts:
        errors += not shown_ok(context.pages[0])
    time.sleep(1.0)  # let the last reruns finish before reading CPU and memory
    cpu = cpu_seconds(pid) - cpu0
    rss_all = rss_mb(pid)
    for context in contexts:
        context.close()
    return {
        "page_sessions": n,
        "page_errors": errors,
        "cpu_s_per_page_view": cpu / (2 * n),  # each session: one view and one edit
        "memory_mb_per_extra_session": (rss_all - rss_one) / max(1, n - 1),
    }


def open_chat(browser, url: str, model: str):
    """A session on the chat page with `model` loaded."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(f"{url}/chat_gpt2", timeout=WAIT_MS)
    page.get_by_role("combobox", name="Model").first.click()
    page.get_by_role("option", name=model).first.click()
    page.wait_for_timeout(800)
    page.get_by_role("button", name="Load").first.click()
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible(timeout=WAIT_MS)
    return context, page


def chat_sessions(browser, url: str, n: int, pid: int, model: str) -> dict:
    """n sessions each send a unique marker; replies waited for; markers checked for leaks."""
    sessions = [open_chat(browser, url, model) for _ in range(n)]
    markers = [f"probe{uuid.uuid4().hex[:8]}" for _ in sessions]
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    for (_, page), marker in zip(sessions, markers, strict=True):
        box = page.get_by_test_id("stChatInputTextArea")
        box.fill(f"{marker} tell me about the fox")
        box.press("Enter")
    errors = 0
    for _, page in sessions:
        try:
            expect(page.get_by_text("tokens/s").first).to_be_visible(timeout=WAIT_MS)
        except (AssertionError, PlaywrightTimeout):
            errors += 1
    answered_s = time.perf_counter() - t0
    cpu = cpu_seconds(pid) - cpu0
    leaks = 0
    for (_, page), own in zip(sessions, markers, strict=True):
        text = page.inner_text("body")
        errors += page.get_by_test_id("stException").count()
        leaks += any(m in text for m in markers if m != own) or own not in text
    for context, _ in sessions:
        context.close()
    return {
        "chat_sessions": n,
        "chat_errors": errors,
        "sessions_with_leaks": leaks,
        "cpu_s_per_chat_reply": cpu / n,
        "seconds_until_all_answered": answered_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--chats", type=int, default=10)
    args = parser.parse_args()
    from tests.helpers import save_tiny_gpt2

    home = Path(tempfile.mkdtemp(prefix="dashboard-load-"))
    model = save_tiny_gpt2(home / "models" / "load-test", "the fox and the dog. " * 200, 256)
    os.environ["DASHBOARD_HOME"] = str(home)
    os.environ.pop("DASHBOARD_MODELS", None)
    port = free_port()
    server = start_streamlit(port)
    out: dict = {"bench": "load"}
    try:
        wait_until_serving(port, server)
        with sync_playwright() as p:
            browser = launch_chromium(p)
            out |= page_sessions(browser, f"http://127.0.0.1:{port}", args.pages, server.pid)
            if args.chats:
                url = f"http://127.0.0.1:{port}"
                out |= chat_sessions(browser, url, args.chats, server.pid, model.name)
            browser.close()
    finally:
        stop(server)
    out["targets"] = {
        "errors": 0,
        "leaks": 0,
        "cpu_s_per_chat_reply": 0.5,
        "memory_mb_per_extra_session": 5,
    }
    print(json.dumps(cpu.stamp(out)))


if __name__ == "__main__":
    main()
