"""core.optim.rules: every NumPy update rule follows its torch.optim class step for step, with
its hyperparameters moved off their defaults and two rates in one batch."""

import numpy as np
import pytest
import torch

from core.optim import race, registry, surfaces

ROSENBROCK = surfaces.SURFACES["Rosenbrock"]
BEALE = surfaces.SURFACES["Beale"]
NON_DEFAULT = {  # every exposed hyperparameter moved off its default
    "SGD + momentum": {"momentum": 0.5},
    "Nesterov": {"momentum": 0.7},
    "RMSprop": {"alpha": 0.9, "eps": 1e-6},
    "Adadelta": {"rho": 0.8},
    "Adam": {"beta1": 0.8, "beta2": 0.99},
    "AdamW": {"weight_decay": 0.1},
    "NAdam": {"momentum_decay": 0.01},
    "RAdam": {"beta2": 0.9},
    "Lion": {"beta1": 0.8, "weight_decay": 0.05},
}


def torch_path(name, surface, start, lr, steps, hypers=None):
    """Positions after each step of the real torch optimizer, float64."""
    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimizer = registry.REGISTRY[name].build([p], lr, hypers)
    out = []
    for _ in range(steps):
        optimizer.zero_grad()
        surface.f(p[0], p[1]).backward()
        optimizer.step()
        out.append(p.detach().numpy().copy())
    return np.array(out)


@pytest.mark.parametrize("name", list(registry.REGISTRY))
@pytest.mark.parametrize("surface", [ROSENBROCK, BEALE], ids=lambda s: s.name)
def test_vectorised_rule_matches_torch_step_for_step(name, surface):
    lr = 1e-3 if surface is ROSENBROCK else 1e-2
    hypers = NON_DEFAULT.get(name)
    runs = [(name, lr), (name, lr / 3)]  # two rates in one batch: no cross-talk
    sweep = race.run_sweep(surface, surface.start, runs, 40, {name: hypers or {}})
    for r, rate in enumerate((lr, lr / 3)):
        expected = torch_path(name, surface, surface.start, rate, 40, hypers)
        np.testing.assert_allclose(sweep.paths[r, 1:], expected, rtol=1e-9, atol=1e-12)
