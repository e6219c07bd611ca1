"""run.json as types: `RunSpec` (kind, name, seed, model and train fields) and its `DataSpec`,
their structural checks (`parse_spec`), the job folder a spec names (`jobs_dir()/<name>`)
and the files in it, and `build_config`, which turns a JSON object into a config dataclass
with a message a user can act on. The model and training fields are checked by the run's
kind (`core.train.kinds`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IMAGE_SOURCES = ("digits", "MNIST", "Fashion-MNIST", "CIFAR-10", "zip", "folder")
TEXT_SOURCES = ("builtin-text", "text")
SOURCES = {"cnn": IMAGE_SOURCES, "gpt2": TEXT_SOURCES}  # the data each kind trains on
KINDS = tuple(SOURCES)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
# what a job's folder (RunSpec.folder) holds
CHECKPOINT = "checkpoint.pt"  # the last checkpoint (core.train.checkpoints), gone when done
RUN_ID_FILE = "run_id"  # the store's run, for pages following the job
CONFIG_FILE = "run.json"  # the run.json a local check runs
LOG_FILE = "job.log"  # a local check's stdout and stderr


class ConfigError(ValueError):
    """run.json or its data cannot be used; the message says what to fix."""


def jobs_dir() -> Path:
    """Where headless jobs keep their checkpoints: runs_dir()/jobs."""
    from core import paths

    return paths.runs_dir() / "jobs"


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
    name: str  # the job's folder under jobs_dir() and its run's name
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
        if self.data.source not in SOURCES[self.kind]:
            raise ConfigError(f"Data source {self.data.source!r} does not fit a {self.kind} run.")

    @property
    def folder(self) -> Path:
        """The job's folder: its checkpoint, its run id, a local check's run.json and log."""
        return jobs_dir() / self.name

    def fingerprint(self) -> str:
        """A short hash of the run's content: a checkpoint resumes only the same run."""
        text = json.dumps(to_dict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_config(cls: type, values: Any, where: str) -> Any:
    """`cls(**values)`, with unknown fields and failed checks as a ConfigError naming `where`."""
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


def parse_spec(raw: Any) -> RunSpec:
    """A RunSpec from parsed run.json, its structure checked (not yet its model fields)."""
    if not isinstance(raw, dict):
        raise ConfigError("run.json must hold one JSON object.")
    values = dict(raw)
    values["data"] = build_config(DataSpec, values.get("data", {}), "data")
    return build_config(RunSpec, values, "run.json")


def read_json(path: str | Path) -> Any:
    """The parsed JSON at `path`; ConfigError when it is missing or not JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"No config file at {path}.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path} is not readable JSON ({err}).") from None


def to_dict(spec: RunSpec) -> dict:
    """The RunSpec as run.json's object."""
    return dataclasses.asdict(spec)


def job_name(text: str) -> str:
    """`text` as a job name: letters, digits, dots, dashes, underscores."""
    name = re.sub(r"[^A-Za-z0-9_.]+", "-", text).strip("-.")[:80]
    return name or "job"
