"""In-app GPT-2 training speed: from pressing Train on the Chat page's "Train your own GPT-2"
tab in a real browser to the saved model on screen, against the same training and recording
on core.text.tinygpt's code path in this process.

- click_to_saved_s: headless Chromium on a freshly started app (a temporary home), the
  tab's default settings except --steps: the time from the click on Train to "Saved to ..."
  on screen, on the page's clock (bench/inapp.py). Median over --repeats, pressing Train
  again in one tab (the model is replaced).
- bench_seconds: core.text.tinygpt.train_and_record with the same config, in a worker thread as
  the app's job runs it, between the browser runs.
- ratio: click_to_saved_s / bench_seconds. Target <= 1.3.
Last line: a JSON object.

    python3 bench/app_gpt2.py [--repeats 3] [--steps 100]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import cpu  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))

import inapp  # noqa: E402 - bench/inapp.py

TAB = "Train your own GPT-2"


def click_to_saved(page, timeout_s: float = 600) -> inapp.Click:
    """From the click on Train to the loss chart drawn and the "Saved to" message on screen."""
    replace = page.get_by_role("checkbox", name="Replace the saved")
    if replace.count() and not replace.first.is_checked():  # a repeat replaces the last model
        replace.first.check(force=True)
        page.wait_for_timeout(800)
    train = page.get_by_role("button", name="Train", exact=True)
    results = {f".st-key-chat_train_curve {inapp.CHART}": "", "[data-testid=stAlert]": "Saved to"}
    click = inapp.click_until_shown(page, train, results, timeout_s)
    page.wait_for_timeout(500)
    return click


def reference_seconds(steps: int) -> float:
    """train_and_record with the tab's defaults (context 96) and `steps`, in a worker thread."""
    from core.text import tinygpt

    cfg = tinygpt.TinyGPTConfig(name="bench-app-gpt2-ref", steps=steps, context=96, batch_size=16)
    return inapp.seconds_in_worker(
        lambda: tinygpt.train_and_record(tinygpt.builtin_corpus(), cfg, "cpu")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    reference_seconds(10)  # warm-up: imports, the store's first run
    result = inapp.clicks_against_reference(
        lambda b, url: inapp.open_tab_with(b, url, "chat_gpt2", TAB, "Steps", args.steps),
        click_to_saved,
        lambda: reference_seconds(args.steps),
        args.repeats,
        "click_to_saved_s",
    )
    print(json.dumps(cpu.stamp({"steps": args.steps} | result)))


if __name__ == "__main__":
    main()
