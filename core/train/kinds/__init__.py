"""The kinds of job, one module each (`cnn`, `gpt2`), each with `check(spec)` (its model and
training fields) and `run(spec, world, recorder)` (its torchrun job); and what needs the
kind: run.json read and checked in full (`spec_from_dict`, `load_spec`) and made from a
page's settings (`run_config`, `cnn_run_config`, `gpt2_run_config`).

A kind's module, and with it torch and its tool, is imported the first time a spec of that
kind is checked or run, not when `core.train` is (`--help` and the commands need neither).
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from core.train.spec import IMAGE_SOURCES, RunSpec, job_name, parse_spec, read_json, to_dict

if TYPE_CHECKING:
    from core.distributed import World
    from core.train.recorder import Recorder


def kind_module(kind: str) -> ModuleType:
    """The module of `kind` (one of spec.KINDS), with its `check` and `run`."""
    return importlib.import_module(f"{__name__}.{kind}")


def spec_from_dict(raw: Any) -> RunSpec:
    """A RunSpec from parsed run.json; ConfigError saying what is wrong."""
    spec = parse_spec(raw)
    kind_module(spec.kind).check(spec)  # the model fields fail before any data load
    return spec


def load_spec(path: str | Path) -> RunSpec:
    """Read and check run.json at `path`."""
    return spec_from_dict(read_json(path))


def run(spec: RunSpec, world: World, recorder: Recorder) -> dict:
    """Run the spec's job on this rank; rank 0's summary (other ranks: {})."""
    return kind_module(spec.kind).run(spec, world, recorder)


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


def cnn_run_config(ds, model, train, name: str | None = None) -> dict:
    """run.json for the CNN page's data set `ds` and settings: a built-in or downloadable
    set by name, an upload as a zip whose path on the workers is still to be given."""
    known = ds.name in IMAGE_SOURCES
    source = {"source": ds.name} if known else {"source": "zip", "image_size": ds.shape[1]}
    name = name or job_name(f"{ds.name}-cnn")
    return run_config("cnn", name=name, data=source, model=model, train=train, seed=train.seed)


def gpt2_run_config(cfg, text_path: str | None = None) -> dict:
    """run.json for the chat page's own-GPT-2 settings: the built-in text (None) or a text
    file at `text_path` on the workers ("" until given)."""
    data = (
        {"source": "builtin-text"} if text_path is None else {"source": "text", "path": text_path}
    )
    return run_config("gpt2", name=cfg.name, data=data, model=cfg, seed=cfg.seed)
