"""In-app optimizer race speed: from pressing Start on the Compare optimizers page's "On a real
model (digits)" tab in a real browser to the results on screen, against the same race and its
recording on core.optim.model_race's code path in this process.

- click_to_results_s: headless Chromium on a freshly started app (a temporary home), the
  tab's default settings except --epochs: the time from the click on Start to the results
  on screen (both charts drawn, the CSV button under the table), on the page's clock
  (bench/inapp.py). Median over --repeats, pressing Start again in one tab.
- bench_seconds: core.optim.model_race.compare_and_record (the race, then its record) with the
  same config, in a worker thread as the app's job runs it, between the browser runs.
- ratio: click_to_results_s / bench_seconds. Target <= 1.3.
Last line: a JSON object.

    python3 bench/app_optim.py [--repeats 3] [--epochs 8]
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

TAB = "On a real model (digits)"
DEFAULTS = dict(optimizers=("SGD + momentum", "Adam", "AdamW", "Lion"), seeds=3, batch_size=64)
DEFAULTS |= dict(lr_multipliers=(0.3, 1.0, 3.0, 10.0, 30.0, 100.0))  # the page's defaults


def click_to_results(page, timeout_s: float = 600) -> inapp.Click:
    """From the click on Start to the race's results on screen: both charts drawn and the
    CSV button under the table (the last element)."""
    start = page.get_by_role("button", name="Start", exact=True)
    charts = ("optim_model_curves", "optim_model_sensitivity")
    results = {f".st-key-{key} {inapp.CHART}": "" for key in charts}
    click = inapp.click_until_shown(
        page, start, results | {".st-key-optim_model_csv": ""}, timeout_s
    )
    page.wait_for_timeout(500)
    return click


def reference_seconds(epochs: int) -> float:
    """The race and its record with the page's defaults and `epochs`, in a worker thread."""
    from core import cache
    from core.optim import model_race

    cfg = model_race.CompareConfig(**DEFAULTS, epochs=epochs)
    data = cache.digits("cpu")
    return inapp.seconds_in_worker(lambda: model_race.compare_and_record(data, cfg))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    reference_seconds(1)  # warm-up: imports, the store's first run
    result = inapp.clicks_against_reference(
        lambda b, url: inapp.open_tab_with(
            b, url, "compare_optimizers", TAB, "Epochs per run", args.epochs
        ),
        click_to_results,
        lambda: reference_seconds(args.epochs),
        args.repeats,
        "click_to_results_s",
    )
    print(json.dumps(cpu.stamp({"epochs": args.epochs} | result)))


if __name__ == "__main__":
    main()
