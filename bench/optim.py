"""2-D sweep speed: 8 optimizers x a 20-point learning-rate grid x 500 steps on Rosenbrock.

- sweep_seconds: the vectorised NumPy runner (core.optim.race.run_sweep), all 160 runs at once.
- loop_seconds: the same 160 runs one by one with torch.optim in a plain Python loop (the
  reference, measured in the same process).
- speedup_vs_loop = loop_seconds / sweep_seconds.
- runs_matching: runs whose end points agree within 1e-6 (same algorithms, same float64
  arithmetic); the others ride chaotic paths (rates near the edge of stability, Lion's
  sign) where last-bit differences grow, or diverged.
The sweep is timed --repeats times (median), the slow loop once. Last line: a JSON object.

    python3 bench/optim.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import cpu  # noqa: E402
from core.optim import race, registry, surfaces  # noqa: E402

NAMES = ["SGD", "SGD + momentum", "Nesterov", "RMSprop", "Adagrad", "Adam", "AdamW", "Lion"]
STEPS, START = 500, (-1.5, 2.0)
TARGET_S = 1.0


def plain_loop(surface, runs) -> np.ndarray:
    """End points of each run with torch.optim, one run after another, float64."""
    ends = []
    for name, lr in runs:
        p = torch.tensor(START, dtype=torch.float64, requires_grad=True)
        opt = registry.REGISTRY[name].build([p], lr)
        for _ in range(STEPS):
            opt.zero_grad()
            surface.f(p[0], p[1]).backward()
            opt.step()
        ends.append(p.detach().numpy().copy())
    return np.array(ends)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead to the reference
    surface = surfaces.SURFACES["Rosenbrock"]
    runs = [(n, float(lr)) for n in NAMES for lr in race.lr_grid(1e-5, 10.0, 20)]
    sweep_times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        sweep = race.run_sweep(surface, START, runs, STEPS)
        sweep_times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    with np.errstate(all="ignore"):
        ends = plain_loop(surface, runs)
    loop_s = time.perf_counter() - t0
    diff = np.abs(sweep.paths[:, -1] - ends).max(axis=1)
    sweep_s = statistics.median(sweep_times)
    print(
        json.dumps(
            cpu.stamp(
                {
                    "sweep_seconds": round(sweep_s, 4),
                    "loop_seconds": round(loop_s, 3),
                    "speedup_vs_loop": round(loop_s / sweep_s, 1),
                    "sweep_target_s": TARGET_S,
                    "sweep_within_target": sweep_s < TARGET_S,
                    "runs": len(runs),
                    "steps": STEPS,
                    "runs_matching": int(np.sum(diff < 1e-6)),
                    "runs_diverged": int(np.sum(sweep.diverged_at > 0)),
                }
            )
        )
    )


if __name__ == "__main__":
    main()
