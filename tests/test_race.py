"""core.optim.race: tuned runs converge, diverging runs are flagged and frozen, tuning picks
the lowest final loss, bad inputs are refused, the table reads well, the record keeps its
format."""

import math

import numpy as np
import pytest

from core.optim import race, surfaces

ROSENBROCK = surfaces.SURFACES["Rosenbrock"]
BEALE = surfaces.SURFACES["Beale"]


@pytest.mark.parametrize("name", ["Adam", "SGD + momentum"])
def test_tuned_rates_reach_the_rosenbrock_minimum(name):
    tuned = race.tune(ROSENBROCK, (-1.5, 2.0), [name], 2000, race.lr_grid(1e-5, 10, 30))
    sweep = race.run_sweep(ROSENBROCK, (-1.5, 2.0), [(name, tuned.best_lr[name])], 2000)
    assert sweep.final_loss[0] < 1e-4
    assert race.steps_to_tolerance(sweep.losses, 0.0, 1e-4)[0] <= 2000


def test_diverging_runs_are_flagged_and_frozen():
    sweep = race.run_sweep(ROSENBROCK, (-1.5, 2.0), [("SGD", 1.0), ("Adam", 1e-2)], 100)
    assert sweep.diverged_at[0] > 0 and sweep.diverged_at[1] == -1
    assert np.isinf(sweep.final_loss[0]) and np.isfinite(sweep.final_loss[1])
    assert np.all(np.isfinite(sweep.paths))  # the path stops at its last finite point
    k = sweep.diverged_at[0]
    assert np.all(sweep.paths[0, k:] == sweep.paths[0, k - 1])


def test_leaving_the_view_counts_as_divergence():
    saddle = surfaces.SURFACES["Saddle"]
    sweep = race.run_sweep(saddle, (0.0, 0.1), [("SGD", 0.4)], 200)
    assert sweep.diverged_at[0] > 0
    assert np.abs(sweep.paths[0, -1, 1]) <= 10 * 2 + 1e-9


def test_tune_picks_the_lowest_final_loss():
    grid = race.lr_grid(1e-4, 1.0, 9)
    tuned = race.tune(BEALE, BEALE.start, ["Adam", "RMSprop"], 300, grid)
    for name in ("Adam", "RMSprop"):
        idx = [r for r, n in enumerate(tuned.sweep.names) if n == name]
        best = idx[int(np.argmin(tuned.sweep.final_loss[idx]))]
        assert tuned.best_lr[name] == tuned.sweep.lrs[best]


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="Unknown optimizer"):
        race.run_sweep(BEALE, (0, 0), [("Shampoo", 0.1)], 10)
    with pytest.raises(ValueError, match="Learning rates"):
        race.run_sweep(BEALE, (0, 0), [("Adam", -1.0)], 10)
    with pytest.raises(ValueError, match="Steps"):
        race.run_sweep(BEALE, (0, 0), [("Adam", 0.1)], 0)
    with pytest.raises(ValueError, match="grid"):
        race.lr_grid(1.0, 0.1)
    with pytest.raises(ValueError, match="Pick at least one optimizer"):
        race.run_race(BEALE, (0, 0), [], 10)


def test_table_text():
    rows = [{"Optimizer": "A", "Learning rate": 1e-3, "Final loss": 8e-12, "Steps": None}]
    assert race.display_rows(rows) == [
        {"Optimizer": "A", "Learning rate": "0.001", "Final loss": "8.00e-12", "Steps": "-"}
    ]


def test_rates_by_hand_override_tuning_and_divergence_is_named():
    result = race.run_race(
        ROSENBROCK, (-1.5, 2.0), ["SGD", "Adam"], 100, race.lr_grid(), manual={"SGD": 1.0}
    )
    assert result.how == {"SGD": "by hand", "Adam": "tuned"} and result.lrs["SGD"] == 1.0
    assert result.diverged() == ["SGD"] and not result.starts_at_minimum
    at_minimum = race.run_race(ROSENBROCK, (1.0, 1.0), ["Adam"], 20)
    assert at_minimum.starts_at_minimum and at_minimum.how == {"Adam": "default"}


def test_the_record_keeps_the_format_of_recorded_races():
    result = race.run_race(ROSENBROCK, (-1.5, 2.0), ["SGD", "Adam"], 50, manual={"SGD": 1.0})
    record = race.run_record(result, {"paths": "figure"})
    assert record.name == "Rosenbrock: SGD, Adam"
    assert record.params == {
        "kind": "2-D surface",
        "surface": "Rosenbrock",
        "formula": ROSENBROCK.formula,
        "optimizers": ["SGD", "Adam"],
        "steps": 50,
        "rates": {"SGD": 1.0, "Adam": 1e-3},
        "how": {"SGD": "by hand", "Adam": "default"},
    }
    finite = [x for x in result.sweep.final_loss if math.isfinite(x)]
    assert record.metrics == {"best_final_loss": min(finite)}
    assert record.tables == {"results": result.table()} and record.figures == {"paths": "figure"}
