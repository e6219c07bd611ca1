"""The data as the workers see them: a path on this machine's disk (`worker_path`), a folder
of class folders read as an upload's .zip (`zip_folder`), and each rank's share of the
batch and of the training set (`per_rank_batch`, `check_world`). The data sets themselves
are loaded by the kinds, with their tool's loaders.
"""

from __future__ import annotations

import io
import socket
import zipfile
from pathlib import Path

from core.train.spec import ConfigError


def worker_path(path: str) -> Path:
    """`path` on this machine; ConfigError when it is not given or does not exist here."""
    if not path:
        raise ConfigError('This data source needs a "path" in "data" (the file or folder).')
    found = Path(path).expanduser()
    if not found.exists():
        raise ConfigError(
            f"The data path {path} does not exist on this machine ({socket.gethostname()}): "
            'copy the data there or fix "data.path" in run.json.'
        )
    return found


def zip_folder(folder: Path) -> bytes:
    """A folder of class folders as an in-memory .zip, read by the same checks as uploads."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def per_rank_batch(batch: int, world_size: int) -> int:
    """Each rank's batch so that the effective batch stays the single-process one."""
    if batch < world_size:
        raise ConfigError(
            f"Batch size {batch} is smaller than the world size ({world_size} processes): "
            "each process needs at least one example per step."
        )
    return batch // world_size


def batch_warning(batch: int, n_train: int, what: str) -> str:
    """A warning when a batch of `batch` is larger than the `n_train` training `what`:
    every epoch is then one step over all of them, and a run of N epochs makes N steps
    (a batch of 4096 on the 1,257 digits trains a 17 % model in 15 epochs). "" otherwise."""
    if batch <= n_train:
        return ""
    hint = max(1, min(64, n_train // 10))
    return (
        f"Batch size {batch} is larger than the training set ({n_train:,} {what}): each "
        f"epoch is a single step over all {n_train:,}, so the model learns little per epoch. "
        f"A batch of about {hint} (a tenth of the data or less) trains far better."
    )


def check_world(n_train: int, world_size: int, what: str) -> None:
    """ConfigError when `world_size` processes cannot each get one of `n_train` `what`."""
    if n_train < world_size:
        raise ConfigError(
            f"The world size ({world_size} processes) is larger than the data "
            f"({n_train} training {what}): use fewer processes or more data."
        )
