"""Checkpoints and the hooks a headless job hands the trainers: `JobHooks`, the
`core.distributed.TrainHooks` of a job, which wraps the model in DDP, gives each rank its
shard and writes a checkpoint every epoch (or every few steps) into the job's folder, from
which a restarted job resumes.

A checkpoint is one `torch.save` dict, written atomically (`save_atomic`): fingerprint,
done (epochs or steps), model, opt, sched, gen, torch_rng and run_id, plus for a CNN
history, best_state, best_loss, waited and best_epoch.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from core import distributed
from core.distributed import TrainHooks, World
from core.train.spec import CHECKPOINT, ConfigError

CRASH_ENV = "DASHBOARD_TEST_CRASH"  # tests: "RANK:COUNT:MARKER" -> that rank dies once


def save_atomic(obj: dict, target: Path) -> None:
    """torch.save to a temporary file beside `target`, then rename: never half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    torch.save(obj, partial)
    os.replace(partial, target)


def crash_point() -> tuple[int, int, Path] | None:
    """(rank, count, marker) from $DASHBOARD_TEST_CRASH, or None."""
    text = os.environ.get(CRASH_ENV)
    if not text:
        return None
    rank, count, marker = text.split(":", 2)
    return int(rank), int(count), Path(marker)


def best_index(result) -> int:
    """Index into `result.history` of the best epoch by the trainer's rule: the first lowest
    validation loss."""
    losses = [row.val_loss for row in result.history]
    return min(range(len(losses)), key=lambda i: (losses[i], i))


class JobHooks(TrainHooks):
    """The trainers' hooks for a headless job: DDP under torchrun, this rank's shard, a
    checkpoint every `every` epochs (or steps), resuming from the last one."""

    def __init__(
        self, world: World, folder: Path, fingerprint: str, every: int = 1, total: int = 0
    ) -> None:
        self.world, self.folder, self.fingerprint = world, folder, fingerprint
        self.every, self.total = every, total  # checkpoint period; last epoch/step (always saved)
        self.min_shard = 1  # fewest training items a rank may get (a GPT-2 needs a context)
        self.is_main, self.world_size = world.is_main, world.world_size
        self.resumed_from = 0  # epochs (or steps) done before this process started
        self.run_id: str | None = None  # the store's run, kept across restarts
        self._best: tuple[float, dict, int] | None = None  # the resumed loop's best so far
        self._best_state: dict | None = None  # weights of the best epoch, for the checkpoint

    @property
    def path(self) -> Path:
        """The checkpoint file."""
        return self.folder / CHECKPOINT

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        # one process needs no DDP; several average their gradients through it
        return distributed.wrap(model, self.world) if self.world_size > 1 else model

    def shard(self, x: torch.Tensor, contiguous: bool = False) -> torch.Tensor:
        part = distributed.shard(x, self.world, contiguous)
        # a shard too small to train on is the user's world size, not a bug
        if len(part) < self.min_shard:
            raise ConfigError(
                f"The world size ({self.world_size} processes) is too large for the data: each "
                f"process gets {len(part)} items and needs at least {self.min_shard}."
            )
        return part

    def sync(self, model: torch.nn.Module) -> None:
        if self.world_size > 1:
            distributed.sync_buffers(model)

    def read(self) -> dict | None:
        """Rank 0's checkpoint of this run, on every rank (None when there is none)."""
        found = None
        # rank 0 reads, so a node without the file resumes like the others
        if self.is_main and self.path.exists():
            found = torch.load(self.path, map_location="cpu", weights_only=False)
            # the same name with other settings must not resume a stranger's weights
            if found.get("fingerprint") != self.fingerprint:
                raise ConfigError(
                    f"{self.path} holds a checkpoint of a different run.json: give this run "
                    'another "name", or delete that folder to start over.'
                )
        return distributed.broadcast(found, self.world)

    def resume(self, model, opt, sched, gen: torch.Generator, result=None) -> int:
        """Load the last checkpoint into the arguments; the epoch (or step) to go on from."""
        ck = self.read()
        if ck is None:
            return 0
        # weights, optimizer moments and the schedule's position, as they were
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        if sched is not None and ck["sched"] is not None:
            sched.load_state_dict(ck["sched"])
        # the random streams too, so the resumed epochs draw the batches they would have
        gen.set_state(ck["gen"])
        torch.set_rng_state(ck["torch_rng"])
        # a CNN also goes on with its history, best epoch and patience
        if result is not None:
            result.history[:] = ck["history"]
            result.best_epoch = ck["best_epoch"]
            self._best_state = ck["best_state"]
            self._best = (ck["best_loss"], ck["best_state"], ck["waited"])
        self.resumed_from = ck["done"]
        return ck["done"]

    def best(self, model: torch.nn.Module, result) -> tuple[float, dict, int]:
        # after a restart the loop starts from the checkpoint's best, not from scratch
        if self._best is not None:
            return self._best
        return super().best(model, result)

    def epoch_end(self, epoch: int, model, opt, sched, gen: torch.Generator, result=None) -> None:
        """Checkpoint (rank 0), then wait until it is written on every rank."""
        done = epoch + 1 if result is not None else epoch  # epochs are 0-based, steps 1-based
        # the best weights are tracked every epoch: a checkpoint must carry them
        state = self._track_best(model, result) if result is not None else None
        # save every `every` epochs or steps, and always the last
        if done % self.every and done != self.total:
            return
        if self.is_main:
            self._save(done, model, opt, sched, gen, result, state)
        # no rank runs ahead of a checkpoint that a restart would go back to
        distributed.barrier(self.world)
        self._maybe_crash(done)

    def _track_best(self, model, result) -> tuple[float, int]:
        """(best validation loss, epochs since it); keeps the best epoch's weights."""
        best_i = best_index(result)
        if best_i == len(result.history) - 1:
            self._best_state = distributed.snapshot(model)
        return result.history[best_i].val_loss, len(result.history) - 1 - best_i

    def _save(self, done, model, opt, sched, gen, result, state) -> None:
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
            best_epoch = result.history[best_index(result)].epoch
            ck |= {"history": list(result.history), "best_state": self._best_state}
            ck |= {"best_loss": state[0], "waited": state[1], "best_epoch": best_epoch}
        save_atomic(ck, self.path)

    def _maybe_crash(self, done: int) -> None:
        """Tests: the named rank dies once, hard, after the named epoch's checkpoint."""
        point = crash_point()
        if point is None or point[0] != self.world.rank or point[1] != done or point[2].exists():
            return
        point[2].write_text(f"rank {self.world.rank} died after {done}\n")
        print(f"[test] rank {self.world.rank} exits after {done}", flush=True)
        os._exit(1)
