"""The gpt2 kind: run.json's fields as the chat page's `TinyGPTConfig`, its text (the
built-in one or a text file), and `run`, which trains the page's small GPT-2 under torchrun,
saves it where the chat picker finds it and records the run as the page does. The only
module of `core.train` that calls the text tool.
"""

from __future__ import annotations

import dataclasses
import time

from core import distributed
from core.distributed import World
from core.text import tinygpt
from core.train.checkpoints import JobHooks
from core.train.data import per_rank_batch, worker_path
from core.train.recorder import Recorder, open_run
from core.train.spec import ConfigError, DataSpec, RunSpec, build_config


def gpt2_config(spec: RunSpec) -> tinygpt.TinyGPTConfig:
    """The TinyGPTConfig of a gpt2 spec ("model" and "train" fields together)."""
    values = {**spec.model, **spec.train, "name": spec.name, "seed": spec.seed}
    return build_config(tinygpt.TinyGPTConfig, values, "model/train")


def check(spec: RunSpec) -> None:
    """ConfigError unless the model and training fields make the page's config."""
    gpt2_config(spec)


def load_text(spec: DataSpec) -> str:
    """The training text of `spec`; ConfigError when it cannot be used."""
    if spec.source == "builtin-text":
        return tinygpt.builtin_corpus()
    try:
        return tinygpt.read_corpus(worker_path(spec.path).read_bytes())
    except ValueError as err:
        raise ConfigError(f"{spec.path}: {err}") from None


def run(spec: RunSpec, world: World, recorder: Recorder) -> dict:
    """Train the spec's small GPT-2 (the chat page's own trainer); rank 0 saves it into
    models_dir() (the chat picker lists it) and records it as the page does
    (`tinygpt.gpt2_run`)."""
    # the text and settings are checked before this rank waits for any other
    text = load_text(spec.data)
    cfg = gpt2_config(spec)
    # each rank takes batch / world size windows, so the effective batch is the page's
    local_batch = per_rank_batch(cfg.batch_size, world.world_size)
    distributed.join(world)  # only now: a bad config fails at once, not after a timeout
    # a checkpoint at every sample, which is also where the loss is logged
    every = max(1, cfg.sample_every)
    hooks = JobHooks(world, spec.folder, spec.fingerprint(), every, cfg.steps)
    hooks.min_shard = cfg.context + 2  # room to draw a window of context + 1 tokens from
    # rank 0 opens the run (a restart takes it up again); each sample lands in it at once
    progress = open_run(
        spec,
        hooks,
        recorder,
        params=tinygpt.run_record(cfg, world.device, [], None, "RUNNING").params,
        per_rank_batch=local_batch,
        step_key="step",
    )
    # the page's trainer, on this rank's batch; the hooks do the rest
    t0 = time.perf_counter()
    local_cfg = dataclasses.replace(cfg, batch_size=local_batch)
    folder = tinygpt.train_small_gpt2(text, local_cfg, world.device, progress, hooks)
    if not hooks.is_main:
        return {}
    summary = {
        "model_folder": str(folder),
        "steps": cfg.steps,
        "resumed_from_step": hooks.resumed_from,
        "world_size": world.world_size,
        "per_rank_batch": local_batch,
        "effective_batch": local_batch * world.world_size,
        "wall_seconds": time.perf_counter() - t0,
    }
    # rank 0 records the run as the page would, with the job's figures beside
    run = tinygpt.run_record(cfg, world.device, progress.rows, folder, "FINISHED")
    numbers = {k: v for k, v in summary.items() if isinstance(v, int | float)}
    recorder.tag(**run.tags, resumed_from_step=hooks.resumed_from)
    recorder.finish(
        run.status, metrics=run.metrics | numbers, tables=run.tables, artifacts=run.artifacts
    )
    return summary
