"""The cnn kind: run.json's fields as the Train page's `CNNConfig` and `TrainConfig`, its
images (a built-in, downloadable, zip or folder set), and `run`, which trains with the page's
own trainer under torchrun and records the run as the page does. The only module of
`core.train` that calls the vision tool.
"""

from __future__ import annotations

import dataclasses
import sys

from core import distributed
from core.distributed import World
from core.train.checkpoints import JobHooks
from core.train.data import batch_warning, check_world, per_rank_batch, worker_path, zip_folder
from core.train.recorder import Recorder, open_run
from core.train.spec import ConfigError, DataSpec, RunSpec, build_config
from core.vision import data, inspect, tool, trainer
from core.vision.model import CNNConfig


def cnn_configs(spec: RunSpec, ds) -> tuple:
    """(CNNConfig, TrainConfig) of a cnn spec; the data set `ds` (or None before loading)
    fills channels, classes and image size, which must agree with any given."""
    model = dict(spec.model)
    if ds is not None:
        c, h, _ = ds.shape
        actual = {"in_channels": c, "num_classes": len(ds.classes), "image_size": h}
        for key, value in actual.items():
            if key in model and model[key] != value:
                raise ConfigError(
                    f'"model": {key} is {model[key]} but the data have {value}; '
                    "remove it from run.json or fix the data."
                )
        model |= actual
    model_cfg = build_config(CNNConfig, model, "model")
    train_cfg = build_config(trainer.TrainConfig, {**spec.train, "seed": spec.seed}, "train")
    return model_cfg, train_cfg


def check(spec: RunSpec) -> None:
    """ConfigError unless the model and training fields make the page's configs."""
    cnn_configs(spec, None)


def load_images(spec: DataSpec, device: str) -> data.ImageTensors:
    """The image set of `spec` on `device`; ConfigError when it cannot be read."""
    try:
        if spec.source == "digits":
            return data.load_digits(device)
        if spec.source in ("zip", "folder"):
            path = worker_path(spec.path)
            raw = zip_folder(path) if path.is_dir() else path.read_bytes()
            return data.load_zip(raw, device, spec.image_size, title=path.stem)[0]
        return data.load_download(spec.source, device)
    except data.DataError as err:
        raise ConfigError(str(err)) from None


def run(spec: RunSpec, world: World, recorder: Recorder) -> dict:
    """Train the spec's CNN (the page's own trainer) under `world`; rank 0 records it as the
    page records a run (`core.vision.tool`), with the distributed figures beside."""
    # the data and settings are checked before this rank waits for any other
    ds = load_images(spec.data, world.device)
    model_cfg, train_cfg = cnn_configs(spec, ds)
    splits = data.split(ds.y, train_cfg.seed)
    check_world(len(splits[0]), world.world_size, "images")
    # each rank takes batch / world size images, so the effective batch is the page's
    local_batch = per_rank_batch(train_cfg.batch_size, world.world_size)
    distributed.join(world)  # only now: a bad config fails at once, not after a timeout
    # a checkpoint every epoch; the last one found is where this attempt starts
    hooks = JobHooks(world, spec.folder, spec.fingerprint(), 1, train_cfg.epochs)
    request = tool.Request(data=ds, model=model_cfg, train=train_cfg)
    # rank 0 opens the run (a restart takes it up again); each epoch lands in it at once
    progress = open_run(
        spec,
        hooks,
        recorder,
        params=tool.run_params(request),
        per_rank_batch=local_batch,
        step_key="epoch",
    )
    warning = batch_warning(train_cfg.batch_size, len(splits[0]), "images")
    if warning and hooks.is_main:  # trained as asked, but said: printed and in the run
        print(f"Warning: {warning}", file=sys.stderr, flush=True)
        recorder.tag(warning=warning)
    # the page's trainer, on this rank's batch; the hooks do the rest
    local_cfg = dataclasses.replace(train_cfg, batch_size=local_batch)
    result = trainer.train_classifier(ds, splits, model_cfg, local_cfg, progress, hooks)
    if not hooks.is_main:
        return {}
    # rank 0 tests the best model and records the run as the page would
    evaluation = inspect.evaluate(result.model, ds, splits[2])
    summary = _summary(result, evaluation, hooks, local_batch)
    outcome = tool.Outcome(
        request=request,
        splits=splits,
        result=result,
        evaluation=evaluation,
        waited_s=result.seconds,  # what a reopened run shows as its wall time
    )
    _finish(recorder, tool.run_record(outcome), summary, world)
    return summary


def _summary(result, evaluation, hooks: JobHooks, local_batch: int) -> dict:
    """The JSON line rank 0 prints: accuracy, epochs, the world's batch and speed."""
    return {
        "test_accuracy": evaluation.accuracy,
        "test_loss": evaluation.loss,
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "resumed_from_epoch": hooks.resumed_from,
        "reason": result.reason,
        "world_size": hooks.world_size,
        "per_rank_batch": local_batch,
        "effective_batch": local_batch * hooks.world_size,
        "wall_seconds": result.seconds,
        "images_per_s": result.images_per_s * hooks.world_size,  # all ranks together
    }


def _finish(recorder: Recorder, run, summary: dict, world: World) -> None:
    """End the live run with what `core.vision.tool` records for a page's run (the per-epoch
    history is in already), the distributed figures overriding the one-process ones."""
    metrics = run.metrics | {k: v for k, v in summary.items() if isinstance(v, int | float)}
    if world.device == "cuda":  # every rank's GPU is paid for
        metrics["cost_usd"] = run.metrics["cost_usd"] * world.world_size
    recorder.tag(**run.tags, resumed_from_epoch=summary["resumed_from_epoch"])
    recorder.finish(
        run.status,
        metrics=metrics,
        tables=run.tables,
        figures=run.figures,
        artifacts=run.artifacts,
    )
