"""core.optim.optimizers: the NumPy rules follow torch.optim step for step, Lion follows its paper,
tuned runs converge, diverging runs are flagged."""

import numpy as np
import pytest
import torch

from core.optim import optimizers as opt
from core.optim import surfaces
from core.optim.lion import Lion

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
    optimizer = opt.REGISTRY[name].build([p], lr, hypers)
    out = []
    for _ in range(steps):
        optimizer.zero_grad()
        surface.f(p[0], p[1]).backward()
        optimizer.step()
        out.append(p.detach().numpy().copy())
    return np.array(out)


@pytest.mark.parametrize("name", list(opt.REGISTRY))
@pytest.mark.parametrize("surface", [ROSENBROCK, BEALE], ids=lambda s: s.name)
def test_vectorised_rule_matches_torch_step_for_step(name, surface):
    lr = 1e-3 if surface is ROSENBROCK else 1e-2
    hypers = NON_DEFAULT.get(name)
    runs = [(name, lr), (name, lr / 3)]  # two rates in one batch: no cross-talk
    sweep = opt.run_sweep(surface, surface.start, runs, 40, {name: hypers or {}})
    for r, rate in enumerate((lr, lr / 3)):
        expected = torch_path(name, surface, surface.start, rate, 40, hypers)
        np.testing.assert_allclose(sweep.paths[r, 1:], expected, rtol=1e-9, atol=1e-12)


def test_lion_follows_the_paper_rule():
    g = torch.tensor([0.5, -2.0, 0.0], dtype=torch.float64)
    p = torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64, requires_grad=True)
    lion = Lion([p], lr=0.1, betas=(0.9, 0.99), weight_decay=0.5)
    m, ref = np.zeros(3), np.ones(3)
    for _ in range(3):
        p.grad = g.clone()
        lion.step()
        c = 0.9 * m + 0.1 * g.numpy()
        ref = ref * (1 - 0.1 * 0.5) - 0.1 * np.sign(c)
        m = 0.99 * m + 0.01 * g.numpy()
    np.testing.assert_allclose(p.detach().numpy(), ref, rtol=0, atol=1e-15)
    with pytest.raises(ValueError):
        Lion([p], lr=0.0)


@pytest.mark.parametrize("name", ["Adam", "SGD + momentum"])
def test_tuned_rates_reach_the_rosenbrock_minimum(name):
    tuned = opt.tune(ROSENBROCK, (-1.5, 2.0), [name], 2000, opt.lr_grid(1e-5, 10, 30))
    sweep = opt.run_sweep(ROSENBROCK, (-1.5, 2.0), [(name, tuned.best_lr[name])], 2000)
    assert sweep.final_loss[0] < 1e-4
    assert opt.steps_to_tolerance(sweep.losses, 0.0, 1e-4)[0] <= 2000


def test_diverging_runs_are_flagged_and_frozen():
    sweep = opt.run_sweep(ROSENBROCK, (-1.5, 2.0), [("SGD", 1.0), ("Adam", 1e-2)], 100)
    assert sweep.diverged_at[0] > 0 and sweep.diverged_at[1] == -1
    assert np.isinf(sweep.final_loss[0]) and np.isfinite(sweep.final_loss[1])
    assert np.all(np.isfinite(sweep.paths))  # the path stops at its last finite point
    k = sweep.diverged_at[0]
    assert np.all(sweep.paths[0, k:] == sweep.paths[0, k - 1])


def test_leaving_the_view_counts_as_divergence():
    saddle = surfaces.SURFACES["Saddle"]
    sweep = opt.run_sweep(saddle, (0.0, 0.1), [("SGD", 0.4)], 200)
    assert sweep.diverged_at[0] > 0
    assert np.abs(sweep.paths[0, -1, 1]) <= 10 * 2 + 1e-9


def test_tune_picks_the_lowest_final_loss():
    grid = opt.lr_grid(1e-4, 1.0, 9)
    tuned = opt.tune(BEALE, BEALE.start, ["Adam", "RMSprop"], 300, grid)
    for name in ("Adam", "RMSprop"):
        idx = [r for r, n in enumerate(tuned.sweep.names) if n == name]
        best = idx[int(np.argmin(tuned.sweep.final_loss[idx]))]
        assert tuned.best_lr[name] == tuned.sweep.lrs[best]


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="Unknown optimizer"):
        opt.run_sweep(BEALE, (0, 0), [("Shampoo", 0.1)], 10)
    with pytest.raises(ValueError, match="Learning rates"):
        opt.run_sweep(BEALE, (0, 0), [("Adam", -1.0)], 10)
    with pytest.raises(ValueError, match="Steps"):
        opt.run_sweep(BEALE, (0, 0), [("Adam", 0.1)], 0)
    with pytest.raises(ValueError, match="grid"):
        opt.lr_grid(1.0, 0.1)


def test_registry_builds_every_torch_optimizer_with_its_hyperparameters():
    w = torch.nn.Parameter(torch.zeros(3))
    for name, entry in opt.REGISTRY.items():
        built = entry.build([w], 0.01)
        group = built.param_groups[0]
        assert group["lr"] == 0.01
        for h in entry.hypers:
            if h.name in ("beta1", "beta2"):
                assert group["betas"][0 if h.name == "beta1" else 1] == h.default, name
            else:
                assert group[h.name] == h.default, name
    assert opt.REGISTRY["Nesterov"].build([w], 0.1).param_groups[0]["nesterov"] is True
