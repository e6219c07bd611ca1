"""Commands for running a run.json elsewhere, and a check on this machine: `commands` (the
exact `torchrun` line for one machine with N GPUs, or for several nodes), `start_local`
(`torchrun --nproc-per-node 2` on the CPU as a managed subprocess in its own process group)
and `local_job` (that check found again by name, as a `LocalJob`).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.train.kinds import spec_from_dict
from core.train.spec import CONFIG_FILE, LOG_FILE, RUN_ID_FILE, ConfigError, to_dict

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


@dataclass(kw_only=True)
class LocalJob:
    """A `torchrun` check started on this machine, in its own process group."""

    name: str  # the run.json's name, and its job folder's
    kind: str  # "cnn" or "gpt2"
    folder: Path  # the job folder: run.json, the log, the run id, the checkpoint
    process: subprocess.Popen  # torchrun itself, the leader of the process group
    command: str  # the torchrun line, as a user would type it
    started: float = field(default_factory=time.time)  # seconds since the epoch

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
    spec = spec_from_dict(run_json)
    held = _local_jobs.get(spec.name)
    if held is not None and held.running:
        raise ConfigError(f"A check named {spec.name!r} is running: stop it or rename the run.")
    folder = spec.folder
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
