"""The distributed wrapper the trainers run under `torchrun`: the process group (NCCL on
GPUs, gloo on the CPU, with a bounded timeout), DistributedDataParallel, each rank's shard of
the device-resident data, and `TrainHooks`, the points where a trainer lets a job step in.

A trainer called without hooks (the pages) gets `TrainHooks()`, whose every hook does
nothing: one process, no checkpoints. `core.train` passes its own subclass, `JobHooks`.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from dataclasses import dataclass

import torch
from torch import nn

TIMEOUT_ENV = "DASHBOARD_DIST_TIMEOUT_S"  # seconds a rank waits for the others
DEFAULT_TIMEOUT_S = 300.0


class DistributedError(RuntimeError):
    """The process group cannot be formed or used; the message says what to do."""


@dataclass(frozen=True, kw_only=True)
class World:
    """Where this process sits in the job."""

    rank: int = 0  # 0..world_size-1; rank 0 logs and saves
    world_size: int = 1  # processes in all, over every node
    local_rank: int = 0  # index on this node (its GPU)
    local_world_size: int = 1  # processes on this node
    device: str = "cpu"  # "cuda", "mps" or "cpu"; "cuda" means this rank's own GPU

    @property
    def is_main(self) -> bool:
        """True on rank 0, the one that logs, records and saves."""
        return self.rank == 0

    @property
    def backend(self) -> str:
        """NCCL between GPUs, gloo on the CPU."""
        return "nccl" if self.device == "cuda" else "gloo"


def launched_by_torchrun() -> bool:
    """True when the environment names more than one process (torchrun sets WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def timeout_s() -> float:
    """Seconds a rank waits for the others before giving up ($DASHBOARD_DIST_TIMEOUT_S)."""
    return float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_S)


def world_from_env(device: str) -> World:
    """The World that torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK...) describe."""
    env = os.environ
    return World(
        rank=int(env.get("RANK", "0")),
        world_size=int(env.get("WORLD_SIZE", "1")),
        local_rank=int(env.get("LOCAL_RANK", "0")),
        local_world_size=int(env.get("LOCAL_WORLD_SIZE", "1")),
        device=device,
    )


def use_device(world: World) -> None:
    """This rank's GPU as the default "cuda" device, or its share of the CPU threads."""
    if world.world_size == 1:
        return
    if world.device == "cuda":
        gpus = torch.cuda.device_count()
        if world.local_rank >= gpus:
            raise ValueError(
                f"{world.local_world_size} processes on this node but {gpus} GPU(s): use "
                f"--nproc-per-node {gpus}, or DASHBOARD_DEVICE=cpu for CPU processes."
            )
        torch.cuda.set_device(world.local_rank)
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world.local_world_size))


def join(world: World) -> None:
    """Join the process group torchrun describes (no-op for one process); DistributedError
    when the others do not answer within `timeout_s()`."""
    if world.world_size == 1:
        return
    seconds = timeout_s()
    timeout = dt.timedelta(seconds=seconds)
    try:
        store, rank, size = next(torch.distributed.rendezvous("env://", timeout=timeout))
        # torchrun may keep its store across restarts: keys of an earlier attempt (a dead
        # rank's address) must not be read by this one
        attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        store = torch.distributed.PrefixStore(f"dashboard/attempt_{attempt}/", store)
        torch.distributed.init_process_group(
            world.backend, store=store, rank=rank, world_size=size, timeout=timeout
        )
        torch.distributed.barrier()
    except Exception as err:  # the store and the backends raise several kinds
        first = (str(err).splitlines() or [""])[0][:200]
        raise DistributedError(
            f"Rank {world.rank} of {world.world_size} could not reach the others within "
            f"{seconds:g} s ({type(err).__name__}: {first}). Check that every node was "
            "started with the same --nnodes, --rdzv-endpoint and port, and that the port is "
            "open between them."
        ) from None


def shutdown() -> None:
    """Leave the process group, if this process joined one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def shard(x: torch.Tensor, world: World, contiguous: bool = False) -> torch.Tensor:
    """This rank's equal share of the 1-D tensor `x`: every world_size-th element (indices of
    class-ordered images), or one contiguous block (a token stream). At most world_size-1
    elements are left out so that every rank takes the same number of steps."""
    per_rank = len(x) // world.world_size
    if per_rank == 0:
        raise ValueError(
            f"The world size ({world.world_size} processes) is larger than the data "
            f"({len(x)} training items): use fewer processes or more data."
        )
    if contiguous:
        return x[world.rank * per_rank : (world.rank + 1) * per_rank]
    return x[: per_rank * world.world_size][world.rank :: world.world_size]


def wrap(model: nn.Module, world: World) -> nn.Module:
    """`model` in DistributedDataParallel (gradients averaged over the ranks)."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [world.local_rank] if world.device == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def sync_buffers(model: nn.Module) -> None:
    """Give every rank rank 0's buffers (batch-norm statistics drift apart in training)."""
    for buffer in model.buffers():
        torch.distributed.broadcast(buffer, 0)


def broadcast(obj, world: World):
    """Rank 0's `obj` on every rank (any picklable object)."""
    if world.world_size == 1:
        return obj
    box = [obj]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def barrier(world: World) -> None:
    """Wait until every rank gets here."""
    if world.world_size > 1:
        torch.distributed.barrier()


def snapshot(model: nn.Module) -> dict:
    """The model's weights as CPU copies that later steps do not change."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


class TrainHooks:
    """Where a trainer lets a job step in; every hook here does nothing (one process, no
    checkpoints). `core.train.checkpoints.JobHooks` overrides them for headless and
    distributed runs."""

    is_main = True  # this process logs and saves
    world_size = 1

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module the training steps call (DistributedDataParallel under torchrun)."""
        return model

    def shard(self, x: torch.Tensor, contiguous: bool = False) -> torch.Tensor:
        """This process's share of the training data (see `shard`)."""
        return x

    def sync(self, model: nn.Module) -> None:
        """Make every rank's copy identical before it is evaluated."""

    def resume(self, model, opt, sched, gen: torch.Generator, result=None) -> int:
        """Restore a checkpoint into the arguments; the epoch (or step) to start from."""
        return 0

    def best(self, model: nn.Module, result) -> tuple[float, dict, int]:
        """(best validation loss, its weights, epochs waited since) to start the loop with."""
        return math.inf, snapshot(model), 0

    def epoch_end(self, epoch: int, model, opt, sched, gen: torch.Generator, result=None) -> None:
        """Called after each epoch (0-based) or step (1-based) has been validated and logged."""
