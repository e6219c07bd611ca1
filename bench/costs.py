"""Calculator speed: how long one recalculation of the Business case takes.

- recalc_ms: the core work of one rerun (evaluate, chart curves, tables, exports) for
  --cases random input sets; median and worst. Target: worst < 50 ms.
- page_rerun_ms: a whole rerun of the page script under AppTest (widgets, charts and all),
  beside plain_rerun_ms, the rerun of a one-title page measured the same way in this run.
- torch_imported: whether anything on the page pulled in torch (it must not).
Last line: a JSON object.

    python3 bench/costs.py [--cases 200] [--reruns 10]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from core.economics import case, catalog, costs, exports, figures  # noqa: E402

RECALC_TARGET_MS = 50.0


def random_case(rng: random.Random, apis: tuple[catalog.ApiPrice, ...]) -> case.Case:
    """Inputs spread over the ranges the page allows."""
    presets = list(catalog.model_presets().values())
    gpus = list(catalog.GPU_CATALOG)
    train = case.TrainInputs(
        params=10 ** rng.uniform(7, 12),
        tokens=10 ** rng.uniform(9, 13),
        gpu=rng.choice(gpus),
        n_gpus=rng.randint(1, 4096),
        mfu=rng.uniform(0.05, 0.8),
        price_per_hour=rng.uniform(0.2, 8),
        checkpointing=rng.random() < 0.5,
    )
    shape = rng.choice(presets)
    serve = case.ServeInputs(
        shape=shape,
        precision=rng.choice(list(costs.BYTES_PER_PARAM)),
        context_len=min(shape.context, rng.choice([512, 2048, 8192])),
        requests_per_day=10 ** rng.uniform(1, 8),
        gpu=rng.choice(gpus),
        price_per_hour=rng.uniform(0.2, 8),
    )
    startup = case.StartupInputs(cash=rng.uniform(1e5, 1e8), monthly_growth=rng.uniform(0, 0.2))
    return case.Case(train=train, serve=serve, startup=startup, apis=apis)


def one_recalc(inputs: case.Case) -> float:
    """Seconds for the core work a page rerun does."""
    t0 = time.perf_counter()
    report = case.evaluate(inputs)
    figures.size_curve(inputs.train)
    figures.volume_curve(inputs.serve, report.serve, inputs.apis)
    figures.isoflop_curve(report.train.flops)
    figures.api_table(report)
    figures.runs_table(report.runs)
    figures.summarise_runs(report.runs)
    exports.to_csv(exports.result_rows(inputs, report))
    exports.summary_markdown(inputs, report)
    return time.perf_counter() - t0


def page_reruns(at: AppTest, n: int) -> list[float]:
    """Seconds for each of `n` reruns of the page `at` shows."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
        assert not at.exception, at.exception
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200, help="random input sets")
    parser.add_argument("--reruns", type=int, default=10, help="AppTest reruns of each page")
    args = parser.parse_args()
    rng = random.Random(0)
    apis = tuple(catalog.default_apis())
    recalcs = [one_recalc(random_case(rng, apis)) * 1e3 for _ in range(args.cases)]

    page = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    page.run()
    page.switch_page("pages/business_case.py").run()
    plain = AppTest.from_string('import streamlit as st\nst.title("Plain")\n', default_timeout=60)
    plain.run()
    page_ms = statistics.median(page_reruns(page, args.reruns)) * 1e3
    plain_ms = statistics.median(page_reruns(plain, args.reruns)) * 1e3
    result = {
        "recalc_ms": round(max(recalcs), 2),
        "recalc_median_ms": round(statistics.median(recalcs), 2),
        "recalc_target_ms": RECALC_TARGET_MS,
        "recalc_within_target": max(recalcs) < RECALC_TARGET_MS,
        "page_rerun_ms": round(page_ms, 1),
        "plain_rerun_ms": round(plain_ms, 1),
        "page_vs_plain_ratio": round(page_ms / plain_ms, 2),
        "torch_imported": "torch" in sys.modules,
        "cases": args.cases,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
