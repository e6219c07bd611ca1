"""The pages' trainers as headless jobs: `python -m core.train cnn|gpt2 --config run.json`,
alone or under `torchrun` (DistributedDataParallel, NCCL on GPUs, gloo on the CPU).

The command calls the very trainers the pages call (`core.vision.vision.train_classifier`,
`core.text.textgen.train_small_gpt2`) and adds only `JobHooks`: the distributed wrapper
(`core.distributed`) and a checkpoint every epoch (model, optimizer, schedule, RNG, epoch,
history) written atomically to `runs_dir()/jobs/<name>`, from which a job restarted by
`torchrun --max-restarts K` (or launched again) resumes. Rank 0 alone records into the run
store (`core.runs`): params with host, world size, device and the exact command, metrics
every epoch as they happen, and at the end the artifacts an in-app run records.

    run.json: {"kind": "cnn", "name": "digits-ddp", "seed": 0,
               "data": {"source": "digits"},            # or MNIST, Fashion-MNIST, CIFAR-10,
                                                        # zip/folder + "path", text + "path",
                                                        # builtin-text (gpt2)
               "model": {...CNNConfig or TinyGPTConfig fields...},
               "train": {...TrainConfig fields...}}

Exit codes: 0 done, 1 the training failed, 2 a config or data the user must fix, 3 the
processes could not form a group.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import os
import re
import shlex
import signal
import socket
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("cnn", "gpt2")
IMAGE_SOURCES = ("digits", "MNIST", "Fashion-MNIST", "CIFAR-10", "zip", "folder")
TEXT_SOURCES = ("builtin-text", "text")
DERIVED_FROM_DATA = ("in_channels", "num_classes", "image_size")  # CNNConfig fields data fix
CHECKPOINT = "checkpoint.pt"
RUN_ID_FILE = "run_id"  # the store's run of the job, for pages following it
LOG_FILE = "job.log"  # a local check's stdout and stderr
CONFIG_FILE = "run.json"
CRASH_ENV = "DASHBOARD_TEST_CRASH"  # tests: "RANK:COUNT:MARKER" -> that rank dies once
EXIT_FAILED, EXIT_CONFIG, EXIT_DISTRIBUTED = 1, 2, 3
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


class ConfigError(ValueError):
    """run.json or its data cannot be used; the message says what to fix."""


# ---- run.json -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DataSpec:
    """Where the training data come from."""

    source: str = "digits"  # one of IMAGE_SOURCES (cnn) or TEXT_SOURCES (gpt2)
    path: str = ""  # the .zip, folder or text file for zip / folder / text
    image_size: int = 32  # pixels per side that zip / folder images are resized to

    def __post_init__(self) -> None:
        if self.source not in IMAGE_SOURCES + TEXT_SOURCES:
            known = ", ".join(IMAGE_SOURCES + TEXT_SOURCES)
            raise ConfigError(f"Unknown data source {self.source!r}: use one of {known}.")


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    """A whole run.json: what to train, on what, how, and under which name."""

    kind: str  # "cnn" or "gpt2"
    name: str  # the job's folder under runs_dir()/jobs and its run's name
    seed: int = 0
    data: DataSpec = field(default_factory=DataSpec)
    model: dict = field(default_factory=dict)  # CNNConfig or TinyGPTConfig fields
    train: dict = field(default_factory=dict)  # TrainConfig fields (cnn)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"Unknown kind {self.kind!r}: use cnn or gpt2.")
        if not NAME_PATTERN.match(self.name):
            raise ConfigError(
                f"Name {self.name!r}: use letters, digits, dots, dashes or underscores (max 80)."
            )
        image = self.data.source in IMAGE_SOURCES
        if image != (self.kind == "cnn"):
            raise ConfigError(f"Data source {self.data.source!r} does not fit a {self.kind} run.")

    def fingerprint(self) -> str:
        """A short hash of the run's content: a checkpoint resumes only the same run."""
        text = json.dumps(to_dict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _build(cls, values: dict, where: str):
    """`cls(**values)`, with unknown fields and failed checks as a ConfigError."""
    if not isinstance(values, dict):
        raise ConfigError(f'"{where}" must be a JSON object, not {type(values).__name__}.')
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        known = ", ".join(sorted(names))
        raise ConfigError(f'Unknown field(s) in "{where}": {", ".join(unknown)}. Known: {known}.')
    try:
        return cls(**values)
    except (ValueError, TypeError) as err:
        raise ConfigError(f'"{where}": {err}') from None


def spec_from_dict(raw: Any) -> RunSpec:
    """A RunSpec from parsed run.json; ConfigError saying what is wrong."""
    if not isinstance(raw, dict):
        raise ConfigError("run.json must hold one JSON object.")
    values = dict(raw)
    values["data"] = _build(DataSpec, values.get("data", {}), "data")
    spec = _build(RunSpec, values, "run.json")
    if spec.kind == "cnn":
        cnn_configs(spec, None)  # the model and training fields validate before any data load
    else:
        gpt2_config(spec)
    return spec


def load_spec(path: str | Path) -> RunSpec:
    """Read and check run.json at `path`."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"No config file at {path}.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path} is not readable JSON ({err}).") from None
    return spec_from_dict(raw)


def to_dict(spec: RunSpec) -> dict:
    """The RunSpec as run.json's object."""
    return dataclasses.asdict(spec)


def run_config(kind: str, *, name: str, data: dict, model, train=None, seed: int = 0) -> dict:
    """run.json's object for a page's settings: `model`/`train` are the page's config
    dataclasses (CNNConfig and TrainConfig, or TinyGPTConfig alone). Checked as the command
    will check it."""
    model_fields = dataclasses.asdict(model)
    train_fields = dataclasses.asdict(train) if train is not None else {}
    model_fields.pop("name", None)
    model_fields.pop("seed", None)
    train_fields.pop("seed", None)
    raw = {"kind": kind, "name": name, "seed": seed, "data": data}
    raw |= {"model": model_fields, "train": train_fields}
    return to_dict(spec_from_dict(raw))


def _job_name(text: str) -> str:
    """`text` as a job name: letters, digits, dots, dashes, underscores."""
    name = re.sub(r"[^A-Za-z0-9_.]+", "-", text).strip("-.")[:80]
    return name or "job"


def cnn_run_config(ds, model, train, name: str | None = None) -> dict:
    """run.json for the CNN page's data set `ds` and settings: a built-in or downloadable
    set by name, an upload as a zip whose path on the workers is still to be given."""
    known = ds.name in IMAGE_SOURCES
    source = {"source": ds.name} if known else {"source": "zip", "image_size": ds.shape[1]}
    name = name or _job_name(f"{ds.name}-cnn")
    return run_config("cnn", name=name, data=source, model=model, train=train, seed=train.seed)


def gpt2_run_config(cfg, text_path: str | None = None) -> dict:
    """run.json for the chat page's own-GPT-2 settings: the built-in text (None) or a text
    file at `text_path` on the workers ("" until given)."""
    data = (
        {"source": "builtin-text"} if text_path is None else {"source": "text", "path": text_path}
    )
    return run_config("gpt2", name=cfg.name, data=data, model=cfg, seed=cfg.seed)


def cnn_configs(spec: RunSpec, ds) -> tuple:
    """(CNNConfig, TrainConfig) of a cnn spec; the data set `ds` (or None before loading)
    fills channels, classes and image size, which must agree with any given."""
    from core.vision import vision

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
    model_cfg = _build(vision.CNNConfig, model, "model")
    train_cfg = _build(vision.TrainConfig, {**spec.train, "seed": spec.seed}, "train")
    return model_cfg, train_cfg


def gpt2_config(spec: RunSpec):
    """The TinyGPTConfig of a gpt2 spec ("model" and "train" fields together)."""
    from core.text import textgen

    values = {**spec.model, **spec.train, "name": spec.name, "seed": spec.seed}
    return _build(textgen.TinyGPTConfig, values, "model/train")


# ---- data ---------------------------------------------------------------------------


def _zip_folder(folder: Path) -> bytes:
    """A folder of class folders as an in-memory .zip, read by the same checks as uploads."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def _existing(path: str) -> Path:
    if not path:
        raise ConfigError('This data source needs a "path" in "data" (the file or folder).')
    found = Path(path).expanduser()
    if not found.exists():
        raise ConfigError(
            f"The data path {path} does not exist on this machine ({socket.gethostname()}): "
            'copy the data there or fix "data.path" in run.json.'
        )
    return found


def load_images(spec: DataSpec, device: str):
    """The image set of `spec` on `device`; ConfigError when it cannot be read."""
    from core.vision import data

    try:
        if spec.source == "digits":
            return data.load_digits(device)
        if spec.source in ("zip", "folder"):
            path = _existing(spec.path)
            raw = _zip_folder(path) if path.is_dir() else path.read_bytes()
            return data.load_zip(raw, device, spec.image_size, title=path.stem)[0]
        return data.load_download(spec.source, device)
    except data.DataError as err:
        raise ConfigError(str(err)) from None


def load_text(spec: DataSpec) -> str:
    """The training text of `spec`; ConfigError when it cannot be used."""
    from core.text import textgen

    if spec.source == "builtin-text":
        return textgen.builtin_corpus()
    try:
        return textgen.read_corpus(_existing(spec.path).read_bytes())
    except ValueError as err:
        raise ConfigError(f"{spec.path}: {err}") from None


# ---- checkpoints and the distributed wrapper ---------------------------------------------


def jobs_dir() -> Path:
    """Where headless jobs keep their checkpoints: runs_dir()/jobs."""
    from core import paths

    return paths.runs_dir() / "jobs"


def save_atomic(obj: dict, target: Path) -> None:
    """torch.save to a temporary file beside `target`, then rename: never half a file."""
    import torch

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    torch.save(obj, partial)
    os.replace(partial, target)


def _crash_point() -> tuple[int, int, Path] | None:
    """(rank, count, marker) from $DASHBOARD_TEST_CRASH, or None."""
    text = os.environ.get(CRASH_ENV)
    if not text:
        return None
    rank, count, marker = text.split(":", 2)
    return int(rank), int(count), Path(marker)


class JobHooks:
    """The trainers' hooks for a headless job: DDP under torchrun, this rank's shard, a
    checkpoint every `every` epochs (or steps), resuming from the last one."""

    def __init__(self, world, folder: Path, fingerprint: str, every: int = 1, total: int = 0):
        self.world, self.folder, self.fingerprint = world, folder, fingerprint
        self.every, self.total = every, total  # checkpoint period; last epoch/step (always saved)
        self.min_shard = 1  # fewest training items a rank may get (a GPT-2 needs a context)
        self.is_main, self.world_size = world.is_main, world.world_size
        self.resumed_from = 0  # epochs (or steps) done before this process started
        self.run_id: str | None = None  # the store's run, kept across restarts
        self._best: tuple[float, dict, int] | None = None
        self._best_state: dict | None = None

    @property
    def path(self) -> Path:
        """The checkpoint file."""
        return self.folder / CHECKPOINT

    def wrap(self, model):
        from core import distributed

        return distributed.wrap(model, self.world) if self.world_size > 1 else model

    def shard(self, x, contiguous: bool = False):
        from core import distributed

        part = distributed.shard(x, self.world, contiguous)
        if len(part) < self.min_shard:
            raise ConfigError(
                f"The world size ({self.world_size} processes) is too large for the data: each "
                f"process gets {len(part)} items and needs at least {self.min_shard}."
            )
        return part

    def sync(self, model) -> None:
        from core import distributed

        if self.world_size > 1:
            distributed.sync_buffers(model)

    def read(self) -> dict | None:
        """Rank 0's checkpoint of this run, on every rank (None when there is none)."""
        import torch

        from core import distributed

        found = None
        if self.is_main and self.path.exists():
            found = torch.load(self.path, map_location="cpu", weights_only=False)
            if found.get("fingerprint") != self.fingerprint:
                raise ConfigError(
                    f"{self.path} holds a checkpoint of a different run.json: give this run "
                    'another "name", or delete that folder to start over.'
                )
        return distributed.broadcast(found, self.world)

    def resume(self, model, opt, sched, gen, result=None) -> int:
        """Load the last checkpoint into the arguments; the epoch (or step) to go on from."""
        import torch

        ck = self.read()
        if ck is None:
            return 0
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        if sched is not None and ck["sched"] is not None:
            sched.load_state_dict(ck["sched"])
        gen.set_state(ck["gen"])
        torch.set_rng_state(ck["torch_rng"])
        if result is not None:
            result.history[:] = ck["history"]
            result.best_epoch = ck["best_epoch"]
            self._best_state = ck["best_state"]
            self._best = (ck["best_loss"], ck["best_state"], ck["waited"])
        self.resumed_from = ck["done"]
        return ck["done"]

    def best(self, model, result):
        from core import distributed

        if self._best is not None:
            return self._best
        return distributed.TrainHooks().best(model, result)

    def _track_best(self, model, result) -> tuple[float, int]:
        """(best validation loss, epochs since it) by the trainer's rule: the first lowest."""
        losses = [row.val_loss for row in result.history]
        best_i = min(range(len(losses)), key=lambda i: (losses[i], i))
        if best_i == len(losses) - 1:
            self._best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        return losses[best_i], len(losses) - 1 - best_i

    def epoch_end(self, epoch: int, model, opt, sched, gen, result=None) -> None:
        """Checkpoint (rank 0), then wait until it is written on every rank."""
        from core import distributed

        done = epoch + 1 if result is not None else epoch  # epochs are 0-based, steps 1-based
        state = self._track_best(model, result) if result is not None else None
        if done % self.every and done != self.total:
            return
        if self.is_main:
            self._save(done, model, opt, sched, gen, result, state)
        distributed.barrier(self.world)
        self._maybe_crash(done)

    def _save(self, done, model, opt, sched, gen, result, state) -> None:
        import torch

        ck = {
            "fingerprint": self.fingerprint,
            "done": done,
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "opt": opt.state_dict(),
            "sched": sched.state_dict() if sched is not None else None,
            "gen": gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "run_id": self.run_id,
        }
        if result is not None:
            ck |= {"history": list(result.history), "best_state": self._best_state}
            ck |= {"best_loss": state[0], "waited": state[1], "best_epoch": _best_epoch(result)}
        save_atomic(ck, self.path)

    def _maybe_crash(self, done: int) -> None:
        """Tests: the named rank dies once, hard, after the named epoch's checkpoint."""
        point = _crash_point()
        if point is None or point[0] != self.world.rank or point[1] != done or point[2].exists():
            return
        point[2].write_text(f"rank {self.world.rank} died after {done}\n")
        print(f"[test] rank {self.world.rank} exits after {done}", flush=True)
        os._exit(1)


def _best_epoch(result) -> int:
    losses = [row.val_loss for row in result.history]
    return result.history[min(range(len(losses)), key=lambda i: (losses[i], i))].epoch


# ---- the run store --------------------------------------------------------------------


class Recorder:
    """Rank 0's line into the run store; a store that fails is reported once and the job
    goes on unrecorded (issue 11's rule)."""

    def __init__(self) -> None:
        self.live = None
        self.error = ""

    def _guard(self, action, *args, **kwargs):
        from core import runs

        if self.error:
            return None
        try:
            return action(*args, **kwargs)
        except runs.StoreError as err:
            if _sigterm_seen:  # Stop landed inside a write: stop, and still record KILLED
                raise Terminated from err
            self.error = str(err)
            print(f"Not recorded: {err}", file=sys.stderr, flush=True)
            return None

    def open(self, tool: str, name: str, params: dict, tags: dict, run_id: str | None) -> None:
        """Start the run, or take up `run_id` again after a restart."""
        from core import runs

        if run_id:  # restarts, device... tagged again
            self.live = self._guard(runs.reopen, tool, run_id, tags)
        if self.live is None and not self.error:
            self.live = self._guard(runs.start, tool, name=name, params=params, tags=tags)

    @property
    def run_id(self) -> str | None:
        return self.live.id if self.live is not None else None

    def log(self, step: int, **metrics) -> None:
        if self.live is not None:
            self._guard(self.live.log, step, **metrics)

    def tag(self, **tags) -> None:
        if self.live is not None:
            self._guard(self.live.tag, **tags)

    def finish(self, status: str, **results) -> None:
        if self.live is not None and not self.live.finished:
            self._guard(self.live.finish, status, **results)


class StoreContext:
    """The job context rank 0 gives a trainer: each logged row goes to the store as it
    happens, progress goes to stdout every few seconds; Stop is a signal (see `main`)."""

    def __init__(self, recorder: Recorder, step_key: str, every_s: float = 5.0) -> None:
        self.recorder, self.step_key, self.every_s = recorder, step_key, every_s
        self.rows: list[dict] = []
        self._last = 0.0

    def should_stop(self) -> bool:
        return False

    def report(self, progress: float, message: str = "", rate=None, unit: str = "items") -> None:
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            print(f"{progress:6.1%} {message}", flush=True)

    def log(self, **row) -> None:
        self.rows.append(row)
        numbers = {k: v for k, v in row.items() if k != self.step_key}
        self.recorder.log(int(row[self.step_key]), **numbers)
        shown = ", ".join(f"{k} {v:.4g}" for k, v in numbers.items() if isinstance(v, float))
        print(f"{self.step_key} {row[self.step_key]}: {shown}", flush=True)


def _is_torchrun(part: str) -> bool:
    return Path(part).name == "torchrun" or part == "torch.distributed.run"


def exact_command() -> str:
    """The command line that started this job: torchrun's own when it launched us."""
    if "TORCHELASTIC_RUN_ID" in os.environ:
        try:
            raw = Path(f"/proc/{os.getppid()}/cmdline").read_bytes()
            parts = [p.decode() for p in raw.split(b"\0") if p]
            start = next(i for i, p in enumerate(parts) if _is_torchrun(p))
            return shlex.join(["torchrun", *parts[start + 1 :]])
        except (OSError, StopIteration, UnicodeDecodeError):
            pass
    return shlex.join([Path(sys.executable).name, "-m", "core.train", *sys.argv[1:]])


def run_params(spec: RunSpec, world, per_rank_batch: int) -> dict:
    """What the store keeps about a headless run beside the trainer's own params."""
    return {
        "run_json": to_dict(spec),
        "world_size": world.world_size,
        "per_rank_batch": per_rank_batch,
        "effective_batch": per_rank_batch * world.world_size,
        "device": world.device,
        "backend": world.backend if world.world_size > 1 else "none",
        "host": socket.gethostname(),
        "command": exact_command(),
        "max_restarts": int(os.environ.get("TORCHELASTIC_MAX_RESTARTS", "0")),
    }


def run_tags(world) -> dict:
    return {
        "device": world.device,
        "world_size": world.world_size,
        "launcher": "torchrun" if "TORCHELASTIC_RUN_ID" in os.environ else "python",
        "restarts": os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"),
    }


# ---- the two jobs -------------------------------------------------------------------


def per_rank_batch(batch: int, world_size: int) -> int:
    """Each rank's batch so that the effective batch stays the single-process one."""
    if batch < world_size:
        raise ConfigError(
            f"Batch size {batch} is smaller than the world size ({world_size} processes): "
            "each process needs at least one example per step."
        )
    return batch // world_size


def _rank_context(hooks: JobHooks, recorder: Recorder, step_key: str):
    from core.progress import QUIET

    return StoreContext(recorder, step_key) if hooks.is_main else QUIET


def _check_world(n_train: int, world, what: str) -> None:
    if n_train < world.world_size:
        raise ConfigError(
            f"The world size ({world.world_size} processes) is larger than the data "
            f"({n_train} training {what}): use fewer processes or more data."
        )


def run_cnn(spec: RunSpec, world, recorder: Recorder) -> dict:
    """Train the spec's CNN (the page's own trainer) under `world`; rank 0 records it as the
    page records a run (`core.vision.cnn`), with the distributed figures beside."""
    from core import distributed
    from core.vision import cnn, data, vision

    ds = load_images(spec.data, world.device)
    model_cfg, train_cfg = cnn_configs(spec, ds)
    splits = data.split(ds.y, train_cfg.seed)
    _check_world(len(splits[0]), world, "images")
    local_batch = per_rank_batch(train_cfg.batch_size, world.world_size)
    distributed.join(world)  # only now: a bad config or data fails without waiting for others
    hooks = JobHooks(world, jobs_dir() / spec.name, spec.fingerprint(), 1, train_cfg.epochs)
    request = cnn.Request(data=ds, model=model_cfg, train=train_cfg)
    ck = hooks.read()
    if hooks.is_main:
        params = cnn.run_params(request) | run_params(spec, world, local_batch)
        recorder.open("cnn", spec.name, params, run_tags(world), ck and ck.get("run_id"))
        hooks.run_id = recorder.run_id
        _note_run_id(hooks.folder, recorder.run_id)
    ctx = _rank_context(hooks, recorder, "epoch")
    local_cfg = dataclasses.replace(train_cfg, batch_size=local_batch)
    result = vision.train_classifier(ds, splits, model_cfg, local_cfg, ctx, hooks)
    if not hooks.is_main:
        return {}
    evaluation = vision.evaluate(result.model, ds, splits[2])
    summary = _cnn_summary(result, evaluation, hooks, local_batch)
    outcome = cnn.Outcome(
        request=request, splits=splits, result=result, evaluation=evaluation, waited_s=0.0
    )
    _record_cnn(recorder, cnn.run_record(outcome), summary, world)
    return summary


def _note_run_id(folder: Path, run_id: str | None) -> None:
    """Leave the store's run id in the job folder: a page following the job reads it there."""
    if run_id:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / RUN_ID_FILE).write_text(run_id)


def _cnn_summary(result, evaluation, hooks: JobHooks, local_batch: int) -> dict:
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


def _record_cnn(recorder: Recorder, run, summary: dict, world) -> None:
    """End the live run with what `core.vision.cnn` records for a page's run (the per-epoch
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


def run_gpt2(spec: RunSpec, world, recorder: Recorder) -> dict:
    """Train the spec's small GPT-2 (the chat page's own trainer); rank 0 saves it into
    models_dir() (the chat picker lists it) and records it as the page does
    (`textgen.gpt2_run`)."""
    from core import distributed
    from core.text import textgen

    text = load_text(spec.data)
    cfg = gpt2_config(spec)
    local_batch = per_rank_batch(cfg.batch_size, world.world_size)
    distributed.join(world)
    every = max(1, cfg.sample_every)
    hooks = JobHooks(world, jobs_dir() / spec.name, spec.fingerprint(), every, cfg.steps)
    hooks.min_shard = cfg.context + 2
    ck = hooks.read()
    if hooks.is_main:
        params = textgen.gpt2_run(cfg, world.device, [], None, "RUNNING").params
        params |= run_params(spec, world, local_batch)
        recorder.open("gpt2", spec.name, params, run_tags(world), ck and ck.get("run_id"))
        hooks.run_id = recorder.run_id
        _note_run_id(hooks.folder, recorder.run_id)
    ctx = _rank_context(hooks, recorder, "step")
    t0 = time.perf_counter()
    local_cfg = dataclasses.replace(cfg, batch_size=local_batch)
    folder = textgen.train_small_gpt2(text, local_cfg, world.device, ctx, hooks)
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
    run = textgen.gpt2_run(cfg, world.device, ctx.rows, folder, "FINISHED")
    numbers = {k: v for k, v in summary.items() if isinstance(v, int | float)}
    recorder.tag(**run.tags, resumed_from_step=hooks.resumed_from)
    recorder.finish(
        run.status,
        metrics=run.metrics | numbers,
        tables=run.tables,
        artifacts=run.artifacts,
    )
    return summary


# ---- commands for elsewhere, and a local check as a managed subprocess ---------------------


RDZV_PORT = 29400  # torchrun's usual rendezvous port
JOIN_TIMEOUT_S = 300  # nodes wait this long for each other, then torchrun exits non-zero
MAX_RESTARTS = 3  # a failed worker restarts the group this often, resuming from a checkpoint


def commands(
    kind: str,
    config: str = CONFIG_FILE,
    *,
    gpus: int = 1,
    nodes: int = 1,
    host: str = "HOST",
    name: str = "job",
) -> str:
    """The exact shell command(s) that run `config` on `nodes` machines with `gpus` each."""
    tail = ["-m", "core.train", kind, "--config", config]
    if nodes <= 1:
        return shlex.join(
            ["torchrun", "--nproc-per-node", str(gpus), "--max-restarts", str(MAX_RESTARTS), *tail]
        )
    return shlex.join([
        "torchrun", "--nnodes", str(nodes), "--nproc-per-node", str(gpus),
        "--rdzv-backend", "c10d", "--rdzv-endpoint", f"{host}:{RDZV_PORT}", "--rdzv-id", name,
        "--rdzv-conf", f"join_timeout={JOIN_TIMEOUT_S}", "--max-restarts", str(MAX_RESTARTS),
        *tail,
    ])  # fmt: skip


@dataclass
class LocalJob:
    """A `torchrun` check started on this machine, in its own process group."""

    name: str
    kind: str
    folder: Path
    process: Any  # subprocess.Popen
    command: str
    started: float = field(default_factory=time.time)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    def run_id(self) -> str | None:
        """The store's run, once rank 0 has opened it."""
        path = self.folder / RUN_ID_FILE
        if not path.exists():
            return None
        return path.read_text().strip() or None

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the job's stdout and stderr."""
        path = self.folder / LOG_FILE
        if not path.exists():
            return ""
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - chars))
            return f.read().decode("utf-8", "replace")

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM to the whole process group (torchrun and its workers), SIGKILL after
        `grace_s` seconds."""
        import subprocess

        if not self.running:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


_local_jobs: dict[str, LocalJob] = {}  # by job name: the server's checks, found again


def local_job(name: str) -> LocalJob | None:
    """The local check named `name` started by this server process, if any."""
    return _local_jobs.get(name)


def start_local(run_json: dict, nproc: int = 2) -> LocalJob:
    """Start `torchrun --nproc-per-node nproc -m core.train` on `run_json` here, on the CPU
    (gloo, one thread per process), logging into the job folder. ConfigError if run.json
    does not validate or a check of that name is still running."""
    import subprocess

    spec = spec_from_dict(run_json)
    held = _local_jobs.get(spec.name)
    if held is not None and held.running:
        raise ConfigError(f"A check named {spec.name!r} is running: stop it or rename the run.")
    folder = jobs_dir() / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / CONFIG_FILE
    config.write_text(json.dumps(to_dict(spec), indent=1))
    (folder / RUN_ID_FILE).unlink(missing_ok=True)  # the new run's id replaces it
    args = ["torchrun", "--nproc-per-node", str(nproc), "--max-restarts", "0"]
    args += ["-m", "core.train", spec.kind, "--config", str(config)]
    env = os.environ | {"OMP_NUM_THREADS": "1", "DASHBOARD_DEVICE": "cpu"}
    root = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    with (folder / LOG_FILE).open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", *args[1:]],
            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    job = LocalJob(
        name=spec.name, kind=spec.kind, folder=folder, process=process, command=shlex.join(args)
    )
    _local_jobs[spec.name] = job
    return job


# ---- the command ----------------------------------------------------------------------


class Terminated(Exception):
    """SIGTERM (Stop in the page, or torchrun ending the group)."""


_sigterm_seen: list[bool] = []  # set by the handler: a failure after it is a stop, not a bug


def _on_sigterm(signum, frame) -> None:
    _sigterm_seen.append(True)
    raise Terminated


def _last_attempt() -> bool:
    """True unless torchrun will restart this group after it ends."""
    restarts = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    return restarts >= int(os.environ.get("TORCHELASTIC_MAX_RESTARTS", "0"))


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m core.train",
        description="Train the dashboard's CNN or small GPT-2 headless; under torchrun with DDP.",
    )
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--config", required=True, help="run.json (see core/train/)")
    return parser.parse_args(argv)


def _run(args: argparse.Namespace, recorder: Recorder) -> int:
    from core import device as dev
    from core import distributed

    spec = load_spec(args.config)
    if spec.kind != args.kind:
        raise ConfigError(f"{args.config} describes a {spec.kind} run, not {args.kind}.")
    world = distributed.world_from_env(dev.choose_device())
    distributed.use_device(world)
    try:
        job = run_cnn if spec.kind == "cnn" else run_gpt2
        summary = job(spec, world, recorder)
        if world.is_main:
            (jobs_dir() / spec.name / CHECKPOINT).unlink(missing_ok=True)  # done: next is fresh
            print(json.dumps(summary | {"run_id": recorder.run_id}), flush=True)
    finally:
        distributed.shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command; its exit code (see the module docstring)."""
    from core import distributed

    args = _parse(argv)
    recorder = Recorder()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _run(args, recorder)
    except ValueError as err:  # ConfigError, and the trainers' checks of data and settings
        print(f"Config error: {err}", file=sys.stderr, flush=True)
        recorder.finish("FAILED")
        return EXIT_CONFIG
    except distributed.DistributedError as err:
        print(f"Distributed error: {err}", file=sys.stderr, flush=True)
        return EXIT_DISTRIBUTED
    except Exception as err:
        if isinstance(err, Terminated) or _sigterm_seen:  # a peer may fail first, mid-step
            print("Stopped (SIGTERM).", file=sys.stderr, flush=True)
            if _last_attempt():
                recorder.finish("KILLED")
            return 128 + signal.SIGTERM
        import traceback

        traceback.print_exc()
        if _last_attempt():
            recorder.finish("FAILED")
        return EXIT_FAILED
    finally:
        signal.signal(signal.SIGTERM, previous)
