"""core.optim.model_race: the real-model race tunes, trains seeds, learns, stops on request
and is recorded, or says why not."""

import dataclasses
import math

import pytest
import torch

from core import jobs
from core.optim import model_race
from core.vision import data

DIGITS = data.load_digits("cpu")


def test_split_is_stratified_and_disjoint():
    train, val, test = data.split(DIGITS.y, 0, val=0.2, test=0)  # the race's split
    assert len(test) == 0
    assert len(set(train.tolist()) & set(val.tolist())) == 0
    assert len(train) + len(val) == len(DIGITS.y)
    counts = torch.bincount(DIGITS.y[val], minlength=10)
    assert counts.min() >= 30 and counts.max() <= 40


def test_race_tunes_then_runs_seeds_and_learns():
    cfg = model_race.CompareConfig(
        optimizers=("Adam", "SGD + momentum"), seeds=2, epochs=3, lr_multipliers=(1.0, 10.0)
    )
    result = model_race.compare(DIGITS, cfg)
    assert not result.stopped and cfg.runs == 2 * (2 + 1)
    for name in cfg.optimizers:
        runs = [r for r in result.runs if r.optimizer == name]
        assert [r.seed for r in runs] == [0, 1]
        assert {r.lr for r in runs} == {result.best_lr[name]}
        assert result.best_lr[name] == min(result.grid[name], key=result.grid[name].get)
        for r in runs:
            assert len(r.val_loss) == 3 and r.steps[-1] == 3 * math.ceil(1437 / 64)
            assert r.val_accuracy > 0.8  # chance is 0.1
            assert r.seconds == sorted(r.seconds)
    rows = model_race.summary(result)
    assert [r["Optimizer"] for r in rows] == ["Adam", "SGD + momentum"]
    assert all(0.8 < r["Val accuracy (mean)"] <= 1 for r in rows)
    assert model_race.to_csv(rows).splitlines()[0].startswith("Optimizer,Best learning rate")


def test_the_race_runs_on_one_cpu_thread_and_puts_the_count_back(monkeypatch):
    seen, train_run = [], model_race.train_run

    def counting(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return train_run(*args, **kwargs)

    monkeypatch.setattr(model_race, "train_run", counting)
    before = torch.get_num_threads()
    cfg = model_race.CompareConfig(optimizers=("Adam",), seeds=2, epochs=1, lr_multipliers=(1.0,))
    model_race.compare(DIGITS, cfg)
    assert seen == [model_race.RACE_THREADS] * 2 == [1, 1]
    assert torch.get_num_threads() == before


def test_stop_returns_what_finished():
    cfg = model_race.CompareConfig(optimizers=("Adam", "Lion"), seeds=2, epochs=30)
    job = jobs.Job(target=lambda ctx: model_race.compare(DIGITS, cfg, ctx)).start()
    while len(job.metrics()) < 2:
        job.wait(0.01)
    job.stop()
    assert job.wait(10)
    result = job.result
    assert result.stopped and job.status == "stopped"
    assert result.runs == [] or all(r.val_loss for r in result.runs)
    assert len(job.metrics()) < cfg.runs


def test_a_diverging_rate_is_marked_and_never_chosen():
    cfg = model_race.CompareConfig(
        optimizers=("SGD",), seeds=1, epochs=2, lr_multipliers=(1.0, 1e20)
    )
    result = model_race.compare(DIGITS, cfg)
    assert math.isinf(result.grid["SGD"][1e18])
    assert result.best_lr["SGD"] == pytest.approx(1e-2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"optimizers": ()},
        {"optimizers": ("Shampoo",)},
        {"seeds": 0},
        {"epochs": 1000},
        {"lr_multipliers": (0.0,)},
        {"val_share": 0.9},
    ],
)
def test_bad_configs_are_refused(kwargs):
    with pytest.raises(ValueError):
        model_race.CompareConfig(**kwargs)


class StopAfter:
    """A Progress whose Stop is pressed once `n` runs have finished."""

    def __init__(self, n: int) -> None:
        self.n, self.rows = n, []

    def should_stop(self) -> bool:
        return len(self.rows) >= self.n

    def report(self, progress: float, message: str = "", **_) -> None:
        pass

    def log(self, **row) -> None:
        self.rows.append(row)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_a_stop_at_any_moment_keeps_every_finished_run(n):
    """Runs: Adam's sweep (1, 2), Adam seed 1 (3), SGD's sweep (4, 5), SGD seed 1 (6)."""
    cfg = model_race.CompareConfig(
        optimizers=("Adam", "SGD"), seeds=2, epochs=1, lr_multipliers=(1.0, 3.0)
    )
    progress = StopAfter(n)
    result = model_race.compare(DIGITS, cfg, progress)
    assert result.stopped and len(progress.rows) == n
    kept = sum(len(g) for g in result.grid.values()) + sum(r.seed > 0 for r in result.runs)
    assert kept == n
    finished = {row["optimizer"] for row in progress.rows}
    assert [r["Optimizer"] for r in model_race.summary(result)] == sorted(
        finished, key=cfg.optimizers.index
    )
    assert all(len(r.val_loss) == cfg.epochs for r in result.runs)


def test_a_store_that_cannot_be_written_loses_nothing(tmp_path, monkeypatch):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    monkeypatch.setenv("DASHBOARD_HOME", str(blocker))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = model_race.CompareConfig(optimizers=("Adam",), seeds=1, epochs=1, lr_multipliers=(1.0,))
    result = model_race.compare_and_record(DIGITS, cfg)
    assert not result.recorded.ok and result.recorded.run_id is None and result.recorded.reason
    assert [r["Optimizer"] for r in model_race.summary(result)] == ["Adam"]


def test_the_record_keeps_the_format_of_recorded_races():
    cfg = model_race.CompareConfig(
        optimizers=("Adam", "SGD"), seeds=1, epochs=1, lr_multipliers=(1.0,)
    )
    result = model_race.compare(DIGITS, cfg, StopAfter(1))
    record = model_race.run_record(result, 2.5)
    assert record.name == "real model: Adam" and record.status == "KILLED"
    assert record.params == {
        "kind": "real model (MLP on digits)",
        "config": dataclasses.asdict(cfg),
        "tuned_rates": result.best_lr,
        "stopped": True,
    }
    rows = model_race.summary(result)
    assert record.metrics == {"best_val_loss": rows[0]["Val loss (mean)"], "seconds": 2.5}
    assert record.tables == {"results": rows}
    assert set(record.figures) == {"loss_by_step", "loss_by_seconds"}
